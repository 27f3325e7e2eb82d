/**
 * Owns PostgreSQL connections. Runtime pools connect as DATABASE_URL's user and switch,
 * at connection start-up, to a role that Row-Level Security binds, so a superuser URL
 * (the embedded default is one) never bypasses tenant isolation.
 */
import pg from 'pg';
import type { Logger } from '../log.js';

/** API requests run as baygate_app; ingest and its jobs as baygate_ingest (see migrations/0001). */
export type RuntimeRole = 'baygate_app' | 'baygate_ingest';

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/**
 * Type parsers for this project's pools only (not pg's global defaults): bigint ids and
 * counts are below 2^53, so numbers serialise as JSON numbers, as clients expect.
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  },
};

export interface PoolOptions {
  max: number;
  log: Logger;
  /** Name shown in pg_stat_activity. */
  applicationName: string;
}

function attachErrorLog(pool: pg.Pool, log: Logger): pg.Pool {
  // An idle client's error (server restart, network cut) is emitted on the pool; without a
  // listener Node would crash the process. The pool drops the client and makes a new one.
  pool.on('error', (err) => log.warn({ err: err.message }, 'idle database connection lost'));
  // A connection lost while checked out (between two queries of a transaction) emits on the
  // client itself; the query in flight, if any, rejects and the caller handles that.
  pool.on('connect', (client) => client.on('error', (err) => log.warn({ err: err.message }, 'database connection lost')));
  return pool;
}

export function createRuntimePool(databaseUrl: string, role: RuntimeRole, opts: PoolOptions): pg.Pool {
  return attachErrorLog(
    new pg.Pool({
      connectionString: databaseUrl,
      max: opts.max,
      application_name: opts.applicationName,
      // `role` is a settable GUC: as a start-up option it is the same as SET ROLE before
      // the first query, with no window in which a query could run as the login user.
      options: `-c role=${role}`,
      types,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
    }),
    opts.log,
  );
}

/** The owner pool runs migrations and test setup only: never request-time queries. */
/**
 * Refuses to serve from a runtime pool whose connections Row-Level Security does not bind:
 * a superuser or BYPASSRLS role sees every tenant. It happens when the role switch above did
 * not take effect, e.g. behind PgBouncer with `ignore_startup_parameters = options`, which
 * drops the start-up option silently (issue 19 §6, issue 20).
 */
export async function assertRlsBinds(pool: pg.Pool): Promise<void> {
  const r = await pool.query<{ role: string; super: boolean; bypass: boolean }>(
    `SELECT current_user AS role, rolsuper AS super, rolbypassrls AS bypass FROM pg_roles WHERE rolname = current_user`,
  );
  const row = r.rows[0];
  if (!row || row.super || row.bypass) {
    throw new Error(
      `the database connection runs as ${row?.role ?? 'an unknown role'}, which bypasses Row-Level Security: the switch to the runtime role ` +
        `(start-up option role=…) did not take effect; a connection pooler must pass it on, or connect as a role without SUPERUSER and BYPASSRLS`,
    );
  }
}

export function createOwnerPool(databaseUrl: string, opts: PoolOptions): pg.Pool {
  return attachErrorLog(
    new pg.Pool({
      connectionString: databaseUrl,
      max: opts.max,
      application_name: opts.applicationName,
      types,
      connectionTimeoutMillis: 5_000,
    }),
    opts.log,
  );
}

export type Queryable = Pick<pg.PoolClient, 'query'>;
export type { Pool, PoolClient } from 'pg';
