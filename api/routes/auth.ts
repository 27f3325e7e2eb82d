/**
 * Auth routes, with the paths and fields of the platform baygate replaces: register,
 * login (OAuth2 password form or JSON), refresh with rotation, logout, me.
 */
import { randomUUID } from 'node:crypto';
import { checkPassword, hashPassword } from '../../src/auth/passwords.js';
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { TooManyRequestsError, UnauthorizedError } from '../../src/errors.js';
import { signAccessToken, signRefreshToken, verifyRefreshToken, type TokenSettings } from '../../src/auth/tokens.js';
import { findLoginPrincipal, insertMembership, insertUser, loginLookup, userJson, type Principal } from '../../src/storage/users.js';
import { insertTenant } from '../../src/storage/tenants.js';
import { insertSite } from '../../src/storage/sites.js';
import { consumeRefreshToken, insertRefreshToken, insertSession, revokeSession } from '../../src/storage/sessions.js';
import type { Queryable } from '../../src/db/pool.js';
import { beginLoginAttempt, loginAttemptSucceeded, type LoginLimits } from '../../src/storage/login-attempts.js';
import type { RouteDef } from './route.js';
import { userSchema } from './users.js';

export interface AuthDeps {
  pool: Pool;
  tokens: TokenSettings;
  bcryptRounds: number;
  /** Brute-force limits on login (LOGIN_MAX_FAILURES, LOGIN_WINDOW_SECONDS). */
  loginLimits: LoginLimits;
}

const email = { type: 'string', format: 'email', maxLength: 320 } as const;
const password = { type: 'string', minLength: 8, maxLength: 72, description: 'At most 72 bytes in UTF-8, all of which count (src/auth/passwords.ts)' } as const;

const registerBody = {
  type: 'object',
  required: ['email', 'password', 'username', 'tenant_name', 'tenant_slug'],
  properties: {
    email,
    password,
    username: { type: 'string', minLength: 1, maxLength: 100 },
    tenant_name: { type: 'string', minLength: 1, maxLength: 200 },
    tenant_slug: { type: 'string', pattern: '^[a-z0-9-]+$', minLength: 1, maxLength: 63 },
  },
} as const;

// OAuth2 password form sends the email as `username`; JSON clients send `email`.
const loginBody = {
  type: 'object',
  required: ['password'],
  properties: {
    email: { type: 'string', maxLength: 320 },
    username: { type: 'string', maxLength: 320 },
    password: { type: 'string', maxLength: 256 },
    tenant_slug: { type: 'string', maxLength: 63 },
  },
  anyOf: [{ required: ['email'] }, { required: ['username'] }],
} as const;

const refreshBody = {
  type: 'object',
  required: ['refresh_token'],
  properties: { refresh_token: { type: 'string', maxLength: 4096 } },
} as const;

export const tokenResponse = {
  type: 'object',
  required: ['access_token', 'refresh_token', 'token_type', 'expires_in', 'user'],
  properties: {
    access_token: { type: 'string' },
    refresh_token: { type: 'string' },
    token_type: { const: 'bearer' },
    expires_in: { type: 'integer' },
    user: userSchema,
  },
} as const;

async function issueTokens(c: Queryable, deps: AuthDeps, p: Omit<Principal, 'sessionId'>, sessionId: string) {
  const claims = { sub: p.userId, tid: p.tenantId, sid: sessionId };
  const jti = randomUUID();
  const access = signAccessToken(deps.tokens, claims);
  const refresh = signRefreshToken(deps.tokens, claims, jti);
  await insertRefreshToken(c, { id: jti, tenantId: p.tenantId, sessionId, expiresAt: refresh.expiresAt });
  return {
    access_token: access.token,
    refresh_token: refresh.token,
    token_type: 'bearer',
    expires_in: access.expiresIn,
    user: userJson(p),
  };
}

async function newSession(c: Queryable, deps: AuthDeps, p: Omit<Principal, 'sessionId'>) {
  const sessionId = randomUUID();
  await insertSession(c, { id: sessionId, tenantId: p.tenantId, userId: p.userId });
  return issueTokens(c, deps, p, sessionId);
}

export function authRoutes(deps: AuthDeps): RouteDef[] {
  return [
    {
      method: 'post',
      path: '/api/auth/register',
      summary: 'Create a tenant and its owner; returns tokens',
      tag: 'auth',
      auth: false,
      body: registerBody,
      status: 201,
      response: tokenResponse,
      handler: async (_ctx, { body }) => {
        const b = body as { email: string; password: string; username: string; tenant_name: string; tenant_slug: string };
        const passwordHash = await hashPassword(b.password, deps.bcryptRounds);
        const userId = randomUUID();
        const tenantId = randomUUID();
        return withTx(deps.pool, { tenantId, userId }, async (c) => {
          await insertTenant(c, { id: tenantId, name: b.tenant_name, slug: b.tenant_slug });
          await insertUser(c, { id: userId, email: b.email, username: b.username, passwordHash });
          await insertMembership(c, { tenantId, userId, role: 'owner' });
          await insertSite(c, tenantId, { name: 'Default site', is_default: true });
          const p = await findLoginPrincipal(c, userId, { slug: b.tenant_slug });
          return newSession(c, deps, p!);
        });
      },
    },
    {
      method: 'post',
      path: '/api/auth/login',
      summary: 'Log in with email and password (OAuth2 password form or JSON)',
      tag: 'auth',
      auth: false,
      body: loginBody,
      response: tokenResponse,
      handler: async (ctx, { body }) => {
        const b = body as { email?: string; username?: string; password: string; tenant_slug?: string };
        const login = (b.email ?? b.username ?? '').trim();
        // Brute-force guard (OWASP API2): checked before the password, so during a lockout
        // even the right password waits. The attempt is counted as a failure up front and
        // forgiven below once the password proves right. ctx.ip is the socket's address, or
        // with TRUST_PROXY_HOPS the address the trusted proxies saw (api/app.ts), never what
        // the client writes into X-Forwarded-For itself.
        const attempt = await withTx(deps.pool, {}, (c) => beginLoginAttempt(c, login.toLowerCase(), ctx.ip, deps.loginLimits));
        if (attempt.attemptId === null) {
          throw new TooManyRequestsError('Too many failed logins; try again later', attempt.retryAfterSeconds);
        }
        const user = await withTx(deps.pool, {}, (c) => loginLookup(c, login));
        // An unknown email is checked against a stand-in of the same cost: no timing hint.
        const ok = await checkPassword(b.password, user?.password_hash ?? null, deps.bcryptRounds);
        // One answer for a wrong email and a wrong password: no hint which part was wrong.
        if (!user || !ok) throw new UnauthorizedError('Incorrect email or password');
        return withTx(deps.pool, { userId: user.id }, async (c) => {
          const p = await findLoginPrincipal(c, user.id, { slug: b.tenant_slug });
          if (!p) throw new UnauthorizedError('Incorrect email or password');
          await loginAttemptSucceeded(c, attempt.attemptId);
          await c.query(`SELECT set_config('baygate.tenant_id', $1, true)`, [p.tenantId]);
          return newSession(c, deps, p);
        });
      },
    },
    {
      method: 'post',
      path: '/api/auth/refresh',
      summary: 'Exchange a refresh token for a new token pair (the old one is revoked)',
      tag: 'auth',
      auth: false,
      body: refreshBody,
      response: tokenResponse,
      handler: async (_ctx, { body }) => {
        const claims = verifyRefreshToken(deps.tokens, (body as { refresh_token: string }).refresh_token);
        const scope = { tenantId: claims.tid, userId: claims.sub };
        const outcome = await withTx(deps.pool, scope, async (c) => {
          const consumed = await consumeRefreshToken(c, claims.jti, claims.sid);
          if (consumed === 'reused') {
            // A rotated token came back: someone holds a copy. End the whole family.
            await revokeSession(c, claims.sid, 'refresh_token_reuse');
            return null;
          }
          if (consumed !== 'ok') return null;
          const principal = await findLoginPrincipal(c, claims.sub, { id: claims.tid });
          if (!principal) return null;
          return issueTokens(c, deps, principal, claims.sid);
        });
        if (!outcome) throw new UnauthorizedError('Invalid refresh token');
        return outcome;
      },
    },
    {
      method: 'post',
      path: '/api/auth/logout',
      summary: 'End this session: its refresh and access tokens stop working',
      tag: 'auth',
      auth: 'viewer',
      // No fields: the session is the one the access token names.
      body: { type: 'object', properties: {} },
      response: { type: 'object', required: ['status'], properties: { status: { const: 'ok' } } },
      handler: async (_ctx, { principal }) => {
        await withTx(deps.pool, { tenantId: principal.tenantId, userId: principal.userId }, (c) =>
          revokeSession(c, principal.sessionId, 'logout'),
        );
        return { status: 'ok' };
      },
    },
    {
      method: 'get',
      path: '/api/auth/me',
      summary: 'The current user, tenant and role',
      tag: 'auth',
      auth: 'viewer',
      response: userSchema,
      handler: async (_ctx, { principal }) => userJson(principal),
    },
  ];
}
