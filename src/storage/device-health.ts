/**
 * Owns the SQL of the device_health job: finding assigned sensors silent past their
 * heartbeat (across tenants, with the ingest role's read policy), marking them offline,
 * recording gateway outages, and flagging low batteries.
 */
import type { Queryable } from '../db/pool.js';

/** A sensor silent for longer than this many heartbeats is offline. */
export const HEARTBEAT_TOLERANCE = 1.5;

/**
 * The gateways that "recently heard" a device: those of its readings within this many hours
 * before it went silent, plus the last one. A day covers every decoder's heartbeat, so a
 * device heard through two gateways counts both.
 */
export const RECENT_GATEWAY_HOURS = 24;

export interface Thresholds {
  /** The job's clock. */
  now: Date;
  /** Per decoder name: heartbeat minutes and low-battery percent. */
  decoders: { name: string; heartbeatMinutes: number; lowBatteryPercent: number }[];
  defaultHeartbeatMinutes: number;
  defaultLowBatteryPercent: number;
  gatewayOfflineMinutes: number;
}

export interface SilentSensor {
  id: string;
  tenantId: string;
  spaceId: string;
  /** When it was last heard, or assigned if never. */
  silentSince: Date;
  /** It counts as offline after this instant. */
  deadline: Date;
  /** Ids of the gateways that recently heard it, when every one of them is offline; else empty. */
  offlineGateways: string[];
  /** Those gateways' last_seen_at, in the same order. */
  offlineGatewaysSince: Date[];
}

/**
 * The heartbeat of a device: its config.heartbeat_minutes, else its decoder's, else the
 * tenant's settings.heartbeat_minutes, else the configured default. A device without a
 * decoder relies on its ChirpStack codec, whose period baygate cannot know, so it falls
 * through to the tenant and configured defaults.
 */
const HEARTBEAT_SQL = `coalesce(
    CASE WHEN d.config ->> 'heartbeat_minutes' ~ '^[0-9]{1,6}$' THEN (d.config ->> 'heartbeat_minutes')::int END,
    dec.heartbeat,
    CASE WHEN t.settings ->> 'heartbeat_minutes' ~ '^[0-9]{1,6}$' THEN (t.settings ->> 'heartbeat_minutes')::int END,
    $4::int)`;

/**
 * Assigned, enabled sensors not yet offline (or in maintenance) whose silence passed
 * HEARTBEAT_TOLERANCE × heartbeat at `now`; `deviceIds` narrows to those devices (the
 * re-check under a tenant's setting, after its spaces are locked).
 */
export async function findSilentSensors(c: Queryable, th: Thresholds, deviceIds: string[] | null = null): Promise<SilentSensor[]> {
  const r = await c.query<SilentSensor>(
    `WITH dec(name, heartbeat) AS (SELECT * FROM unnest($2::text[], $3::int[])),
     silent AS (
       SELECT d.id, d.tenant_id, d.assigned_space_id, d.last_seen_at, d.last_gateway_eui,
              coalesce(d.last_seen_at, d.assigned_at) AS silent_since,
              coalesce(d.last_seen_at, d.assigned_at) + make_interval(mins => 1) * (${HEARTBEAT_SQL} * $5::float8) AS deadline
         FROM devices d
         JOIN tenants t ON t.id = d.tenant_id
         LEFT JOIN dec ON dec.name = d.decoder
        WHERE d.deleted_at IS NULL AND d.enabled AND d.device_type = 'sensor'
          AND d.assigned_space_id IS NOT NULL AND d.status = 'assigned'
          AND ($7::uuid[] IS NULL OR d.id = ANY($7::uuid[])))
     SELECT s.id, s.tenant_id AS "tenantId", s.assigned_space_id AS "spaceId", s.silent_since AS "silentSince", s.deadline,
            coalesce(gw.ids, '{}') AS "offlineGateways", coalesce(gw.since, '{}') AS "offlineGatewaysSince"
       FROM silent s
       LEFT JOIN LATERAL (
         SELECT array_agg(g.id ORDER BY g.id) AS ids, array_agg(g.last_seen_at ORDER BY g.id) AS since,
                bool_and(g.last_seen_at < $1::timestamptz - make_interval(mins => $6)) AS all_offline
           FROM gateways g
          WHERE g.tenant_id = s.tenant_id AND g.deleted_at IS NULL AND g.last_seen_at IS NOT NULL
            AND g.gateway_eui IN (
              SELECT r.gateway_eui FROM sensor_readings r
               WHERE r.device_id = s.id AND r.gateway_eui IS NOT NULL
                 AND r.received_at >= s.last_seen_at - make_interval(hours => $8)
              UNION SELECT s.last_gateway_eui)
       ) gw0 ON true
       LEFT JOIN LATERAL (SELECT gw0.ids, gw0.since WHERE gw0.all_offline) gw ON true
      WHERE s.deadline < $1::timestamptz
      ORDER BY s.tenant_id, s.id`,
    [
      th.now,
      th.decoders.map((d) => d.name),
      th.decoders.map((d) => d.heartbeatMinutes),
      th.defaultHeartbeatMinutes,
      HEARTBEAT_TOLERANCE,
      th.gatewayOfflineMinutes,
      deviceIds,
      RECENT_GATEWAY_HOURS,
    ],
  );
  return r.rows;
}

/** Marks devices offline; returns the ids it changed (those an uplink did not bring back meanwhile). */
export async function markOffline(c: Queryable, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const r = await c.query<{ id: string }>(
    `UPDATE devices SET status = 'offline', updated_at = now()
      WHERE id = ANY($1::uuid[]) AND status = 'assigned' AND deleted_at IS NULL
      RETURNING id`,
    [ids],
  );
  return r.rows.map((x) => x.id);
}

export interface GatewayOutage {
  gatewayId: string;
  since: Date;
  deviceCount: number;
}

/** Records one gateway_offline event per outage; returns how many were new. */
export async function recordGatewayOutages(c: Queryable, tenantId: string, at: Date, rows: GatewayOutage[]): Promise<number> {
  if (rows.length === 0) return 0;
  const r = await c.query(
    `INSERT INTO gateway_events (tenant_id, gateway_id, kind, since, device_count, at)
     SELECT $1, x.gateway_id, 'gateway_offline', x.since, x.n, $2
       FROM unnest($3::uuid[], $4::timestamptz[], $5::int[]) AS x(gateway_id, since, n)
     ON CONFLICT (gateway_id, kind, since) DO NOTHING`,
    [tenantId, at, rows.map((x) => x.gatewayId), rows.map((x) => x.since), rows.map((x) => x.deviceCount)],
  );
  return r.rowCount ?? 0;
}

export interface GatewayEvent {
  id: string;
  gateway_id: string;
  kind: string;
  since: Date;
  device_count: number;
  at: Date;
}

/** A gateway's events, newest first. */
export async function listGatewayEvents(c: Queryable, gatewayId: string, limit: number): Promise<GatewayEvent[]> {
  const r = await c.query<GatewayEvent>(
    `SELECT id::text AS id, gateway_id, kind, since, device_count, at FROM gateway_events
      WHERE gateway_id = $1 ORDER BY at DESC, id DESC LIMIT $2`,
    [gatewayId, limit],
  );
  return r.rows;
}

/**
 * Devices whose battery percent is below their decoder's threshold (the configured one
 * without a decoder) and not yet flagged: the percent may come from a `status` event
 * (DevStatusAns), which knows no decoder. Returns (tenant, id) pairs.
 */
export async function findUnflaggedLowBattery(c: Queryable, th: Thresholds): Promise<{ tenantId: string; id: string }[]> {
  const r = await c.query<{ tenantId: string; id: string }>(
    `SELECT d.tenant_id AS "tenantId", d.id
       FROM devices d
       LEFT JOIN unnest($1::text[], $2::int[]) AS dec(name, pct) ON dec.name = d.decoder
      WHERE d.deleted_at IS NULL AND NOT d.low_battery AND d.battery IS NOT NULL
        AND d.battery < coalesce(dec.pct, $3::int)
      ORDER BY d.tenant_id, d.id`,
    [th.decoders.map((d) => d.name), th.decoders.map((d) => d.lowBatteryPercent), th.defaultLowBatteryPercent],
  );
  return r.rows;
}

export async function flagLowBattery(c: Queryable, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const r = await c.query(`UPDATE devices SET low_battery = true, updated_at = now() WHERE id = ANY($1::uuid[]) AND NOT low_battery`, [ids]);
  return r.rowCount ?? 0;
}
