/**
 * Owns the SQL for login attempts (migrations/0006): failures counted per account and per
 * client address in PostgreSQL, so all API replicas share one count.
 */
import type { Queryable } from '../db/pool.js';

export interface LoginLimits {
  /** Failures per account or per address in the window after which logins are refused. */
  maxFailures: number;
  windowSeconds: number;
}

/** An attempt that may go on (`attemptId`), or a refusal with the seconds to wait. */
export type LoginAttempt = { attemptId: string; retryAfterSeconds: 0 } | { attemptId: null; retryAfterSeconds: number };

/** Records the attempt as a failure up front, unless the limit is reached (see the SQL function). */
export async function beginLoginAttempt(c: Queryable, account: string, ip: string, limits: LoginLimits): Promise<LoginAttempt> {
  const r = await c.query<{ attempt_id: string | null; retry_after_seconds: number }>(
    'SELECT attempt_id, retry_after_seconds FROM baygate_login_attempt_begin($1, $2, $3, $4)',
    [account, ip, limits.maxFailures, limits.windowSeconds],
  );
  const row = r.rows[0]!;
  return row.attempt_id === null
    ? { attemptId: null, retryAfterSeconds: row.retry_after_seconds }
    : { attemptId: row.attempt_id, retryAfterSeconds: 0 };
}

/** The password was right: the attempt no longer counts as a failure. */
export async function loginAttemptSucceeded(c: Queryable, attemptId: string): Promise<void> {
  await c.query('SELECT baygate_login_attempt_succeeded($1)', [attemptId]);
}

/**
 * Deletes up to `limit` attempts older than any login window (a day, the longest
 * LOGIN_WINDOW_SECONDS accepts); the SQL function decides the age, not the caller
 * (migrations/0020_bounded_intake.sql). For ingest's bookkeeping job.
 */
export async function deleteExpiredLoginAttempts(c: Queryable, limit: number): Promise<number> {
  const r = await c.query<{ n: number }>('SELECT baygate_login_attempts_prune($1) AS n', [limit]);
  return r.rows[0]!.n;
}
