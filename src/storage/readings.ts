/** Owns the SQL for sensor readings: every uplink a registered device sent, decoded. */
import type { Queryable } from '../db/pool.js';

export interface ReadingRow {
  deviceId: string;
  spaceId: string | null;
  devEui: string;
  deduplicationId: string;
  fCnt: number;
  fPort: number;
  /** The time the reading is applied at: the event's own, or baygate's receive time (timeSource). */
  receivedAt: Date;
  /** `received` when the event's own time was implausible (src/domain/frame-time.ts). */
  timeSource: 'event' | 'received';
  /** What the event claimed when it was not used; null otherwise (or when it was not a time). */
  eventTime: Date | null;
  raw: Buffer;
  kind: string;
  occupied: boolean | null;
  decoded: unknown;
  rssi: number | null;
  snr: number | null;
  gatewayEui: string | null;
}

/**
 * Devices with skip-fCnt-check send retransmissions under new deduplication ids; the same
 * frame (device, fCnt, fPort, bytes) within this window is the same uplink. LoRaWAN
 * retransmits within seconds (ACK_TIMEOUT 1–3 s per try, LoRaWAN 1.0.4 §18.1), while a
 * device that rejoined (fCnt back to 0) repeats a frame only after its join, minutes later.
 */
export const SAME_FRAME_WINDOW_SECONDS = 60;
const SAME_FRAME_WINDOW = `${SAME_FRAME_WINDOW_SECONDS} seconds`;

/**
 * Inserts one tenant's readings, skipping duplicates (same deduplicationId, or the same
 * frame within SAME_FRAME_WINDOW); returns the deduplication ids that were new.
 *
 * The same-frame check is a scalar subquery, not NOT EXISTS: PostgreSQL may turn NOT EXISTS
 * into a hash anti-join, and with statistics taken while the table was small it did, reading
 * the whole table for every batch (seen in bench:ingest through auto_explain). A correlated
 * subquery with LIMIT 1 is always run per row, as one probe of
 * sensor_readings_device_time_idx (migrations/0015_readings_device_index.sql).
 *
 * Written for ingest's one JavaScript thread, its bound (README, Measured performance):
 * the decoded readings go as one JSON array rather than a jsonb[] whose every element pg
 * would escape, times as ISO strings, and the answer names only the readings skipped as
 * duplicates (normally none) rather than returning a row for each one stored.
 */
export async function insertReadings(c: Queryable, tenantId: string, rows: ReadingRow[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const r = await c.query<{ deduplication_id: string }>(
    `WITH inserted AS (
       INSERT INTO sensor_readings (tenant_id, device_id, space_id, dev_eui, deduplication_id, f_cnt, f_port,
                                    received_at, raw, kind, occupied, decoded, rssi, snr, gateway_eui,
                                    time_source, event_time)
       SELECT $1, x.* FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::uuid[], $6::bigint[], $7::int[],
                                  $8::timestamptz[], $9::bytea[], $10::text[], $11::boolean[],
                                  ARRAY(SELECT e FROM jsonb_array_elements($12::jsonb) WITH ORDINALITY AS d(e, i) ORDER BY i),
                                  $13::int[], $14::real[], $15::text[], $16::text[], $17::timestamptz[])
              AS x(device_id, space_id, dev_eui, deduplication_id, f_cnt, f_port, received_at, raw, kind,
                   occupied, decoded, rssi, snr, gateway_eui, time_source, event_time)
        WHERE (SELECT 1 FROM sensor_readings s
                WHERE s.device_id = x.device_id AND s.f_cnt = x.f_cnt AND s.f_port = x.f_port
                  AND s.raw = x.raw AND s.received_at > x.received_at - interval '${SAME_FRAME_WINDOW}'
                  AND s.received_at < x.received_at + interval '${SAME_FRAME_WINDOW}'
                LIMIT 1) IS NULL
       ON CONFLICT (deduplication_id) DO NOTHING
       RETURNING deduplication_id)
     SELECT id AS deduplication_id FROM unnest($5::uuid[]) AS id
      WHERE id NOT IN (SELECT deduplication_id FROM inserted)`,
    [
      tenantId,
      rows.map((x) => x.deviceId),
      rows.map((x) => x.spaceId),
      rows.map((x) => x.devEui),
      rows.map((x) => x.deduplicationId),
      rows.map((x) => x.fCnt),
      rows.map((x) => x.fPort),
      rows.map((x) => x.receivedAt.toISOString()),
      rows.map((x) => x.raw),
      rows.map((x) => x.kind),
      rows.map((x) => x.occupied),
      JSON.stringify(rows.map((x) => x.decoded ?? null)),
      rows.map((x) => x.rssi),
      rows.map((x) => x.snr),
      rows.map((x) => x.gatewayEui),
      rows.map((x) => x.timeSource),
      rows.map((x) => x.eventTime?.toISOString() ?? null),
    ],
  );
  const skipped = new Set(r.rows.map((x) => x.deduplication_id));
  return new Set(rows.map((x) => x.deduplicationId).filter((id) => !skipped.has(id)));
}

/** Deletes readings older than the retention, at most `limit` rows per call (bounded batches). */
export async function deleteReadingsOlderThan(c: Queryable, days: number, limit: number): Promise<number> {
  const r = await c.query(
    `DELETE FROM sensor_readings WHERE id IN (
       SELECT id FROM sensor_readings WHERE received_at < now() - make_interval(days => $1) LIMIT $2)`,
    [days, limit],
  );
  return r.rowCount ?? 0;
}
