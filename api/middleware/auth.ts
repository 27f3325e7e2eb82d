/**
 * Authenticates requests: koa-jwt verifies the bearer token (HS256 only; the token may
 * also come as ?access_token= because browsers' EventSource cannot set headers), then
 * the session, user and membership are checked in the database on every request, so a
 * logout, a removed membership or a deleted user takes effect at once.
 */
import type { Context, Next } from 'koa';
import koaJwt from 'koa-jwt';
import type { Pool } from '../../src/db/pool.js';
import { translatePgError } from '../../src/db/errors.js';
import { UnauthorizedError } from '../../src/errors.js';
import { asAccessClaims, hmacKey, JWT_ALGORITHM } from '../../src/auth/tokens.js';
import { findSessionPrincipal, type Principal } from '../../src/storage/users.js';

export type { Principal };

function tokenFrom(ctx: Context): string | null {
  const header = ctx.get('authorization');
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (m) return m[1]!;
  const q = ctx.query.access_token;
  return typeof q === 'string' && q.length > 0 ? q : null;
}

export function authenticate(deps: { pool: Pool; jwtSecret: string }) {
  const verify = koaJwt({
    // koa-jwt hands the secret to jsonwebtoken, which takes a KeyObject; koa-jwt's types
    // predate that (see hmacKey for why the key is not a string).
    secret: hmacKey(deps.jwtSecret) as unknown as string,
    algorithms: [JWT_ALGORITHM],
    getToken: tokenFrom,
    key: 'jwt',
  });
  return async function auth(ctx: Context, next: Next): Promise<void> {
    await verify(ctx, async () => {
      const claims = asAccessClaims(ctx.state.jwt);
      const principal = await findSessionPrincipal(deps.pool, claims).catch((err) => {
        throw translatePgError(err);
      });
      if (!principal) throw new UnauthorizedError('Session is no longer valid');
      ctx.state.principal = principal;
      await next();
    });
  };
}
