/** Owns the SQL for unclaimed devices: DevEUIs heard on the network that no tenant registered. */
import type { Queryable } from '../db/pool.js';

export interface UnclaimedSighting {
  devEui: string;
  applicationId: string | null;
  at: Date;
  /** The deduplication ids of this batch's uplinks from the device, in arrival order: one per uplink. */
  deduplicationIds: string[];
  rssi: number | null;
  snr: number | null;
  gatewayEui: string | null;
  fPort: number | null;
  data: Buffer | null;
}

/**
 * How many of an unclaimed device's latest deduplication ids are kept to recognise a
 * redelivery (migrations/0017_unclaimed_redelivery.sql): the broker redelivers what it sent
 * since the last acknowledgement, seconds of a device's uplinks, not 32 of them.
 */
export const UNCLAIMED_RECENT_IDS = 32;

/**
 * Records sightings of unregistered DevEUIs. An uplink counts once: one whose deduplication
 * id is among the device's recent ones is a redelivery and is not counted again; the
 * last-seen facts already take the newest uplink whichever delivery brings it.
 */
export async function recordUnclaimed(c: Queryable, rows: UnclaimedSighting[]): Promise<void> {
  if (rows.length === 0) return;
  await c.query(
    `INSERT INTO unclaimed_devices AS u (dev_eui, application_id, first_seen_at, last_seen_at, uplink_count,
                                         last_rssi, last_snr, last_gateway_eui, last_f_port, last_data, recent_deduplication_ids)
     SELECT x.dev_eui, x.app, x.at, x.at, cardinality(x.ids), x.rssi, x.snr, x.gw, x.fport, x.data,
            x.ids[greatest(1, cardinality(x.ids) - $10 + 1):]
       FROM (SELECT y.*, string_to_array(y.id_list, ',')::uuid[] AS ids
               FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::int[], $6::real[], $7::text[], $8::int[], $9::bytea[])
                 AS y(dev_eui, app, at, id_list, rssi, snr, gw, fport, data)) x
      -- Sorted, so ingest replicas sharing a DevEUI's uplinks lock its row in one order.
      ORDER BY x.dev_eui
     ON CONFLICT (dev_eui) DO UPDATE SET
        application_id = coalesce(EXCLUDED.application_id, u.application_id),
        first_seen_at = least(u.first_seen_at, EXCLUDED.first_seen_at),
        last_seen_at = greatest(u.last_seen_at, EXCLUDED.last_seen_at),
        uplink_count = u.uplink_count + EXCLUDED.uplink_count
          - (SELECT count(*) FROM unnest(EXCLUDED.recent_deduplication_ids) i WHERE i = ANY (u.recent_deduplication_ids)),
        recent_deduplication_ids = (
          SELECT m[greatest(1, cardinality(m) - $10 + 1):]
            FROM (SELECT ARRAY(SELECT i FROM unnest(u.recent_deduplication_ids) WITH ORDINALITY AS r(i, n)
                                WHERE i <> ALL (EXCLUDED.recent_deduplication_ids) ORDER BY n)
                         || EXCLUDED.recent_deduplication_ids AS m) merged),
        last_rssi = CASE WHEN EXCLUDED.last_seen_at >= u.last_seen_at THEN EXCLUDED.last_rssi ELSE u.last_rssi END,
        last_snr = CASE WHEN EXCLUDED.last_seen_at >= u.last_seen_at THEN EXCLUDED.last_snr ELSE u.last_snr END,
        last_gateway_eui = CASE WHEN EXCLUDED.last_seen_at >= u.last_seen_at THEN EXCLUDED.last_gateway_eui ELSE u.last_gateway_eui END,
        last_f_port = CASE WHEN EXCLUDED.last_seen_at >= u.last_seen_at THEN EXCLUDED.last_f_port ELSE u.last_f_port END,
        last_data = CASE WHEN EXCLUDED.last_seen_at >= u.last_seen_at THEN EXCLUDED.last_data ELSE u.last_data END`,
    [
      rows.map((x) => x.devEui),
      rows.map((x) => x.applicationId),
      rows.map((x) => x.at),
      rows.map((x) => x.deduplicationIds.join(',')),
      rows.map((x) => (x.rssi === null ? null : Math.round(x.rssi))),
      rows.map((x) => x.snr),
      rows.map((x) => x.gatewayEui),
      rows.map((x) => x.fPort),
      rows.map((x) => x.data),
      UNCLAIMED_RECENT_IDS,
    ],
  );
}

/**
 * Deletes up to `limit` unclaimed devices not heard for `days`, longest silent first
 * (unclaimed_devices_last_seen_idx, migrations/0020). Rows an ingest batch holds are skipped
 * (SKIP LOCKED): a device being heard right now is not silent, and the job never waits on
 * ingest nor deadlocks with its DevEUI-ordered upserts. The lock re-reads last_seen_at, so a
 * sighting committed since the scan keeps its row. One heard again after its row went starts
 * a new one, as any DevEUI heard for the first time. `= ANY (ARRAY(…))`, not `IN (…)`: the
 * batch is then deleted by primary key; with IN, PostgreSQL 15 hash-joined the batch against
 * a scan of the whole table (48 ms against 16 ms a batch of 5,000 in 100,000 rows).
 */
export async function deleteUnclaimedNotSeenFor(c: Queryable, days: number, limit: number): Promise<number> {
  const r = await c.query(
    `DELETE FROM unclaimed_devices WHERE dev_eui = ANY (ARRAY(
       SELECT dev_eui FROM unclaimed_devices
        WHERE last_seen_at < now() - make_interval(days => $1)
        ORDER BY last_seen_at LIMIT $2 FOR UPDATE SKIP LOCKED))`,
    [days, limit],
  );
  return r.rowCount ?? 0;
}
