/** Owns the SQL for gateways. */
import type { Queryable } from '../db/pool.js';

export interface GatewaySighting {
  gatewayEui: string;
  at: Date;
  lat: number | null;
  lon: number | null;
}

/** Records gateways that carried a tenant's uplinks; they appear for that tenant with last_seen_at. */
export async function touchGateways(c: Queryable, tenantId: string, rows: GatewaySighting[]): Promise<void> {
  if (rows.length === 0) return;
  await c.query(
    `INSERT INTO gateways (tenant_id, gateway_eui, last_seen_at, lat, lon)
     SELECT $1, x.eui, max(x.at), (array_agg(x.lat ORDER BY x.at DESC))[1], (array_agg(x.lon ORDER BY x.at DESC))[1]
       FROM unnest($2::text[], $3::timestamptz[], $4::float8[], $5::float8[]) AS x(eui, at, lat, lon)
      GROUP BY x.eui
      -- Sorted, so concurrent ingest lanes lock gateway rows in one order.
      ORDER BY x.eui
     ON CONFLICT (tenant_id, gateway_eui) DO UPDATE SET
        last_seen_at = greatest(gateways.last_seen_at, EXCLUDED.last_seen_at),
        lat = coalesce(gateways.lat, EXCLUDED.lat),
        lon = coalesce(gateways.lon, EXCLUDED.lon),
        updated_at = now()`,
    [tenantId, rows.map((x) => x.gatewayEui), rows.map((x) => x.at), rows.map((x) => x.lat), rows.map((x) => x.lon)],
  );
}
