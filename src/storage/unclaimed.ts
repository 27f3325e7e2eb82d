/** Owns the SQL for unclaimed devices: DevEUIs heard on the network that no tenant registered. */
import type { Queryable } from '../db/pool.js';

export interface UnclaimedSighting {
  devEui: string;
  applicationId: string | null;
  at: Date;
  uplinks: number;
  rssi: number | null;
  snr: number | null;
  gatewayEui: string | null;
  fPort: number | null;
  data: Buffer | null;
}

export async function recordUnclaimed(c: Queryable, rows: UnclaimedSighting[]): Promise<void> {
  if (rows.length === 0) return;
  await c.query(
    `INSERT INTO unclaimed_devices AS u (dev_eui, application_id, first_seen_at, last_seen_at, uplink_count,
                                         last_rssi, last_snr, last_gateway_eui, last_f_port, last_data)
     SELECT x.dev_eui, x.app, x.at, x.at, x.n, x.rssi, x.snr, x.gw, x.fport, x.data
       FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::int[], $5::int[], $6::real[], $7::text[], $8::int[], $9::bytea[])
         AS x(dev_eui, app, at, n, rssi, snr, gw, fport, data)
     ON CONFLICT (dev_eui) DO UPDATE SET
        application_id = coalesce(EXCLUDED.application_id, u.application_id),
        first_seen_at = least(u.first_seen_at, EXCLUDED.first_seen_at),
        last_seen_at = greatest(u.last_seen_at, EXCLUDED.last_seen_at),
        uplink_count = u.uplink_count + EXCLUDED.uplink_count,
        last_rssi = CASE WHEN EXCLUDED.last_seen_at >= u.last_seen_at THEN EXCLUDED.last_rssi ELSE u.last_rssi END,
        last_snr = CASE WHEN EXCLUDED.last_seen_at >= u.last_seen_at THEN EXCLUDED.last_snr ELSE u.last_snr END,
        last_gateway_eui = CASE WHEN EXCLUDED.last_seen_at >= u.last_seen_at THEN EXCLUDED.last_gateway_eui ELSE u.last_gateway_eui END,
        last_f_port = CASE WHEN EXCLUDED.last_seen_at >= u.last_seen_at THEN EXCLUDED.last_f_port ELSE u.last_f_port END,
        last_data = CASE WHEN EXCLUDED.last_seen_at >= u.last_seen_at THEN EXCLUDED.last_data ELSE u.last_data END`,
    [
      rows.map((x) => x.devEui),
      rows.map((x) => x.applicationId),
      rows.map((x) => x.at),
      rows.map((x) => x.uplinks),
      rows.map((x) => (x.rssi === null ? null : Math.round(x.rssi))),
      rows.map((x) => x.snr),
      rows.map((x) => x.gatewayEui),
      rows.map((x) => x.fPort),
      rows.map((x) => x.data),
    ],
  );
}
