/**
 * Owns JSON Web Tokens: HS256 only (RFC 7518 §3.2), access and refresh tokens told
 * apart by `typ`, each bound to a session (`sid`) that logout or refresh-token reuse revokes.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { UnauthorizedError } from '../errors.js';

export const JWT_ALGORITHM = 'HS256' as const;

export interface SessionClaims {
  /** user id */
  sub: string;
  /** tenant id the token acts for */
  tid: string;
  /** auth session (refresh-token family) id */
  sid: string;
}

export interface AccessClaims extends SessionClaims {
  typ: 'access';
}

export interface RefreshClaims extends SessionClaims {
  typ: 'refresh';
  jti: string;
}

export interface TokenSettings {
  jwtSecret: string;
  accessTokenMinutes: number;
  refreshTokenDays: number;
}

/**
 * The HMAC key as a KeyObject. Given a plain string, jsonwebtoken first tries to parse it
 * as a PEM public or private key and only falls back to a secret key when that throws
 * (jsonwebtoken 9, verify.js and sign.js): that failed parse was a quarter of the API's
 * CPU time per request in bench:reservations.
 */
export function hmacKey(secret: string): KeyObject {
  return createSecretKey(Buffer.from(secret, 'utf8'));
}

export function signAccessToken(s: TokenSettings, claims: SessionClaims): { token: string; expiresIn: number } {
  const expiresIn = s.accessTokenMinutes * 60;
  const token = jwt.sign({ ...claims, typ: 'access' }, hmacKey(s.jwtSecret), { algorithm: JWT_ALGORITHM, expiresIn });
  return { token, expiresIn };
}

export function signRefreshToken(s: TokenSettings, claims: SessionClaims, jti: string): { token: string; expiresAt: Date } {
  const expiresIn = s.refreshTokenDays * 24 * 3600;
  const token = jwt.sign({ ...claims, typ: 'refresh' }, hmacKey(s.jwtSecret), { algorithm: JWT_ALGORITHM, expiresIn, jwtid: jti });
  return { token, expiresAt: new Date(Date.now() + expiresIn * 1000) };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function hasSessionClaims(p: Record<string, unknown>): boolean {
  return [p.sub, p.tid, p.sid].every((v) => typeof v === 'string' && UUID.test(v));
}

/** Checks a verified access-token payload carries what a request needs. */
export function asAccessClaims(payload: unknown): AccessClaims {
  const p = (payload ?? {}) as Record<string, unknown>;
  if (p.typ !== 'access' || !hasSessionClaims(p)) throw new UnauthorizedError('Invalid token');
  return p as unknown as AccessClaims;
}

export function verifyRefreshToken(s: TokenSettings, token: string): RefreshClaims {
  let payload: unknown;
  try {
    payload = jwt.verify(token, hmacKey(s.jwtSecret), { algorithms: [JWT_ALGORITHM] });
  } catch {
    throw new UnauthorizedError('Invalid refresh token');
  }
  const p = payload as Record<string, unknown>;
  if (p.typ !== 'refresh' || !hasSessionClaims(p) || typeof p.jti !== 'string' || !UUID.test(p.jti)) {
    throw new UnauthorizedError('Invalid refresh token');
  }
  return p as unknown as RefreshClaims;
}
