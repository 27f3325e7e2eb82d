/**
 * Owns the SQL that persists the space state machine: locking the spaces a batch
 * touches, writing their new state, appending space_events and announcing them.
 */
import type { Queryable } from '../db/pool.js';
import type { SpaceSnapshot, SpaceState, SensorState } from '../domain/state-machine.js';
import { EVENT_ORDER_LOCK_SQL, SPACE_EVENTS_CHANNEL, encodeNotice, type SpaceEventNotice } from '../events.js';

export interface SpaceStateRow extends SpaceSnapshot {
  id: string;
  tenantId: string;
  siteId: string;
}

/**
 * Locks the given spaces (in id order, so concurrent writers cannot deadlock) and returns
 * their state, with the reservation that holds each one now (status 'active').
 *
 * FOR NO KEY UPDATE, not FOR UPDATE: it serialises state writers just the same, but does
 * not block inserts that merely reference a space (reservations, space_events take FOR KEY
 * SHARE for their foreign keys; https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-ROWS).
 *
 * The holding reservation is read by a second statement, after the lock is granted: under
 * READ COMMITTED each statement takes a new snapshot, so it sees what the previous holder of
 * the lock committed. Every change to a reservation's status or check-in is made while its
 * space is locked (API, jobs and ingest all lock here first), so this read is current.
 */
export async function lockSpaces(c: Queryable, ids: string[]): Promise<Map<string, SpaceStateRow>> {
  return spaceStates(c, ids, true);
}

/**
 * The same read without the lock, for a writer that decides first and locks only what it
 * will change (ingest: most uplinks are heartbeats that change nothing, and a row lock is a
 * write, with its WAL record). Such a writer must lock before writing and decide again if
 * a locked row differs from what it read.
 */
export async function readSpaces(c: Queryable, ids: string[]): Promise<Map<string, SpaceStateRow>> {
  return spaceStates(c, ids, false);
}

async function spaceStates(c: Queryable, ids: string[], lock: boolean): Promise<Map<string, SpaceStateRow>> {
  if (ids.length === 0) return new Map();
  const r = await c.query<{
    id: string;
    tenant_id: string;
    site_id: string;
    current_state: SpaceState;
    sensor_state: SensorState;
    maintenance: boolean;
  }>(
    `SELECT id, tenant_id, site_id, current_state, sensor_state, (maintenance OR NOT enabled) AS maintenance
       FROM spaces WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL
      ORDER BY id ${lock ? 'FOR NO KEY UPDATE' : ''}`,
    [ids],
  );
  if (r.rows.length === 0) return new Map();
  const held = await c.query<{ space_id: string; id: string; checked_in: boolean; checked_out: boolean }>(
    `SELECT DISTINCT ON (space_id) space_id, id, checked_in, checked_out_at IS NOT NULL AS checked_out
       FROM reservations WHERE space_id = ANY($1::uuid[]) AND status = 'active'
      ORDER BY space_id, start_time DESC`,
    [r.rows.map((s) => s.id)],
  );
  const heldBy = new Map(held.rows.map((h) => [h.space_id, { reservationId: h.id, checkedIn: h.checked_in, checkedOut: h.checked_out }]));
  return new Map(
    r.rows.map((s) => [
      s.id,
      {
        id: s.id,
        tenantId: s.tenant_id,
        siteId: s.site_id,
        currentState: s.current_state,
        sensorState: s.sensor_state,
        maintenance: s.maintenance,
        heldBy: heldBy.get(s.id) ?? null,
      },
    ]),
  );
}

export interface SpaceStateWrite {
  id: string;
  currentState: SpaceState;
  sensorState: SensorState;
  /** When current_state changed, the time of the change; null keeps state_changed_at. */
  changedAt: Date | null;
}

/** `s.id = ANY($1)`: the batch's rows by index, not a scan of all spaces (see writeDeviceHealth). */
export async function writeSpaceStates(c: Queryable, rows: SpaceStateWrite[]): Promise<void> {
  if (rows.length === 0) return;
  await c.query(
    `UPDATE spaces s SET current_state = x.current_state, sensor_state = x.sensor_state,
            state_changed_at = coalesce(x.changed_at, s.state_changed_at), updated_at = now()
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS x(id, current_state, sensor_state, changed_at)
      WHERE s.id = x.id AND s.id = ANY($1::uuid[])`,
    [rows.map((x) => x.id), rows.map((x) => x.currentState), rows.map((x) => x.sensorState), rows.map((x) => x.changedAt)],
  );
}

export interface SpaceEventRow {
  spaceId: string;
  siteId: string;
  from: SpaceState;
  to: SpaceState;
  cause: string;
  deviceId: string | null;
  reservationId: string | null;
  at: Date;
}

/**
 * Appends one tenant's space events and sends one NOTIFY per event (delivered at commit).
 * The per-tenant advisory lock makes event ids commit in order within a tenant, so a
 * reader resuming after id N never misses an event that commits later with a smaller id.
 */
export async function appendSpaceEvents(c: Queryable, tenantId: string, rows: SpaceEventRow[]): Promise<SpaceEventNotice[]> {
  if (rows.length === 0) return [];
  await c.query(EVENT_ORDER_LOCK_SQL, [tenantId]);
  const r = await c.query<{ id: number; space_id: string; to_state: string; at: Date }>(
    `INSERT INTO space_events (tenant_id, space_id, site_id, from_state, to_state, cause, device_id, reservation_id, at)
     SELECT $1, x.space_id, x.site_id, x.from_state, x.to_state, x.cause, x.device_id, x.reservation_id, x.at
       FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::uuid[], $8::uuid[],
                                $9::timestamptz[]) WITH ORDINALITY
                         AS x(space_id, site_id, from_state, to_state, cause, device_id, reservation_id, at, n)
      ORDER BY x.n
     RETURNING id, space_id, to_state, at`,
    [
      tenantId,
      rows.map((x) => x.spaceId),
      rows.map((x) => x.siteId),
      rows.map((x) => x.from),
      rows.map((x) => x.to),
      rows.map((x) => x.cause),
      rows.map((x) => x.deviceId),
      rows.map((x) => x.reservationId),
      rows.map((x) => x.at),
    ],
  );
  const notices = r.rows
    .sort((a, b) => a.id - b.id)
    .map((e) => ({ id: e.id, tenant_id: tenantId, space_id: e.space_id, to: e.to_state, at: e.at.toISOString() }));
  await c.query(`SELECT pg_notify($1, n) FROM unnest($2::text[]) AS n`, [SPACE_EVENTS_CHANNEL, notices.map(encodeNotice)]);
  return notices;
}
