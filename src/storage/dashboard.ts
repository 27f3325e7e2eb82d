/**
 * Owns the SQL behind the operator dashboard and the signage counts: device and gateway
 * health, ingest health, and a site's space counts in one indexed query.
 * Everything runs under the caller's tenant setting (RLS).
 */
import type { Queryable } from '../db/pool.js';
import { SPACE_STATES, type SpaceState } from '../domain/state-machine.js';
import { occupancyPercent, type StateCounts } from './spaces.js';

export const DEVICE_STATUSES = ['unassigned', 'assigned', 'offline', 'maintenance'] as const;
type DeviceStatus = (typeof DEVICE_STATUSES)[number];

export interface DeviceSummary {
  total: number;
  by_status: Record<DeviceStatus, number>;
  /** Heard from within DEVICE_OFFLINE_MINUTES (and not marked offline). */
  online: number;
  /** Heard from before, but not within DEVICE_OFFLINE_MINUTES, or marked offline. */
  offline: number;
  /** Registered, never heard from. */
  never_seen: number;
  /** Flagged low by its decoder or status event, or at or below LOW_BATTERY_PERCENT. */
  low_battery: number;
}

export async function deviceSummary(c: Queryable, t: { offlineMinutes: number; lowBatteryPercent: number }): Promise<DeviceSummary> {
  const r = await c.query<Record<string, number>>(
    `SELECT count(*) AS total,
            count(*) FILTER (WHERE status = 'unassigned') AS unassigned,
            count(*) FILTER (WHERE status = 'assigned') AS assigned,
            count(*) FILTER (WHERE status = 'offline') AS status_offline,
            count(*) FILTER (WHERE status = 'maintenance') AS maintenance,
            count(*) FILTER (WHERE status <> 'offline' AND last_seen_at >= now() - make_interval(mins => $1)) AS online,
            count(*) FILTER (WHERE last_seen_at IS NULL) AS never_seen,
            count(*) FILTER (WHERE low_battery OR battery <= $2) AS low_battery
       FROM devices WHERE deleted_at IS NULL`,
    [t.offlineMinutes, t.lowBatteryPercent],
  );
  const x = r.rows[0]!;
  return {
    total: x.total!,
    by_status: { unassigned: x.unassigned!, assigned: x.assigned!, offline: x.status_offline!, maintenance: x.maintenance! },
    online: x.online!,
    offline: x.total! - x.online! - x.never_seen!,
    never_seen: x.never_seen!,
    low_battery: x.low_battery!,
  };
}

export interface GatewaySummary {
  total: number;
  /** Carried an uplink of this tenant within GATEWAY_OFFLINE_MINUTES. */
  online: number;
  offline: number;
}

export async function gatewaySummary(c: Queryable, offlineMinutes: number): Promise<GatewaySummary> {
  const r = await c.query<{ total: number; online: number }>(
    `SELECT count(*) AS total, count(*) FILTER (WHERE last_seen_at >= now() - make_interval(mins => $1)) AS online
       FROM gateways WHERE deleted_at IS NULL`,
    [offlineMinutes],
  );
  const { total, online } = r.rows[0]!;
  return { total, online, offline: total - online };
}

export interface IngestHealth {
  /** The newest uplink from any of the tenant's devices. */
  last_uplink_at: Date | null;
  dead_letters_last_hour: number;
}

export async function ingestHealth(c: Queryable): Promise<IngestHealth> {
  const r = await c.query<IngestHealth>(
    `SELECT (SELECT max(last_seen_at) FROM devices WHERE deleted_at IS NULL) AS last_uplink_at,
            (SELECT count(*) FROM dead_letters WHERE received_at >= now() - interval '1 hour') AS dead_letters_last_hour`,
  );
  return r.rows[0]!;
}

// ---------------------------------------------------------------------------------------
// Signage

export interface OccupancyCounts extends StateCounts {
  total: number;
  occupancy_percent: number;
}

export interface SiteOccupancy extends OccupancyCounts {
  site_id: string;
  /** When a space of the site last changed state (the site's own update time when it has none). */
  updated_at: Date;
  /** With ?group=zone: the same counts per spaces' config.zone (null: spaces without one). */
  zones?: (OccupancyCounts & { zone: string | null })[];
}

interface CountRow extends Record<SpaceState, number> {
  zone: string | null;
  whole_site: boolean;
  total: number;
  updated_at: Date;
}

function counts(r: CountRow): OccupancyCounts {
  const by = Object.fromEntries(SPACE_STATES.map((s) => [s, r[s]])) as StateCounts;
  return { total: r.total, ...by, occupancy_percent: occupancyPercent(by, r.total) };
}

/**
 * A site's space counts by state, optionally also per zone, in one query: the counts come
 * from spaces_tenant_state_idx (tenant_id, site_id, current_state), no per-space work.
 * Null when the site does not exist (or is another tenant's).
 */
export async function siteOccupancy(c: Queryable, siteId: string, byZone: boolean): Promise<SiteOccupancy | null> {
  const zone = `s.config->>'zone'`;
  const r = await c.query<CountRow>(
    `SELECT ${byZone ? zone : 'NULL::text'} AS zone,
            ${byZone ? `GROUPING(${zone}) = 1` : 'true'} AS whole_site,
            count(s.id) AS total,
            ${SPACE_STATES.map((st) => `count(*) FILTER (WHERE s.current_state = '${st}') AS ${st}`).join(',\n            ')},
            coalesce(max(s.state_changed_at), max(st.updated_at)) AS updated_at
       FROM sites st
       LEFT JOIN spaces s ON s.site_id = st.id AND s.tenant_id = st.tenant_id AND s.deleted_at IS NULL
      WHERE st.id = $1 AND st.deleted_at IS NULL
      GROUP BY ${byZone ? `GROUPING SETS ((st.id), (st.id, ${zone}))` : 'st.id'}
      ORDER BY 2 DESC, 1 NULLS LAST`,
    [siteId],
  );
  const site = r.rows.find((x) => x.whole_site);
  if (!site) return null;
  const out: SiteOccupancy = { site_id: siteId, ...counts(site), updated_at: site.updated_at };
  if (byZone) out.zones = r.rows.filter((x) => !x.whole_site && x.total > 0).map((x) => ({ zone: x.zone, ...counts(x) }));
  return out;
}
