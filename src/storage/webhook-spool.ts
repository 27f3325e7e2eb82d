/**
 * Owns the SQL for the webhook spool: ChirpStack events accepted over HTTP, waiting to be
 * applied by ingest (ingest/jobs/process-webhook-spool.ts).
 */
import type { Queryable } from '../db/pool.js';
import { WEBHOOK_SPOOL_CHANNEL } from '../events.js';

/**
 * The ChirpStack event kinds baygate applies, so the API spools them (the CHECK of
 * migration 0021 holds the same list). Other kinds ChirpStack posts are answered and counted
 * by the API, never stored (api/routes/webhooks-inbound.ts).
 */
export const SPOOL_EVENTS = ['up', 'status', 'join', 'ack', 'txack', 'log', 'location'] as const;
export type SpoolEvent = (typeof SPOOL_EVENTS)[number];

/**
 * How the payload is encoded: ChirpStack's HTTP integration sends `application/json` or, with
 * its Protobuf encoding, `application/octet-stream` (chirpstack/src/integration/http.rs).
 */
export const SPOOL_ENCODINGS = ['json', 'protobuf'] as const;
export type SpoolEncoding = (typeof SPOOL_ENCODINGS)[number];

export interface SpoolRow {
  id: number;
  tenant_id: string;
  event: SpoolEvent;
  encoding: SpoolEncoding;
  payload: Buffer;
  attempts: number;
}

export interface NewSpoolRow {
  event: SpoolEvent;
  encoding: SpoolEncoding;
  payload: Buffer;
}

/**
 * Spools one tenant's events in one statement, in the order given, and wakes the worker (the
 * NOTIFY is delivered at commit). The caller has set the tenant (RLS checks every row).
 */
export async function spoolEvents(c: Queryable, tenantId: string, rows: NewSpoolRow[]): Promise<void> {
  if (rows.length === 0) return;
  await c.query(
    `INSERT INTO webhook_spool (tenant_id, event, encoding, payload)
     SELECT $1, x.event, x.encoding, x.payload
       FROM unnest($2::text[], $3::text[], $4::bytea[]) WITH ORDINALITY AS x(event, encoding, payload, n) ORDER BY x.n`,
    [tenantId, rows.map((r) => r.event), rows.map((r) => r.encoding), rows.map((r) => r.payload)],
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
    `SELECT id, tenant_id, event, encoding, payload, attempts FROM webhook_spool
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
