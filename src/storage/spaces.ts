/** Owns the SQL for parking spaces and the operator's part of their state (maintenance, enabled). */
import type { Queryable } from '../db/pool.js';
import { SPACE_STATES, decide, type Cause, type Decision, type SensorState, type SpaceState } from '../domain/state-machine.js';
import { lockSpaces } from './space-state.js';
import { defaultSiteId } from './sites.js';

export interface SpaceInput {
  site_id?: string;
  code: string;
  name?: string | null;
  display_name?: string | null;
  enabled?: boolean;
  auto_release_minutes?: number | null;
  config?: Record<string, unknown>;
  /** Only 'maintenance' can be set; any other value ends maintenance (see nextOperatorState). */
  current_state?: SpaceState;
}

// ---------------------------------------------------------------------------------------
// Operator state: the one pure decision, kept apart from the SQL so it can be swapped for
// the space state machine (src/domain/state-machine.ts) when operator changes start to
// record space_events.

/** The facts about a space an operator's write can change or depends on. */
export interface OperatorFacts {
  currentState: SpaceState;
  sensorState: SensorState;
  /** The operator's maintenance flag (the column; a disabled space is in maintenance too). */
  maintenance: boolean;
  enabled: boolean;
}

export interface OperatorChange {
  currentState?: SpaceState;
  enabled?: boolean;
}

/** What a space starts as before any sensor has reported. */
export const NEW_SPACE: OperatorFacts = { currentState: 'unknown', sensorState: 'unknown', maintenance: false, enabled: true };

function fromSensor(s: SensorState): SpaceState {
  return s === 'occupied' ? 'occupied' : s === 'free' ? 'free' : 'unknown';
}

/**
 * The facts after an operator's write, or null when it asks for a state only sensors and
 * reservations may set. Rules:
 *   - current_state 'maintenance' sets the maintenance flag;
 *   - any other current_state while the space is in maintenance clears the flag (the
 *     state then follows the sensor; a disabled space stays in maintenance);
 *   - the state the space already has is accepted as a no-op (a PUT that echoes a GET);
 *   - anything else is refused;
 *   - enabled=false puts the space in maintenance, enabled=true takes it out unless flagged.
 * current_state is recomputed only when the space enters or leaves maintenance, so an
 * unrelated edit never disturbs a sensor- or reservation-driven state.
 */
export function nextOperatorState(prev: OperatorFacts, change: OperatorChange): OperatorFacts | null {
  const enabled = change.enabled ?? prev.enabled;
  let maintenance = prev.maintenance;
  if (change.currentState === 'maintenance') {
    maintenance = true;
  } else if (change.currentState !== undefined && change.currentState !== prev.currentState) {
    if (prev.currentState !== 'maintenance') return null;
    maintenance = false;
  }
  const wasDown = prev.maintenance || !prev.enabled;
  const down = maintenance || !enabled;
  const currentState = down === wasDown ? prev.currentState : down ? 'maintenance' : fromSensor(prev.sensorState);
  return { currentState, sensorState: prev.sensorState, maintenance, enabled };
}

// ---------------------------------------------------------------------------------------
// SQL

/**
 * The devices a space carries, derived from devices.assigned_space_id (the one place an
 * assignment is stored; devices_one_per_space makes each at most one row).
 */
const DEVICE_COLUMNS = `
  (SELECT d.id FROM devices d WHERE d.assigned_space_id = s.id AND d.device_type = 'sensor' AND d.deleted_at IS NULL) AS sensor_device_id,
  (SELECT d.id FROM devices d WHERE d.assigned_space_id = s.id AND d.device_type = 'display' AND d.deleted_at IS NULL) AS display_device_id`;

const COLUMNS = `s.id, s.tenant_id, s.site_id, s.code, s.name, s.display_name, s.enabled, s.auto_release_minutes,
  s.config, s.current_state, s.sensor_state, s.display_state, s.state_changed_at, s.created_at, s.updated_at,
  ${DEVICE_COLUMNS}`;

interface SpaceRow {
  id: string;
  tenant_id: string;
  site_id: string;
  code: string;
  name: string | null;
  display_name: string | null;
  enabled: boolean;
  auto_release_minutes: number | null;
  config: Record<string, unknown>;
  current_state: SpaceState;
  sensor_state: SensorState;
  display_state: string | null;
  state_changed_at: Date;
  sensor_device_id: string | null;
  display_device_id: string | null;
  created_at: Date;
  updated_at: Date;
}

/** A space as the API shows it. */
export function spaceJson(r: SpaceRow) {
  return {
    id: r.id,
    tenant_id: r.tenant_id,
    site_id: r.site_id,
    code: r.code,
    name: r.name,
    display_name: r.display_name,
    enabled: r.enabled,
    auto_release_minutes: r.auto_release_minutes,
    config: r.config,
    current_state: r.current_state,
    sensor_state: r.sensor_state,
    display_state: r.display_state,
    state_changed_at: r.state_changed_at,
    sensor_device_id: r.sensor_device_id,
    display_device_id: r.display_device_id,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

export type Space = ReturnType<typeof spaceJson>;

/** Why a write was refused, for the route to turn into a response. */
export type SpaceRefusal = 'missing' | 'site_missing' | 'no_default_site' | 'state_not_settable';

/**
 * Creates a space in the given site, or the tenant's default site when none is given.
 * The site must be live and visible (RLS hides other tenants' sites), so the insert
 * selects from it: no row, no space.
 */
export async function insertSpace(c: Queryable, tenantId: string, s: SpaceInput): Promise<Space | SpaceRefusal> {
  const siteId = s.site_id ?? (await defaultSiteId(c));
  if (siteId === null) return 'no_default_site';
  const facts = nextOperatorState(NEW_SPACE, { enabled: s.enabled, currentState: s.current_state });
  if (facts === null) return 'state_not_settable';
  const r = await c.query<SpaceRow>(
    `INSERT INTO spaces AS s (tenant_id, site_id, code, name, display_name, enabled, maintenance,
                              auto_release_minutes, config, current_state)
     SELECT $1, st.id, $3, $4, $5, $6, $7, $8, coalesce($9, '{}'::jsonb), $10
       FROM sites st WHERE st.id = $2 AND st.deleted_at IS NULL
     RETURNING ${COLUMNS}`,
    [
      tenantId,
      siteId,
      s.code,
      s.name ?? null,
      s.display_name ?? null,
      facts.enabled,
      facts.maintenance,
      s.auto_release_minutes ?? null,
      s.config ?? null,
      facts.currentState,
    ],
  );
  return r.rows[0] ? spaceJson(r.rows[0]) : 'site_missing';
}

export async function getSpace(c: Queryable, id: string): Promise<Space | null> {
  const r = await c.query<SpaceRow>(`SELECT ${COLUMNS} FROM spaces s WHERE s.id = $1 AND s.deleted_at IS NULL`, [id]);
  return r.rows[0] ? spaceJson(r.rows[0]) : null;
}

export interface SpaceFilter {
  site_id?: string;
  current_state?: SpaceState;
  enabled?: boolean;
  /** Only spaces occupied for longer than this many seconds (overstays), longest first. */
  occupied_longer_than_seconds?: number;
}

export async function listSpaces(
  c: Queryable,
  f: SpaceFilter,
  limit: number,
  offset: number,
): Promise<{ items: Space[]; total: number }> {
  // A filter left null matches every row.
  const where = `s.deleted_at IS NULL AND ($1::uuid IS NULL OR s.site_id = $1)
    AND ($2::text IS NULL OR s.current_state = $2) AND ($3::boolean IS NULL OR s.enabled = $3)
    AND ($4::float8 IS NULL OR (s.current_state = 'occupied' AND s.state_changed_at <= now() - make_interval(secs => $4)))`;
  const overstays = f.occupied_longer_than_seconds !== undefined;
  const params = [f.site_id ?? null, f.current_state ?? null, f.enabled ?? null, f.occupied_longer_than_seconds ?? null];
  const order = overstays ? 's.state_changed_at, s.id' : 's.created_at, s.id';
  const [rows, count] = await Promise.all([
    c.query<SpaceRow>(`SELECT ${COLUMNS} FROM spaces s WHERE ${where} ORDER BY ${order} LIMIT $5 OFFSET $6`, [
      ...params,
      limit,
      offset,
    ]),
    c.query<{ n: number }>(`SELECT count(*) AS n FROM spaces s WHERE ${where}`, params),
  ]);
  return { items: rows.rows.map(spaceJson), total: count.rows[0]!.n };
}

/** An applied update, and the state change it made, if any (the caller records the event). */
export interface SpaceUpdate {
  space: Space;
  transition: { from: SpaceState; to: SpaceState; cause: Cause } | null;
}

/**
 * Applies the given fields; a field left undefined keeps its value (PATCH), PUT passes
 * them all. The row is locked first so the decision sees what it overwrites. Entering or
 * leaving maintenance is a state-machine input (src/domain/state-machine.ts): it derives
 * the state the space returns to (a held reservation included) and names the transition,
 * which the caller appends as a space event. Flags and state are written in one statement
 * because the spaces CHECK ties them together.
 */
export async function updateSpace(c: Queryable, id: string, s: Partial<SpaceInput>): Promise<SpaceUpdate | SpaceRefusal> {
  const cur = await c.query<{ current_state: SpaceState; sensor_state: SensorState; maintenance: boolean; enabled: boolean }>(
    `SELECT current_state, sensor_state, maintenance, enabled FROM spaces WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`,
    [id],
  );
  const prev = cur.rows[0];
  if (!prev) return 'missing';
  const facts = nextOperatorState(
    { currentState: prev.current_state, sensorState: prev.sensor_state, maintenance: prev.maintenance, enabled: prev.enabled },
    { enabled: s.enabled, currentState: s.current_state },
  );
  if (facts === null) return 'state_not_settable';
  if (s.site_id !== undefined) {
    const site = await c.query(`SELECT 1 FROM sites WHERE id = $1 AND deleted_at IS NULL`, [s.site_id]);
    if (!site.rowCount) return 'site_missing';
  }
  const down = facts.maintenance || !facts.enabled;
  let decision: Decision | null = null;
  if (down !== (prev.maintenance || !prev.enabled)) {
    const snapshot = (await lockSpaces(c, [id])).get(id);
    if (!snapshot) return 'missing';
    decision = decide(snapshot, { type: 'maintenance', on: down });
  }
  const r = await c.query<SpaceRow>(
    `UPDATE spaces s SET
        site_id = coalesce($2, site_id),
        code = coalesce($3, code),
        name = CASE WHEN $4::boolean THEN $5 ELSE name END,
        display_name = CASE WHEN $6::boolean THEN $7 ELSE display_name END,
        auto_release_minutes = CASE WHEN $8::boolean THEN $9::integer ELSE auto_release_minutes END,
        config = coalesce($10, config),
        enabled = $11,
        maintenance = $12,
        current_state = coalesce($13, current_state),
        state_changed_at = CASE WHEN $14::boolean THEN now() ELSE state_changed_at END,
        updated_at = now()
      WHERE s.id = $1 AND s.deleted_at IS NULL
      RETURNING ${COLUMNS}`,
    [
      id,
      s.site_id ?? null,
      s.code ?? null,
      s.name !== undefined,
      s.name ?? null,
      s.display_name !== undefined,
      s.display_name ?? null,
      s.auto_release_minutes !== undefined,
      s.auto_release_minutes ?? null,
      s.config ?? null,
      facts.enabled,
      facts.maintenance,
      decision?.next.currentState ?? null,
      decision?.transition != null,
    ],
  );
  if (!r.rows[0]) return 'missing';
  return { space: spaceJson(r.rows[0]), transition: decision?.transition ?? null };
}

/** Soft delete: the row stays for history (readings, events), but no longer lists or gets. */
export async function deleteSpace(c: Queryable, id: string): Promise<boolean> {
  const r = await c.query(`UPDATE spaces SET deleted_at = now(), updated_at = now() WHERE id = $1 AND deleted_at IS NULL`, [id]);
  if (!r.rowCount) return false;
  // Devices in a deleted space are free to be assigned elsewhere.
  await c.query(
    `UPDATE devices SET assigned_space_id = NULL, assigned_at = NULL, status = 'unassigned',
            lifecycle_state = CASE WHEN enabled THEN 'provisioned' ELSE 'decommissioned' END, updated_at = now()
      WHERE assigned_space_id = $1`,
    [id],
  );
  return true;
}

export type StateCounts = Record<SpaceState, number>;

export interface SiteStats {
  site_id: string;
  site_name: string;
  total: number;
  by_state: StateCounts;
  occupancy_percent: number;
}

export interface SpaceStats {
  total: number;
  by_state: StateCounts;
  sites: SiteStats[];
}

function zeroCounts(): StateCounts {
  return Object.fromEntries(SPACE_STATES.map((s) => [s, 0])) as StateCounts;
}

/**
 * Share of the spaces in service (not in maintenance) that hold a vehicle, in percent
 * with one decimal; 0 when none is in service. Reserved-but-empty and unknown spaces
 * count as in service and not occupied.
 */
export function occupancyPercent(c: StateCounts, total: number): number {
  const inService = total - c.maintenance;
  return inService > 0 ? Math.round((c.occupied / inService) * 1000) / 10 : 0;
}

/** Counts per state for every live site (sites without spaces included), in one grouped query. */
export async function spaceStats(c: Queryable): Promise<SpaceStats> {
  const r = await c.query<{ site_id: string; site_name: string; state: SpaceState | null; n: number }>(
    `SELECT st.id AS site_id, st.name AS site_name, s.current_state AS state, count(s.id) AS n
       FROM sites st
       LEFT JOIN spaces s ON s.site_id = st.id AND s.deleted_at IS NULL
      WHERE st.deleted_at IS NULL
      GROUP BY st.id, s.current_state -- st.id is the key, so st's other columns may be selected
      ORDER BY st.is_default DESC, st.created_at, st.id`,
  );
  const overall = { total: 0, by_state: zeroCounts() };
  const sites = new Map<string, SiteStats>();
  for (const row of r.rows) {
    let site = sites.get(row.site_id);
    if (!site) {
      site = { site_id: row.site_id, site_name: row.site_name, total: 0, by_state: zeroCounts(), occupancy_percent: 0 };
      sites.set(row.site_id, site);
    }
    if (row.state === null) continue; // a site with no spaces
    site.total += row.n;
    site.by_state[row.state] += row.n;
    overall.total += row.n;
    overall.by_state[row.state] += row.n;
  }
  for (const site of sites.values()) site.occupancy_percent = occupancyPercent(site.by_state, site.total);
  return { ...overall, sites: [...sites.values()] };
}
