/**
 * Owns the SQL for the webhook spool: ChirpStack events accepted over HTTP, waiting to be
 * applied by ingest (ingest/jobs/process-webhook-spool.ts).
 */
import type { Queryable } from '../db/pool.js';
import { WEBHOOK_SPOOL_CHANNEL } from '../events.js';

export const SPOOL_EVENTS = ['up', 'status', 'join', 'ack', 'txack', 'log'] as const;
export type SpoolEvent = (typeof SPOOL_EVENTS)[number];

export interface SpoolRow {
  id: number;
  tenant_id: string;
  event: SpoolEvent;
  payload: Buffer;
  attempts: number;
}

/**
 * Spools one tenant's events in one statement, in the order given, and wakes the worker (the
 * NOTIFY is delivered at commit). The caller has set the tenant (RLS checks every row).
 */
export async function spoolEvents(c: Queryable, tenantId: string, rows: { event: SpoolEvent; payload: Buffer }[]): Promise<void> {
  if (rows.length === 0) return;
  await c.query(
    `INSERT INTO webhook_spool (tenant_id, event, payload)
     SELECT $1, x.event, x.payload FROM unnest($2::text[], $3::bytea[]) WITH ORDINALITY AS x(event, payload, n) ORDER BY x.n`,
    [tenantId, rows.map((r) => r.event), rows.map((r) => r.payload)],
  );
  await c.query(`SELECT pg_notify($1, '')`, [WEBHOOK_SPOOL_CHANNEL]);
}

/** Tenants with due rows (the ingest role reads every tenant's spool). */
export async function tenantsWithDueRows(c: Queryable): Promise<string[]> {
  const r = await c.query<{ tenant_id: string }>(
    `SELECT DISTINCT tenant_id FROM webhook_spool WHERE next_attempt_at <= now() ORDER BY tenant_id`,
  );
  return r.rows.map((x) => x.tenant_id);
}

/**
 * Locks up to `limit` due rows of a tenant, oldest first. SKIP LOCKED: rows another worker
 * holds are left to it, so two ingest replicas never apply the same row.
 */
export async function claimDueRows(c: Queryable, tenantId: string, limit: number): Promise<SpoolRow[]> {
  const r = await c.query<SpoolRow>(
    `SELECT id, tenant_id, event, payload, attempts FROM webhook_spool
      WHERE tenant_id = $1 AND next_attempt_at <= now()
      ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`,
    [tenantId, limit],
  );
  return r.rows;
}

export async function deleteSpoolRows(c: Queryable, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await c.query(`DELETE FROM webhook_spool WHERE id = ANY($1::bigint[])`, [ids]);
}

/** Records a failed attempt; the row is due again after `delaySeconds`. */
export async function deferSpoolRow(c: Queryable, id: number, delaySeconds: number, error: string): Promise<void> {
  await c.query(
    `UPDATE webhook_spool SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2), last_error = $3
      WHERE id = $1`,
    [id, delaySeconds, error.slice(0, 2000)],
  );
}
