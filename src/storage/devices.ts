/** Owns the SQL for devices as the API manages them: registration, lookup, assignment. */
import type { Queryable } from '../db/pool.js';

const COLUMNS = `id, tenant_id, dev_eui, name, device_type, manufacturer, model, decoder, enabled, config, status,
  lifecycle_state, assigned_space_id, assigned_at, last_seen_at, battery, battery_volts, low_battery, rssi, snr,
  last_gateway_eui, uplink_count, application_id, created_at, updated_at`;

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
  uplink_count: number;
  application_id: string | null;
  created_at: Date;
  updated_at: Date;
}

/** A device as the API shows it. */
export function deviceJson(d: DeviceRow) {
  return { ...d };
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
 */
export async function insertDevice(c: Queryable, tenantId: string, d: NewDevice): Promise<DeviceRow> {
  const r = await c.query<DeviceRow>(
    `WITH claimed AS (SELECT * FROM baygate_claim_unclaimed($2))
     INSERT INTO devices (tenant_id, dev_eui, name, device_type, manufacturer, model, decoder, config,
                          application_id, last_seen_at, uplink_count, rssi, snr, last_gateway_eui)
     SELECT $1, upper($2), $3, $4, $5, $6, $7, coalesce($8, '{}'::jsonb),
            claimed.application_id, claimed.last_seen_at, coalesce(claimed.uplink_count, 0),
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

/** The space a device may be assigned to: in the tenant (RLS) and not deleted. */
export async function spaceExists(c: Queryable, spaceId: string): Promise<boolean> {
  const r = await c.query(`SELECT 1 FROM spaces WHERE id = $1 AND deleted_at IS NULL`, [spaceId]);
  return (r.rowCount ?? 0) > 0;
}
