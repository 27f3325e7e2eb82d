/**
 * Owns the SQL for auth sessions and their refresh tokens. A refresh token is single-use:
 * rotating marks it used, and presenting a used one again revokes its whole session
 * (refresh-token reuse detection, OAuth 2.0 Security BCP, RFC 9700 §4.14.2).
 */
import type { Queryable } from '../db/pool.js';

export async function insertSession(c: Queryable, s: { id: string; tenantId: string; userId: string }): Promise<void> {
  await c.query('INSERT INTO auth_sessions (id, tenant_id, user_id) VALUES ($1, $2, $3)', [s.id, s.tenantId, s.userId]);
}

export async function insertRefreshToken(
  c: Queryable,
  r: { id: string; tenantId: string; sessionId: string; expiresAt: Date },
): Promise<void> {
  await c.query('INSERT INTO refresh_tokens (id, tenant_id, session_id, expires_at) VALUES ($1, $2, $3, $4)', [
    r.id,
    r.tenantId,
    r.sessionId,
    r.expiresAt,
  ]);
}

export type ConsumeResult = 'ok' | 'reused' | 'invalid';

/** Marks a refresh token used, if it is live; tells reuse of an already-used one apart. */
export async function consumeRefreshToken(c: Queryable, jti: string, sessionId: string): Promise<ConsumeResult> {
  const r = await c.query<{ used_before: boolean; live: boolean }>(
    `WITH t AS (SELECT id, used_at FROM refresh_tokens WHERE id = $1 AND session_id = $2 FOR UPDATE)
     UPDATE refresh_tokens rt SET used_at = coalesce(rt.used_at, now())
       FROM t, auth_sessions s
      WHERE rt.id = t.id AND s.id = rt.session_id
     RETURNING t.used_at IS NOT NULL AS used_before,
               (s.revoked_at IS NULL AND rt.expires_at > now()) AS live`,
    [jti, sessionId],
  );
  const row = r.rows[0];
  if (!row) return 'invalid';
  if (row.used_before) return 'reused';
  return row.live ? 'ok' : 'invalid';
}

export async function revokeSession(c: Queryable, sessionId: string, reason: string): Promise<void> {
  await c.query(
    'UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL',
    [sessionId, reason],
  );
}
