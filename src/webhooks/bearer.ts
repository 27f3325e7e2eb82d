/**
 * Owns the static-header credential of inbound webhooks: `Authorization: Bearer <secret>`,
 * the tenant's inbound secret as ChirpStack's HTTP integration can send it. ChirpStack adds
 * only the headers an admin typed into the integration (`HttpIntegration.headers`,
 * api/proto/api/application.proto; chirpstack/src/integration/http.rs post_event), so it
 * cannot sign a body; a signing proxy still uses src/webhooks/signature.ts.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * `Bearer <token>`: the scheme name is case-insensitive (RFC 9110 §11.1), one or more spaces
 * before the token (RFC 9110 §11.4, credentials = auth-scheme [ 1*SP token68 ]), the token
 * itself a b64token (RFC 6750 §2.1), which every secret from newSecret() is.
 */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** The token of an Authorization header, or undefined when it is not a Bearer credential. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  return BEARER.exec(header)?.[1];
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Whether `token` equals one of `secrets`. Both sides are hashed first so the comparison is
 * over equal lengths (crypto.timingSafeEqual refuses unequal ones, and a length check would
 * say how long the secret is), and every secret is compared, without an early exit, so the
 * time taken does not depend on which secret matched or where the first difference lies.
 */
export function verifyBearer(token: string, secrets: readonly string[]): boolean {
  const given = digest(token);
  let match = false;
  for (const secret of secrets) if (timingSafeEqual(digest(secret), given)) match = true;
  return match;
}
