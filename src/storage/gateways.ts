/** Owns the SQL for gateways. */
import type { Queryable } from '../db/pool.js';

export interface GatewaySighting {
  gatewayEui: string;
  at: Date;
  lat: number | null;
  lon: number | null;
}

/**
 * A gateway's last_seen_at is kept to within this much of its latest uplink. Every batch
 * names the gateways that carried it, and rewriting their rows each time locked them until
 * COMMIT: two ingest lanes or replicas queued behind each other on the same few gateway
 * rows (2 ms of each 500-uplink batch waiting, in bench:ingest). A row is now rewritten only
 * when it is this much behind, which is far finer than the gateway-offline threshold
 * (GATEWAY_OFFLINE_MINUTES, default 10) that reads it.
 */
export const GATEWAY_SEEN_RESOLUTION_SECONDS = 30;

/** Records gateways that carried a tenant's uplinks; they appear for that tenant with last_seen_at. */
export async function touchGateways(c: Queryable, tenantId: string, rows: GatewaySighting[]): Promise<void> {
  if (rows.length === 0) return;
  // The row read in `seen` takes no lock: a gateway seen recently enough, with its location
  // already known, is left out and never reaches ON CONFLICT, which would lock it.
  await c.query(
    `WITH seen AS (
       SELECT x.eui, max(x.at) AS at, (array_agg(x.lat ORDER BY x.at DESC))[1] AS lat, (array_agg(x.lon ORDER BY x.at DESC))[1] AS lon
         FROM unnest($2::text[], $3::timestamptz[], $4::float8[], $5::float8[]) AS x(eui, at, lat, lon)
        GROUP BY x.eui)
     INSERT INTO gateways (tenant_id, gateway_eui, last_seen_at, lat, lon)
     SELECT $1, seen.eui, seen.at, seen.lat, seen.lon
       FROM seen LEFT JOIN gateways g ON g.tenant_id = $1 AND g.gateway_eui = seen.eui
      WHERE g.id IS NULL OR g.last_seen_at IS NULL
         OR g.last_seen_at < seen.at - make_interval(secs => ${GATEWAY_SEEN_RESOLUTION_SECONDS})
         OR (g.lat IS NULL AND seen.lat IS NOT NULL) OR (g.lon IS NULL AND seen.lon IS NOT NULL)
      -- Sorted, so concurrent ingest lanes lock gateway rows in one order.
      ORDER BY seen.eui
     ON CONFLICT (tenant_id, gateway_eui) DO UPDATE SET
        last_seen_at = greatest(gateways.last_seen_at, EXCLUDED.last_seen_at),
        lat = coalesce(gateways.lat, EXCLUDED.lat),
        lon = coalesce(gateways.lon, EXCLUDED.lon),
        updated_at = now()`,
    [tenantId, rows.map((x) => x.gatewayEui), rows.map((x) => x.at), rows.map((x) => x.lat), rows.map((x) => x.lon)],
  );
}

const COLUMNS = `id, tenant_id, gateway_eui, name, lat, lon, metadata, last_seen_at, created_at, updated_at,
  CASE WHEN last_seen_at >= now() - make_interval(mins => $1) THEN 'online' ELSE 'offline' END AS status`;

export interface GatewayRow {
  id: string;
  tenant_id: string;
  gateway_eui: string;
  name: string | null;
  lat: number | null;
  lon: number | null;
  metadata: Record<string, unknown>;
  last_seen_at: Date | null;
  created_at: Date;
  updated_at: Date;
  status: 'online' | 'offline';
}

/** A gateway as the API shows it. */
export function gatewayJson(g: GatewayRow) {
  return {
    id: g.id,
    tenant_id: g.tenant_id,
    gateway_eui: g.gateway_eui,
    name: g.name,
    location: g.lat === null || g.lon === null ? null : { lat: g.lat, lon: g.lon },
    metadata: g.metadata,
    status: g.status,
    last_seen_at: g.last_seen_at,
    created_at: g.created_at,
    updated_at: g.updated_at,
  };
}

export interface GatewayInput {
  gateway_eui: string;
  name: string;
  location?: { lat: number; lon: number } | null;
  metadata?: Record<string, unknown>;
}

/**
 * Adds a gateway. One ingest already recorded for the tenant (it carried uplinks, so it has
 * no name yet) or one deleted before is taken over; a named live one is a conflict (null).
 */
export async function insertGateway(c: Queryable, tenantId: string, g: GatewayInput, offlineMinutes: number): Promise<GatewayRow | null> {
  const r = await c.query<GatewayRow>(
    `INSERT INTO gateways AS g (tenant_id, gateway_eui, name, lat, lon, metadata)
     VALUES ($2, upper($3), $4, $5, $6, coalesce($7, '{}'::jsonb))
     ON CONFLICT (tenant_id, gateway_eui) DO UPDATE SET
        name = EXCLUDED.name,
        lat = coalesce(EXCLUDED.lat, g.lat),
        lon = coalesce(EXCLUDED.lon, g.lon),
        metadata = EXCLUDED.metadata,
        deleted_at = NULL,
        updated_at = now()
      WHERE g.deleted_at IS NOT NULL OR g.name IS NULL
     RETURNING ${COLUMNS}`,
    [offlineMinutes, tenantId, g.gateway_eui, g.name, g.location?.lat ?? null, g.location?.lon ?? null, g.metadata ?? null],
  );
  return r.rows[0] ?? null;
}

export async function getGateway(c: Queryable, id: string, offlineMinutes: number): Promise<GatewayRow | null> {
  const r = await c.query<GatewayRow>(`SELECT ${COLUMNS} FROM gateways WHERE id = $2 AND deleted_at IS NULL`, [offlineMinutes, id]);
  return r.rows[0] ?? null;
}

export async function listGateways(
  c: Queryable,
  f: { status?: 'online' | 'offline' },
  offlineMinutes: number,
  limit: number,
  offset: number,
): Promise<{ items: GatewayRow[]; total: number }> {
  const where = `deleted_at IS NULL AND ($2::text IS NULL OR
      (CASE WHEN last_seen_at >= now() - make_interval(mins => $1) THEN 'online' ELSE 'offline' END) = $2)`;
  const [rows, count] = await Promise.all([
    c.query<GatewayRow>(`SELECT ${COLUMNS} FROM gateways WHERE ${where} ORDER BY gateway_eui LIMIT $3 OFFSET $4`, [offlineMinutes, f.status ?? null, limit, offset]),
    c.query<{ n: string }>(`SELECT count(*) AS n FROM gateways WHERE ${where}`, [offlineMinutes, f.status ?? null]),
  ]);
  return { items: rows.rows, total: Number(count.rows[0]!.n) };
}

/** Applies name, location and metadata (PUT passes all three; the EUI is the gateway's identity). */
export async function updateGateway(
  c: Queryable,
  id: string,
  g: { name: string; location: { lat: number; lon: number } | null; metadata: Record<string, unknown> },
  offlineMinutes: number,
): Promise<GatewayRow | null> {
  const r = await c.query<GatewayRow>(
    `UPDATE gateways SET name = $3, lat = $4, lon = $5, metadata = $6, updated_at = now()
      WHERE id = $2 AND deleted_at IS NULL
      RETURNING ${COLUMNS}`,
    [offlineMinutes, id, g.name, g.location?.lat ?? null, g.location?.lon ?? null, g.metadata],
  );
  return r.rows[0] ?? null;
}

/**
 * Soft-deletes a gateway. Ingest keeps its last_seen_at current (touchGateways) but does
 * not bring it back: adding it again (POST) does.
 */
export async function softDeleteGateway(c: Queryable, id: string): Promise<boolean> {
  const r = await c.query(`UPDATE gateways SET deleted_at = now(), updated_at = now() WHERE id = $1 AND deleted_at IS NULL`, [id]);
  return (r.rowCount ?? 0) > 0;
}
