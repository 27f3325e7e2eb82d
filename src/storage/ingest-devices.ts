/**
 * Owns the SQL ingest runs against devices: routing uplinks to their device by DevEUI
 * (across tenants: ingest's read policy), binding devices to their ChirpStack application
 * and writing device health in batches.
 */
import type { Queryable } from '../db/pool.js';

export interface RoutedDevice {
  id: string;
  tenantId: string;
  devEui: string;
  deviceType: 'sensor' | 'display';
  decoder: string | null;
  enabled: boolean;
  assignedSpaceId: string | null;
  lifecycleState: string;
  status: string;
  lastFCnt: number | null;
  lastFrameAt: Date | null;
  /** The ChirpStack application the device is bound to; null until one is (src/domain/application-binding.ts). */
  applicationId: string | null;
  /** The applications the device's tenant mapped (tenant_chirpstack_applications); empty when it mapped none. */
  mappedApplications: string[];
}

export async function routeDevices(c: Queryable, devEuis: string[]): Promise<Map<string, RoutedDevice>> {
  if (devEuis.length === 0) return new Map();
  // Each tenant's mapped applications once per batch, not once per device.
  const r = await c.query<RoutedDevice>(
    `WITH d AS (
       SELECT id, tenant_id, dev_eui, device_type, decoder, enabled, assigned_space_id, lifecycle_state, status,
              last_f_cnt, last_frame_at, application_id
         FROM devices WHERE dev_eui = ANY($1::text[]) AND deleted_at IS NULL),
     m AS (
       SELECT a.tenant_id, array_agg(a.application_id::text) AS apps
         FROM tenant_chirpstack_applications a WHERE a.tenant_id IN (SELECT tenant_id FROM d) GROUP BY a.tenant_id)
     SELECT d.id, d.tenant_id AS "tenantId", d.dev_eui AS "devEui", d.device_type AS "deviceType", d.decoder, d.enabled,
            d.assigned_space_id AS "assignedSpaceId", d.lifecycle_state AS "lifecycleState", d.status,
            d.last_f_cnt AS "lastFCnt", d.last_frame_at AS "lastFrameAt", d.application_id AS "applicationId",
            coalesce(m.apps, '{}') AS "mappedApplications"
       FROM d LEFT JOIN m ON m.tenant_id = d.tenant_id`,
    [devEuis],
  );
  return new Map(r.rows.map((d) => [d.devEui, d]));
}

/**
 * Binds unbound devices to the application their first accepted event came through (trust on
 * first use). Returns, for each device that another transaction bound first, the application
 * it is bound to now: the caller refuses this batch's events from any other. The UPDATE waits
 * for a concurrent binder's commit and then finds the row bound (READ COMMITTED re-checks
 * `application_id IS NULL` on the newest row version), so two batches never both bind.
 */
export async function bindApplications(c: Queryable, rows: { id: string; applicationId: string }[]): Promise<Map<string, string | null>> {
  if (rows.length === 0) return new Map();
  const ids = rows.map((x) => x.id);
  const bound = await c.query<{ id: string }>(
    `UPDATE devices d SET application_id = x.application_id, application_bound_by = 'first_event',
            application_bound_at = now(), updated_at = now()
       FROM unnest($1::uuid[], $2::text[]) AS x(id, application_id)
      WHERE d.id = x.id AND d.id = ANY($1::uuid[]) AND d.application_id IS NULL
      RETURNING d.id`,
    [ids, rows.map((x) => x.applicationId)],
  );
  const done = new Set(bound.rows.map((x) => x.id));
  const raced = ids.filter((id) => !done.has(id));
  if (raced.length === 0) return new Map();
  // A new statement: its snapshot sees what the other binder committed.
  const now = await c.query<{ id: string; application_id: string | null }>(`SELECT id, application_id FROM devices WHERE id = ANY($1::uuid[])`, [raced]);
  return new Map(now.rows.map((x) => [x.id, x.application_id]));
}

/** One device's health after a batch: the latest uplink's facts and counters. */
export interface DeviceHealth {
  id: string;
  lastSeenAt: Date;
  uplinks: number;
  rssi: number | null;
  snr: number | null;
  gatewayEui: string | null;
  batteryPercent: number | null;
  batteryVolts: number | null;
  lowBattery: boolean | null;
  /** Last frame applied to the state machine; null leaves it. */
  lastFCnt: number | null;
  lastFrameAt: Date | null;
}

/**
 * Writes device health. last_seen_at only moves forward (a late frame does not turn the
 * clock back); the first uplink after assignment makes a commissioned device operational,
 * and an uplink from a device marked offline brings it back to assigned.
 *
 * `d.id = ANY($1)` repeats the join key as a condition on the table itself. PostgreSQL does
 * not turn `FROM unnest(...) WHERE d.id = x.id` into index lookups of the batch's rows: with
 * statistics it hashes the whole devices table every batch (all tenants, as ingest's role),
 * without them it walks the tenant's rows. Measured on 11,000 devices and a 281-row batch:
 * a sequential scan of all 11,000 before, a bitmap scan of 281 on devices_pkey after. Every
 * batch UPDATE ... FROM unnest in src/storage does the same; test/integration/batch-plans.test.ts
 * checks their plans.
 */
export async function writeDeviceHealth(c: Queryable, rows: DeviceHealth[]): Promise<void> {
  if (rows.length === 0) return;
  await c.query(
    `UPDATE devices d SET
        last_seen_at = greatest(d.last_seen_at, x.last_seen_at),
        uplink_count = d.uplink_count + x.uplinks,
        rssi = CASE WHEN d.last_seen_at IS NULL OR x.last_seen_at >= d.last_seen_at THEN coalesce(x.rssi, d.rssi) ELSE d.rssi END,
        snr = CASE WHEN d.last_seen_at IS NULL OR x.last_seen_at >= d.last_seen_at THEN coalesce(x.snr, d.snr) ELSE d.snr END,
        last_gateway_eui = CASE WHEN d.last_seen_at IS NULL OR x.last_seen_at >= d.last_seen_at
                                THEN coalesce(x.gateway_eui, d.last_gateway_eui) ELSE d.last_gateway_eui END,
        battery = coalesce(x.battery, d.battery),
        battery_volts = coalesce(x.battery_volts, d.battery_volts),
        low_battery = coalesce(x.low_battery, d.low_battery),
        last_f_cnt = coalesce(x.last_f_cnt, d.last_f_cnt),
        last_frame_at = coalesce(x.last_frame_at, d.last_frame_at),
        lifecycle_state = CASE WHEN d.lifecycle_state = 'commissioned' AND d.assigned_space_id IS NOT NULL
                               THEN 'operational' ELSE d.lifecycle_state END,
        status = CASE WHEN d.status = 'offline' THEN (CASE WHEN d.assigned_space_id IS NULL THEN 'unassigned' ELSE 'assigned' END)
                      ELSE d.status END,
        updated_at = now()
       FROM unnest($1::uuid[], $2::timestamptz[], $3::int[], $4::int[], $5::real[], $6::text[],
                   $7::real[], $8::real[], $9::boolean[], $10::bigint[], $11::timestamptz[])
         AS x(id, last_seen_at, uplinks, rssi, snr, gateway_eui, battery, battery_volts, low_battery,
              last_f_cnt, last_frame_at)
      WHERE d.id = x.id AND d.id = ANY($1::uuid[])`,
    [
      rows.map((x) => x.id),
      rows.map((x) => x.lastSeenAt),
      rows.map((x) => x.uplinks),
      rows.map((x) => (x.rssi === null ? null : Math.round(x.rssi))),
      rows.map((x) => x.snr),
      rows.map((x) => x.gatewayEui),
      rows.map((x) => x.batteryPercent),
      rows.map((x) => x.batteryVolts),
      rows.map((x) => x.lowBattery),
      rows.map((x) => x.lastFCnt),
      rows.map((x) => x.lastFrameAt),
    ],
  );
}

/** What a `status` (DevStatusAns) or `join` event says about a device. */
export interface DeviceStatusUpdate {
  id: string;
  batteryPercent: number | null;
  margin: number | null;
  externalPower: boolean | null;
  joinedAt: Date | null;
  devAddr: string | null;
}

/** `d.id = ANY($1)`: see writeDeviceHealth. */
export async function writeDeviceStatus(c: Queryable, rows: DeviceStatusUpdate[]): Promise<void> {
  if (rows.length === 0) return;
  await c.query(
    `UPDATE devices d SET battery = coalesce(x.battery, d.battery), margin = coalesce(x.margin, d.margin),
            external_power = coalesce(x.external_power, d.external_power),
            last_join_at = greatest(d.last_join_at, x.joined_at), dev_addr = coalesce(x.dev_addr, d.dev_addr),
            updated_at = now()
       FROM unnest($1::uuid[], $2::real[], $3::int[], $4::boolean[], $5::timestamptz[], $6::text[])
         AS x(id, battery, margin, external_power, joined_at, dev_addr)
      WHERE d.id = x.id AND d.id = ANY($1::uuid[])`,
    [
      rows.map((x) => x.id),
      rows.map((x) => x.batteryPercent),
      rows.map((x) => (x.margin === null ? null : Math.round(x.margin))),
      rows.map((x) => x.externalPower),
      rows.map((x) => x.joinedAt),
      rows.map((x) => x.devAddr),
    ],
  );
}
