/**
 * Owns the SQL that puts tenant_events (migrations/0012: reservations' lifecycle, device
 * health) in commit order for the webhook fan-out, which reads them by `seq`, and that
 * forgets them once they are old.
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

/**
 * Deletes up to `limit` of the tenant's numbered events older than `days`; returns how many.
 * Runs under the tenant's setting (RLS). The tenant's highest-numbered event always stays:
 * sequenceTenantEvents numbers new events after it, and with it gone the numbers would start
 * again below the subscriptions' cursors, which would then skip them. Events not yet numbered
 * stay too. A subscription whose cursor is behind a deleted event resumes at the next one
 * kept (the fan-out reads `seq > cursor`).
 */
export async function deleteTenantEventsOlderThan(c: Queryable, tenantId: string, days: number, limit: number): Promise<number> {
  const r = await c.query(
    `DELETE FROM tenant_events WHERE id IN (
       SELECT id FROM tenant_events
        WHERE tenant_id = $1 AND at < now() - make_interval(days => $2)
          AND seq < (SELECT max(seq) FROM tenant_events WHERE tenant_id = $1)
        ORDER BY seq LIMIT $3)`,
    [tenantId, days, limit],
  );
  return r.rowCount ?? 0;
}
