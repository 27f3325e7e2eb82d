/** Owns the SQL for devices as the API manages them: registration, lookup, listing, edits, assignment, deletion. */
import type { Queryable } from '../db/pool.js';
import { DeviceClaimedElsewhereError } from '../errors.js';
import { deviceClaimedElsewhere } from './claims.js';

/**
 * The device's latest location (device_locations, 0022; written by ./device-locations.ts), or
 * null. `id` is left unqualified on purpose: COLUMNS follows `FROM devices`, `FROM devices d`
 * and RETURNING alike, and device_locations has no `id` column, so it names the device's.
 */
const LOCATION = `(SELECT jsonb_build_object('latitude', l.latitude, 'longitude', l.longitude, 'altitude', l.altitude,
                                  'source', l.source, 'accuracy', l.accuracy, 'at', l.at)
     FROM device_locations l WHERE l.device_id = id) AS location`;

const COLUMNS = `id, tenant_id, dev_eui, name, device_type, manufacturer, model, decoder, enabled, config, status,
  lifecycle_state, assigned_space_id, assigned_at, last_seen_at, battery, battery_volts, low_battery, rssi, snr,
  last_gateway_eui, uplink_count, application_id, application_bound_by, application_bound_at, created_at, updated_at,
  ${LOCATION}`;

export const DEVICE_STATUSES = ['unassigned', 'assigned', 'offline', 'maintenance'] as const;
export const LIFECYCLE_STATES = ['provisioned', 'commissioned', 'operational', 'decommissioned'] as const;

export interface DeviceRow {
  id: string;
  tenant_id: string;
  dev_eui: string;
  name: string | null;
  device_type: 'sensor' | 'display';
  manufacturer: string | null;
  model: string | null;
  decoder: string | null;
  enabled: boolean;
  config: Record<string, unknown>;
  status: string;
  lifecycle_state: string;
  assigned_space_id: string | null;
  assigned_at: Date | null;
  last_seen_at: Date | null;
  battery: number | null;
  battery_volts: number | null;
  low_battery: boolean;
  rssi: number | null;
  snr: number | null;
  last_gateway_eui: string | null;
  /** bigint: node-postgres returns it as text. */
  uplink_count: number | string;
  /** The ChirpStack application the device is bound to (src/domain/application-binding.ts). */
  application_id: string | null;
  application_bound_by: 'first_event' | 'sync' | 'user' | 'migration' | null;
  application_bound_at: Date | null;
  created_at: Date;
  updated_at: Date;
  /** From device_locations; `at` as jsonb gives it: an ISO string. */
  location: { latitude: number; longitude: number; altitude: number | null; source: string; accuracy: number | null; at: string } | null;
}

/** A device as the API shows it, field by field (the fields of the platform this replaces, then baygate's extras). */
export function deviceJson(d: DeviceRow) {
  return {
    id: d.id,
    tenant_id: d.tenant_id,
    dev_eui: d.dev_eui,
    name: d.name,
    device_type: d.device_type,
    manufacturer: d.manufacturer,
    model: d.model,
    decoder: d.decoder,
    enabled: d.enabled,
    config: d.config,
    status: d.status,
    lifecycle_state: d.lifecycle_state,
    assigned_space_id: d.assigned_space_id,
    assigned_at: d.assigned_at,
    last_seen_at: d.last_seen_at,
    battery: d.battery,
    battery_volts: d.battery_volts,
    low_battery: d.low_battery,
    rssi: d.rssi,
    snr: d.snr,
    last_gateway_eui: d.last_gateway_eui,
    uplink_count: Number(d.uplink_count),
    chirpstack_application_id: d.application_id,
    chirpstack_application_bound_by: d.application_bound_by,
    chirpstack_application_bound_at: d.application_bound_at,
    application_id: d.application_id,
    created_at: d.created_at,
    updated_at: d.updated_at,
    // Where ChirpStack last resolved the device to be (its `location` events), or null.
    location: d.location
      ? {
          latitude: d.location.latitude,
          longitude: d.location.longitude,
          altitude: d.location.altitude,
          source: d.location.source,
          accuracy: d.location.accuracy,
          at: new Date(d.location.at).toISOString(),
        }
      : null,
  };
}

export interface NewDevice {
  dev_eui: string;
  name?: string | null;
  device_type: 'sensor' | 'display';
  manufacturer?: string | null;
  model?: string | null;
  decoder?: string | null;
  config?: Record<string, unknown>;
}

/**
 * Registers a device. A DevEUI that was sending before registration (held in
 * unclaimed_devices) brings its last-seen facts along at once.
 *
 * A DevEUI heard (or listed by ChirpStack) under an application another tenant mapped is
 * refused first (baygate_device_claimed_elsewhere, 0019, reads the tenant from the
 * transaction): registering it would hand that tenant's device to this one. It runs in the
 * caller's transaction before the claim deletes the unclaimed row it looks at.
 */
export async function insertDevice(c: Queryable, tenantId: string, d: NewDevice): Promise<DeviceRow> {
  if (await deviceClaimedElsewhere(c, d.dev_eui)) throw new DeviceClaimedElsewhereError();
  const r = await c.query<DeviceRow>(
    `WITH claimed AS (SELECT * FROM baygate_claim_unclaimed($2))
     INSERT INTO devices (tenant_id, dev_eui, name, device_type, manufacturer, model, decoder, config,
                          application_id, application_bound_by, application_bound_at,
                          last_seen_at, uplink_count, rssi, snr, last_gateway_eui)
     SELECT $1, upper($2), $3, $4, $5, $6, $7, coalesce($8, '{}'::jsonb),
            -- The application it was heard under binds it, as its first event would have.
            claimed.application_id, CASE WHEN claimed.application_id IS NOT NULL THEN 'first_event' END,
            CASE WHEN claimed.application_id IS NOT NULL THEN claimed.first_seen_at END,
            claimed.last_seen_at, coalesce(claimed.uplink_count, 0),
            claimed.last_rssi, claimed.last_snr, claimed.last_gateway_eui
       FROM (SELECT 1) one LEFT JOIN claimed ON true
     RETURNING ${COLUMNS}`,
    [tenantId, d.dev_eui, d.name ?? null, d.device_type, d.manufacturer ?? null, d.model ?? null, d.decoder ?? null, d.config ?? null],
  );
  return r.rows[0]!;
}

export async function getDevice(c: Queryable, id: string, opts: { forUpdate?: boolean } = {}): Promise<DeviceRow | null> {
  const r = await c.query<DeviceRow>(
    `SELECT ${COLUMNS} FROM devices WHERE id = $1 AND deleted_at IS NULL${opts.forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return r.rows[0] ?? null;
}

/** The tenant's live device with this DevEUI (any case), if any. */
export async function getDeviceByEui(c: Queryable, devEui: string): Promise<DeviceRow | null> {
  const r = await c.query<DeviceRow>(`SELECT ${COLUMNS} FROM devices WHERE dev_eui = upper($1) AND deleted_at IS NULL`, [devEui]);
  return r.rows[0] ?? null;
}

export interface DeviceFilter {
  device_type?: 'sensor' | 'display';
  status?: string;
  lifecycle_state?: string;
  assigned?: boolean;
  site_id?: string;
  /** A fragment of the DevEUI or the name, case-insensitive. */
  q?: string;
}

/** Escapes LIKE's wildcards so a search fragment matches literally. */
function likeFragment(s: string): string {
  return '%' + s.replace(/[\\%_]/g, (m) => '\\' + m) + '%';
}

export async function listDevices(c: Queryable, f: DeviceFilter, limit: number, offset: number): Promise<{ items: DeviceRow[]; total: number }> {
  const where = `d.deleted_at IS NULL
      AND ($1::text IS NULL OR d.device_type = $1)
      AND ($2::text IS NULL OR d.status = $2)
      AND ($3::text IS NULL OR d.lifecycle_state = $3)
      AND ($4::boolean IS NULL OR (d.assigned_space_id IS NOT NULL) = $4)
      AND ($5::uuid IS NULL OR d.assigned_space_id IN (SELECT s.id FROM spaces s WHERE s.site_id = $5 AND s.deleted_at IS NULL))
      AND ($6::text IS NULL OR d.dev_eui ILIKE $6 OR d.name ILIKE $6)`;
  const params = [f.device_type ?? null, f.status ?? null, f.lifecycle_state ?? null, f.assigned ?? null, f.site_id ?? null, f.q ? likeFragment(f.q) : null];
  const [rows, count] = await Promise.all([
    c.query<DeviceRow>(
      `SELECT ${COLUMNS} FROM devices d WHERE ${where}
        ORDER BY d.created_at, d.id LIMIT $7 OFFSET $8`,
      [...params, limit, offset],
    ),
    c.query<{ n: string }>(`SELECT count(*) AS n FROM devices d WHERE ${where}`, params),
  ]);
  return { items: rows.rows, total: Number(count.rows[0]!.n) };
}

export interface DeviceEdit {
  name?: string | null;
  manufacturer?: string | null;
  model?: string | null;
  decoder?: string | null;
  enabled?: boolean;
  config?: Record<string, unknown>;
}

/**
 * Applies the given fields; a field left undefined keeps its value (PATCH), PUT passes
 * them all. Disabling an unassigned device decommissions it; enabling a decommissioned one
 * provisions it again.
 */
export async function updateDevice(c: Queryable, id: string, e: DeviceEdit): Promise<DeviceRow | null> {
  const r = await c.query<DeviceRow>(
    `UPDATE devices SET
        name = CASE WHEN $2::boolean THEN $3 ELSE name END,
        manufacturer = CASE WHEN $4::boolean THEN $5 ELSE manufacturer END,
        model = CASE WHEN $6::boolean THEN $7 ELSE model END,
        decoder = CASE WHEN $8::boolean THEN $9 ELSE decoder END,
        enabled = coalesce($10, enabled),
        config = coalesce($11, config),
        lifecycle_state = CASE
          WHEN coalesce($10, enabled) = false AND assigned_space_id IS NULL THEN 'decommissioned'
          WHEN coalesce($10, enabled) AND lifecycle_state = 'decommissioned' THEN 'provisioned'
          ELSE lifecycle_state END,
        updated_at = now()
      WHERE id = $1 AND deleted_at IS NULL
      RETURNING ${COLUMNS}`,
    [
      id,
      e.name !== undefined, e.name ?? null,
      e.manufacturer !== undefined, e.manufacturer ?? null,
      e.model !== undefined, e.model ?? null,
      e.decoder !== undefined, e.decoder ?? null,
      e.enabled ?? null,
      e.config ?? null,
    ],
  );
  return r.rows[0] ?? null;
}

/** Soft-deletes a device (unassigned first by the caller): its DevEUI can be registered again. */
export async function softDeleteDevice(c: Queryable, id: string): Promise<boolean> {
  const r = await c.query(
    `UPDATE devices SET deleted_at = now(), enabled = false, lifecycle_state = 'decommissioned', status = 'unassigned', updated_at = now()
      WHERE id = $1 AND deleted_at IS NULL`,
    [id],
  );
  return (r.rowCount ?? 0) > 0;
}

export async function setAssignment(
  c: Queryable,
  id: string,
  spaceId: string | null,
): Promise<DeviceRow> {
  const r = await c.query<DeviceRow>(
    `UPDATE devices SET
        assigned_space_id = $2,
        assigned_at = CASE WHEN $2::uuid IS NULL THEN NULL ELSE now() END,
        status = CASE WHEN $2::uuid IS NULL THEN 'unassigned' ELSE 'assigned' END,
        lifecycle_state = CASE WHEN $2::uuid IS NOT NULL THEN 'commissioned'
                               WHEN enabled THEN 'provisioned' ELSE 'decommissioned' END,
        updated_at = now()
      WHERE id = $1
      RETURNING ${COLUMNS}`,
    [id, spaceId],
  );
  return r.rows[0]!;
}

export async function recordAssignment(
  c: Queryable,
  a: { tenantId: string; deviceId: string; fromSpaceId: string | null; toSpaceId: string | null; reason: string | null; byUserId: string },
): Promise<void> {
  await c.query(
    `INSERT INTO device_assignments (tenant_id, device_id, from_space_id, to_space_id, reason, by_user_id)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [a.tenantId, a.deviceId, a.fromSpaceId, a.toSpaceId, a.reason, a.byUserId],
  );
}

export interface AssignmentRow {
  id: string;
  device_id: string;
  from_space_id: string | null;
  to_space_id: string | null;
  reason: string | null;
  by_user_id: string | null;
  at: Date;
}

/** A device's assignment history, oldest first. */
export async function listAssignments(c: Queryable, deviceId: string): Promise<AssignmentRow[]> {
  const r = await c.query<AssignmentRow>(
    `SELECT id::text AS id, device_id, from_space_id, to_space_id, reason, by_user_id, at
       FROM device_assignments WHERE device_id = $1 ORDER BY at, id`,
    [deviceId],
  );
  return r.rows;
}

export interface DeviceReading {
  time: Date;
  f_cnt: number;
  f_port: number;
  kind: string;
  occupied: boolean | null;
  battery: number | null;
  rssi: number | null;
  snr: number | null;
  gateway: string | null;
}

/** A device's latest decoded readings, newest first (sensor_readings_device_time_idx). */
export async function latestReadings(c: Queryable, deviceId: string, limit: number): Promise<DeviceReading[]> {
  const r = await c.query<DeviceReading & { f_cnt: string }>(
    `SELECT received_at AS time, f_cnt, f_port, kind, occupied,
            (decoded ->> 'batteryPercent')::real AS battery, rssi, snr, gateway_eui AS gateway
       FROM sensor_readings WHERE device_id = $1 ORDER BY received_at DESC, id DESC LIMIT $2`,
    [deviceId, limit],
  );
  return r.rows.map((x) => ({ ...x, f_cnt: Number(x.f_cnt) }));
}

/** The space a device may be assigned to: in the tenant (RLS) and not deleted. */
export async function spaceExists(c: Queryable, spaceId: string): Promise<boolean> {
  const r = await c.query(`SELECT 1 FROM spaces WHERE id = $1 AND deleted_at IS NULL`, [spaceId]);
  return (r.rowCount ?? 0) > 0;
}

/**
 * Binds a device to a ChirpStack application, or clears its binding (null: the next event
 * accepted for it binds it again), as a person's explicit act: recorded as a device event
 * naming who. Returns the device as it is now, or null if there is none.
 */
export async function setApplicationBinding(c: Queryable, deviceId: string, applicationId: string | null, userId: string): Promise<DeviceRow | null> {
  const r = await c.query<DeviceRow>(
    `WITH prev AS (SELECT id AS pid, tenant_id AS ptenant, application_id AS papp FROM devices WHERE id = $1 AND deleted_at IS NULL FOR UPDATE),
     upd AS (
       UPDATE devices d SET application_id = $2, application_bound_by = CASE WHEN $2::text IS NULL THEN NULL ELSE 'user' END,
              application_bound_at = CASE WHEN $2::text IS NULL THEN NULL ELSE now() END, updated_at = now()
         FROM prev WHERE d.id = prev.pid
       RETURNING ${COLUMNS}),
     ev AS (
       INSERT INTO device_events (tenant_id, device_id, kind, data, at)
       SELECT ptenant, pid, 'application_binding', jsonb_build_object('from', papp, 'to', $2::text, 'by_user_id', $3::uuid), now()
         FROM prev)
     SELECT * FROM upd`,
    [deviceId, applicationId, userId],
  );
  return r.rows[0] ?? null;
}

/** Whether another tenant mapped the application (migration 0018); names no tenant. */
export async function applicationMappedElsewhere(c: Queryable, applicationId: string): Promise<boolean> {
  const r = await c.query<{ elsewhere: boolean }>(`SELECT baygate_application_mapped_elsewhere($1) AS elsewhere`, [applicationId]);
  return r.rows[0]!.elsewhere;
}
