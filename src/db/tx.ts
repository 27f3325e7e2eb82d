/**
 * Owns transactions: every runtime query runs inside one, with the tenant (and user) it
 * acts for set transaction-locally, which is what the RLS policies read.
 */
import type { Pool, PoolClient } from './pool.js';
import { isRetryable, translatePgError } from './errors.js';

export interface TxScope {
  tenantId?: string | null;
  userId?: string | null;
}

/** Serialization failures and deadlocks are retried this many times before giving up. */
const MAX_ATTEMPTS = 3;

export async function withTx<T>(pool: Pool, scope: TxScope, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw translatePgError(err);
    }
    let broken = false;
    try {
      // BEGIN and the settings in one round trip: a simple-protocol query may hold several
      // statements but no bound parameters, so the values are quoted by the driver.
      await client.query(
        `BEGIN; SELECT set_config('baygate.tenant_id', ${client.escapeLiteral(scope.tenantId ?? '')}, true),` +
          ` set_config('baygate.user_id', ${client.escapeLiteral(scope.userId ?? '')}, true)`,
      );
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true; // the connection itself failed; do not return it to the pool
      }
      if (isRetryable(err) && attempt < MAX_ATTEMPTS) continue;
      throw translatePgError(err);
    } finally {
      client.release(broken);
    }
  }
}

/** Switches the tenant inside an open transaction (ingest applies one batch across tenants). */
export async function setTenant(client: PoolClient, tenantId: string): Promise<void> {
  await client.query(`SELECT set_config('baygate.tenant_id', $1, true)`, [tenantId]);
}

/**
 * A bare transaction for batch writers that set the tenant themselves as they go (ingest,
 * the webhook spool) and must see the database's own errors to tell an outage from a bad
 * message: no tenant setting, no retry, no translation.
 */
export async function withRawTx<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  let broken = false;
  try {
    await c.query('BEGIN');
    const r = await fn(c);
    await c.query('COMMIT');
    return r;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {
      broken = true; // the connection itself failed; do not return it to the pool
    });
    throw err;
  } finally {
    c.release(broken);
  }
}
