/**
 * Owns the SQL that reads space_events for delivery (the live stream, its resume, the
 * dashboard's recent activity) and the one definition of an event's type.
 *
 * Every reader runs under Row-Level Security with the tenant set (withTx), and each query
 * also names the tenant so the planner uses space_events_tenant_idx (tenant_id, id).
 */
import type { Queryable } from '../db/pool.js';

/** What a client can filter the stream on; every event has exactly one. */
export const EVENT_TYPES = ['space_state', 'reservation', 'device_health', 'overstay'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The cause of the space_events row written by the overstay check (ingest/jobs/overstay.ts). */
export const OVERSTAY_CAUSE = 'overstay';

/**
 * space_events.cause → type, the one place it is decided. Reservation causes are those of
 * the state machine (reservation_start/_end, check_in/_out) and whatever the reservations
 * code names `reservation_*` or `no_show`; a sensor that stops reporting (comms_lost), comes
 * back (comms_restored) or is taken off the space is device health; everything else is a plain change of state.
 */
export const EVENT_TYPE_SQL = `CASE
    WHEN e.cause = '${OVERSTAY_CAUSE}' THEN 'overstay'
    WHEN e.cause IN ('comms_lost', 'comms_restored', 'sensor_removed') THEN 'device_health'
    WHEN e.cause LIKE 'reservation%' OR e.cause IN ('check_in', 'check_out', 'no_show') THEN 'reservation'
    ELSE 'space_state' END`;

export interface SpaceEvent {
  id: number;
  type: EventType;
  space_id: string;
  code: string;
  site_id: string;
  from: string;
  to: string;
  cause: string;
  at: Date;
  device_id: string | null;
  reservation_id: string | null;
}

const COLUMNS = `e.id, ${EVENT_TYPE_SQL} AS type, e.space_id, s.code, e.site_id, e.from_state AS "from", e.to_state AS "to",
  e.cause, e.at, e.device_id, e.reservation_id`;

/** The event as clients see it (SSE `data:`, WebSocket `data`, dashboard recent_activity): no type, no tenant. */
export function eventJson(e: SpaceEvent) {
  return {
    id: e.id,
    space_id: e.space_id,
    code: e.code,
    site_id: e.site_id,
    from: e.from,
    to: e.to,
    cause: e.cause,
    at: e.at.toISOString(),
    device_id: e.device_id,
    reservation_id: e.reservation_id,
  };
}

/** A tenant's events after `afterId`, oldest first: what one wake-up of the live hub reads. */
export async function eventsAfter(c: Queryable, tenantId: string, afterId: number, limit: number): Promise<SpaceEvent[]> {
  const r = await c.query<SpaceEvent>(
    `SELECT ${COLUMNS} FROM space_events e JOIN spaces s ON s.id = e.space_id
      WHERE e.tenant_id = $1 AND e.id > $2 ORDER BY e.id LIMIT $3`,
    [tenantId, afterId, limit],
  );
  return r.rows;
}

/** The newest event id of a tenant (0 when it has none): where a new live feed starts. */
export async function lastEventId(c: Queryable, tenantId: string): Promise<number> {
  const r = await c.query<{ id: number | null }>(`SELECT max(id) AS id FROM space_events WHERE tenant_id = $1`, [tenantId]);
  return r.rows[0]?.id ?? 0;
}

export interface EventFilter {
  siteId: string | null;
  spaceId: string | null;
  /** null: every type. The live stream's types (api/live/filter.ts) also name its alerts, which no row matches. */
  types: readonly string[] | null;
}

/**
 * What a client resuming after `afterId` missed, oldest first, within the bound: the
 * newest `maxEvents` events matching its filter that are at most `maxHours` old. Also
 * returns the tenant's newest id, so a resume id from the future can be recognised.
 */
export async function missedEvents(
  c: Queryable,
  tenantId: string,
  afterId: number,
  filter: EventFilter,
  bound: { maxEvents: number; maxHours: number },
): Promise<{ events: SpaceEvent[]; lastId: number }> {
  const r = await c.query<SpaceEvent>(
    `SELECT * FROM (
       SELECT ${COLUMNS} FROM space_events e JOIN spaces s ON s.id = e.space_id
        WHERE e.tenant_id = $1 AND e.id > $2 AND e.at >= now() - make_interval(hours => $3)
          AND ($4::uuid IS NULL OR e.site_id = $4) AND ($5::uuid IS NULL OR e.space_id = $5)
          AND ($6::text[] IS NULL OR ${EVENT_TYPE_SQL} = ANY($6::text[]))
        ORDER BY e.id DESC LIMIT $7) newest
     ORDER BY id`,
    [tenantId, afterId, bound.maxHours, filter.siteId, filter.spaceId, filter.types, bound.maxEvents],
  );
  return { events: r.rows, lastId: await lastEventId(c, tenantId) };
}

/** The tenant's newest events, newest first (the dashboard's recent activity). */
export async function recentEvents(c: Queryable, tenantId: string, limit: number): Promise<SpaceEvent[]> {
  const r = await c.query<SpaceEvent>(
    `SELECT ${COLUMNS} FROM space_events e JOIN spaces s ON s.id = e.space_id
      WHERE e.tenant_id = $1 ORDER BY e.id DESC LIMIT $2`,
    [tenantId, limit],
  );
  return r.rows;
}
