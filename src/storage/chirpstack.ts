/**
 * Owns the SQL of ChirpStack device sync: a tenant's mapped ChirpStack applications, what
 * one sync run writes (registered devices' facts, the tenant's not-yet-registered ChirpStack
 * devices), and the tenant's list of unclaimed devices from both sources.
 */
import type { Queryable } from '../db/pool.js';

/** The calling tenant's mapped application ids (RLS scopes the read), sorted. */
export async function getApplications(c: Queryable): Promise<string[]> {
  const r = await c.query<{ application_id: string }>(`SELECT application_id FROM tenant_chirpstack_applications ORDER BY application_id`);
  return r.rows.map((x) => x.application_id);
}

/**
 * Makes the tenant's mapping exactly `ids`. An application another tenant holds fails the
 * insert on the primary key (23505 → 409), whatever RLS hides of that tenant's row.
 */
export async function replaceApplications(c: Queryable, tenantId: string, ids: string[]): Promise<string[]> {
  await c.query(`DELETE FROM tenant_chirpstack_applications WHERE tenant_id = $1 AND application_id <> ALL($2::uuid[])`, [tenantId, ids]);
  await c.query(
    `INSERT INTO tenant_chirpstack_applications (tenant_id, application_id)
     SELECT $1, x FROM unnest($2::uuid[]) x
      WHERE x NOT IN (SELECT application_id FROM tenant_chirpstack_applications WHERE tenant_id = $1)`,
    [tenantId, ids],
  );
  return getApplications(c);
}

export interface MappedApplication {
  tenantId: string;
  applicationId: string;
}

/** Every tenant's mapped applications; for the sync job (ingest role, ingest_read policy). */
export async function listAllApplications(c: Queryable): Promise<MappedApplication[]> {
  const r = await c.query<{ tenant_id: string; application_id: string }>(
    `SELECT tenant_id, application_id FROM tenant_chirpstack_applications ORDER BY tenant_id, application_id`,
  );
  return r.rows.map((x) => ({ tenantId: x.tenant_id, applicationId: x.application_id }));
}

/** One device as ChirpStack listed it, in the application it was listed under. */
export interface ListedDevice {
  applicationId: string;
  devEui: string;
  name: string | null;
  description: string | null;
  deviceProfileName: string | null;
  lastSeenAt: Date | null;
  battery: number | null;
}

export interface SyncCounts {
  /** Devices ChirpStack listed in the tenant's applications. */
  listed: number;
  /** Of those, registered in this tenant. */
  registered: number;
  /** Registered devices whose facts changed. */
  updated: number;
  /** Not registered anywhere: now on the tenant's unclaimed list. */
  unclaimed: number;
  /** Registered by another tenant: neither updated nor listed (the DevEUI cannot be registered here). */
  registered_elsewhere: number;
  /** Rows taken off the tenant's list: no longer in ChirpStack, registered since, or the application unmapped. */
  removed: number;
}

function columns(devices: ListedDevice[]) {
  return [
    devices.map((d) => d.devEui),
    devices.map((d) => d.applicationId),
    devices.map((d) => d.name),
    devices.map((d) => d.description),
    devices.map((d) => d.deviceProfileName),
    devices.map((d) => d.lastSeenAt),
    devices.map((d) => d.battery),
  ];
}

const LISTED = `unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::real[])
  AS x(dev_eui, application_id, name, description, profile, seen, battery)`;

/**
 * Applies what ChirpStack listed for one tenant; run under that tenant's setting, in one
 * transaction. `devices` holds each DevEUI once.
 *
 * Registered devices: a name or model baygate holds wins (a technician's edit is not
 * undone every five minutes); an empty one is filled from ChirpStack's name and device-profile
 * name. ChirpStack's application is the device's binding (src/domain/application-binding.ts):
 * ChirpStack says which application the device is in, over any binding baygate guessed.
 * last_seen_at only moves forward, and never past now. ChirpStack's battery (the LoRaWAN DevStatusAns
 * percent) replaces baygate's only when baygate has none or ChirpStack heard the device
 * more recently than baygate did, so a fresher decoded reading is never overwritten.
 */
export async function applySync(c: Queryable, tenantId: string, devices: ListedDevice[], syncedAt: Date): Promise<SyncCounts> {
  const cols = columns(devices);
  const updated = await c.query<{ changed: boolean }>(
    `WITH proposed AS (
       SELECT d.id,
              coalesce(nullif(d.name, ''), x.name) AS name,
              coalesce(nullif(d.model, ''), x.profile) AS model,
              x.application_id::text AS application_id,
              greatest(d.last_seen_at, least(x.seen, now())) AS last_seen_at,
              CASE WHEN x.battery IS NOT NULL AND (d.battery IS NULL OR x.seen > d.last_seen_at) THEN x.battery ELSE d.battery END AS battery
         FROM ${LISTED}
         JOIN devices d ON d.dev_eui = x.dev_eui AND d.tenant_id = $8 AND d.deleted_at IS NULL
     ), next AS (
       SELECT p.*, (d.name, d.model, d.application_id, d.last_seen_at, d.battery)
                   IS DISTINCT FROM (p.name, p.model, p.application_id, p.last_seen_at, p.battery) AS changed
         FROM proposed p JOIN devices d ON d.id = p.id
     ), written AS (
       UPDATE devices d
          SET name = n.name, model = n.model, application_id = n.application_id, last_seen_at = n.last_seen_at,
              application_bound_by = CASE WHEN d.application_id IS DISTINCT FROM n.application_id THEN 'sync' ELSE d.application_bound_by END,
              application_bound_at = CASE WHEN d.application_id IS DISTINCT FROM n.application_id THEN now() ELSE d.application_bound_at END,
              battery = n.battery, updated_at = now()
         FROM next n
        WHERE d.id = n.id AND n.changed
       RETURNING d.id
     )
     SELECT changed FROM next`,
    [...cols, tenantId],
  );
  // Not registered anywhere (the ingest role reads every tenant's devices): the tenant may
  // register it. Only under applications still mapped when this transaction runs.
  const upserted = await c.query<{ dev_eui: string }>(
    `INSERT INTO chirpstack_devices AS cd (tenant_id, dev_eui, application_id, name, description, device_profile_name,
                                           last_seen_at, battery, synced_at)
     SELECT $8, x.dev_eui, x.application_id, x.name, x.description, x.profile, x.seen, x.battery, $9
       FROM ${LISTED}
       JOIN tenant_chirpstack_applications a ON a.application_id = x.application_id AND a.tenant_id = $8
      WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.dev_eui = x.dev_eui AND d.deleted_at IS NULL)
     ON CONFLICT (tenant_id, dev_eui) DO UPDATE SET
        application_id = EXCLUDED.application_id, name = EXCLUDED.name, description = EXCLUDED.description,
        device_profile_name = EXCLUDED.device_profile_name,
        last_seen_at = greatest(cd.last_seen_at, EXCLUDED.last_seen_at),
        battery = EXCLUDED.battery, synced_at = EXCLUDED.synced_at
     RETURNING dev_eui`,
    [...cols, tenantId, syncedAt],
  );
  const kept = upserted.rows.map((r) => r.dev_eui);
  const removed = await c.query(`DELETE FROM chirpstack_devices WHERE tenant_id = $1 AND dev_eui <> ALL($2::text[])`, [tenantId, kept]);
  const registered = updated.rows.length;
  return {
    listed: devices.length,
    registered,
    updated: updated.rows.filter((r) => r.changed).length,
    unclaimed: kept.length,
    registered_elsewhere: devices.length - registered - kept.length,
    removed: removed.rowCount ?? 0,
  };
}

export interface UnclaimedRow {
  dev_eui: string;
  application_id: string | null;
  source: 'uplink' | 'chirpstack';
  name: string | null;
  device_profile_name: string | null;
  first_seen_at: Date | null;
  last_seen_at: Date | null;
  /** bigint: node-postgres returns it as text. */
  uplink_count: string | null;
  last_rssi: number | null;
  last_snr: number | null;
  last_gateway_eui: string | null;
  battery: number | null;
}

/**
 * The calling tenant's unregistered devices, merged by DevEUI: what ChirpStack lists in its
 * applications (chirpstack_devices, RLS-scoped) and what ingest heard from its applications
 * (baygate_unclaimed_uplinks(), which reads the tenant from the transaction). A DevEUI
 * ChirpStack lists is `chirpstack` even when it was heard too; its uplink facts are kept.
 */
export async function listUnclaimed(c: Queryable, limit: number, offset: number): Promise<{ items: UnclaimedRow[]; total: number }> {
  const r = await c.query<UnclaimedRow & { total: string }>(
    `WITH u AS (SELECT * FROM baygate_unclaimed_uplinks()),
     m AS (
       SELECT coalesce(c.dev_eui, u.dev_eui) AS dev_eui,
              coalesce(c.application_id, u.application_id)::text AS application_id,
              CASE WHEN c.dev_eui IS NULL THEN 'uplink' ELSE 'chirpstack' END AS source,
              c.name, c.device_profile_name, u.first_seen_at,
              greatest(c.last_seen_at, u.last_seen_at) AS last_seen_at,
              u.uplink_count, u.last_rssi, u.last_snr, u.last_gateway_eui, c.battery
         FROM chirpstack_devices c FULL JOIN u ON u.dev_eui = c.dev_eui
     )
     SELECT p.*, t.total
       FROM (SELECT count(*) AS total FROM m) t
       LEFT JOIN LATERAL (SELECT * FROM m ORDER BY last_seen_at DESC NULLS LAST, dev_eui LIMIT $1 OFFSET $2) p ON true`,
    [limit, offset],
  );
  return {
    items: r.rows.filter((x) => x.dev_eui !== null),
    total: Number(r.rows[0]?.total ?? 0),
  };
}
