/** Owns the SQL for device events: what status, join, ack, txack and log events said. */
import type { Queryable } from '../db/pool.js';

export interface DeviceEventRow {
  tenantId: string;
  deviceId: string;
  kind: string;
  code: string | null;
  level: string | null;
  description: string | null;
  queueItemId: string | null;
  data: Record<string, unknown>;
  at: Date;
  /** Redelivery of the same event is ignored by this key (null: no key, always stored). */
  dedupKey: string | null;
}

export async function insertDeviceEvents(c: Queryable, rows: DeviceEventRow[]): Promise<void> {
  if (rows.length === 0) return;
  await c.query(
    `INSERT INTO device_events (tenant_id, device_id, kind, code, level, description, queue_item_id, data, at, dedup_key)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::uuid[],
                          $8::jsonb[], $9::timestamptz[], $10::text[])
     ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING`,
    [
      rows.map((x) => x.tenantId),
      rows.map((x) => x.deviceId),
      rows.map((x) => x.kind),
      rows.map((x) => x.code),
      rows.map((x) => x.level),
      rows.map((x) => x.description),
      rows.map((x) => x.queueItemId),
      rows.map((x) => JSON.stringify(x.data)),
      rows.map((x) => x.at),
      rows.map((x) => x.dedupKey),
    ],
  );
}
