/**
 * Owns the SQL that puts tenant_events (migrations/0012: reservations' lifecycle, device
 * health) in commit order for the webhook fan-out, which reads them by `seq`.
 */
import type { Queryable } from '../db/pool.js';

/** Events numbered per call at most, so one call is one short statement. */
export const SEQUENCE_BATCH = 5_000;

/** Tenants with committed events not yet numbered (the ingest role reads every tenant's). */
export async function tenantsWithUnsequencedEvents(c: Queryable): Promise<string[]> {
  const r = await c.query<{ tenant_id: string }>(`SELECT DISTINCT tenant_id FROM tenant_events WHERE seq IS NULL`);
  return r.rows.map((x) => x.tenant_id);
}

/**
 * Numbers the tenant's committed events that have no `seq` yet, after its highest, in id
 * order; returns how many. Runs under the tenant's setting (RLS). The advisory lock lets one
 * caller at a time number a tenant's events, so every number it gives is higher than any
 * number a caller committed before it, and an event that commits later gets a later number:
 * a reader that moved its cursor past seq N never finds a new event at or below N.
 */
export async function sequenceTenantEvents(c: Queryable, tenantId: string, limit = SEQUENCE_BATCH): Promise<number> {
  await c.query(`SELECT pg_advisory_xact_lock(hashtext('baygate:tenant_events:' || $1))`, [tenantId]);
  const r = await c.query(
    `WITH todo AS (
       SELECT id, row_number() OVER (ORDER BY id) AS n
         FROM tenant_events WHERE tenant_id = $1 AND seq IS NULL ORDER BY id LIMIT $2),
     top AS (SELECT coalesce(max(seq), 0) AS seq FROM tenant_events WHERE tenant_id = $1)
     UPDATE tenant_events e SET seq = top.seq + todo.n FROM todo, top
      WHERE e.id = todo.id AND e.tenant_id = $1 AND e.seq IS NULL`,
    [tenantId, limit],
  );
  return r.rowCount ?? 0;
}
