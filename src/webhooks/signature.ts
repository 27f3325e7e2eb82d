/**
 * Owns the webhook signature scheme, the same both ways (ChirpStack → baygate, baygate →
 * subscribers): `X-Baygate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over the string
 * `<t>.<raw body>`, the scheme Stripe documents ("Verify manually"), which binds the
 * timestamp to the body so a captured request cannot be replayed outside the tolerance.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-baygate-signature';

/** Requests signed more than this far from our clock are refused (replay window). */
export const SIGNATURE_TOLERANCE_SECONDS = 5 * 60;

/** 32 random bytes: the HMAC-SHA256 key length that RFC 2104 §3 recommends (the hash output size). */
const SECRET_BYTES = 32;

export function newSecret(): string {
  return `whsec_${randomBytes(SECRET_BYTES).toString('base64url')}`;
}

function hmac(secret: string, t: number, body: Buffer): Buffer {
  return createHmac('sha256', secret).update(`${t}.`).update(body).digest();
}

export function signatureHeader(secret: string, body: Buffer, now: Date = new Date()): string {
  const t = Math.floor(now.getTime() / 1000);
  return `t=${t},v1=${hmac(secret, t, body).toString('hex')}`;
}

export type VerifyFailure = 'missing' | 'malformed' | 'stale' | 'mismatch';

const HEX_SHA256 = /^[0-9a-f]{64}$/;

/**
 * Checks a signature header against any of `secrets` (during rotation two are valid).
 * Every v1 given is compared in constant time (crypto.timingSafeEqual) against every secret.
 */
export function verifySignature(
  header: string | undefined,
  body: Buffer,
  secrets: readonly string[],
  now: Date = new Date(),
): { ok: true } | { ok: false; reason: VerifyFailure } {
  if (!header) return { ok: false, reason: 'missing' };
  let t: number | null = null;
  const v1: Buffer[] = [];
  for (const part of header.split(',')) {
    const [k, v] = part.trim().split('=', 2) as [string, string | undefined];
    if (k === 't' && v && /^\d{1,12}$/.test(v)) t = Number(v);
    else if (k === 'v1' && v && HEX_SHA256.test(v)) v1.push(Buffer.from(v, 'hex'));
  }
  if (t === null || v1.length === 0) return { ok: false, reason: 'malformed' };
  if (Math.abs(now.getTime() / 1000 - t) > SIGNATURE_TOLERANCE_SECONDS) return { ok: false, reason: 'stale' };
  let match = false;
  for (const secret of secrets) {
    const expected = hmac(secret, t, body);
    // No early exit: the time taken does not depend on which secret or signature matched.
    for (const given of v1) if (timingSafeEqual(expected, given)) match = true;
  }
  return match ? { ok: true } : { ok: false, reason: 'mismatch' };
}
