/**
 * Owns the SQL of the occupancy analytics, after the Curb Data Specification's Metrics API
 * (openmobilityfoundation/curb-data-specification, metrics/README.md, "Methodology"):
 * parking sessions derived from space_events, and per-bucket aggregates.
 *
 * Definitions, as implemented here:
 *   - A session starts with an event that makes a space `occupied` (from another state)
 *     and ends with that space's next change of state; its dwell time is the difference.
 *     It ends when the space becomes free, and also when it leaves `occupied` any other
 *     way (unknown, maintenance): `end_state` says which, since after `unknown` nobody
 *     saw the vehicle leave. Rows with from = to (the overstay notice) change nothing.
 *   - A session belongs to the bucket in which it started.
 *   - total_sessions: sessions that started in the bucket.
 *   - turnover: total_sessions per space observed in the bucket.
 *   - average_dwell_time: mean dwell (seconds) of those sessions that have ended.
 *   - occupancy_percent: time spaces were occupied / (spaces × bucket length). A space's
 *     time counts from its creation to its deletion (and never past now). As CDS reports
 *     −1 when the source was offline most of the period, a space that was `unknown` for
 *     more than half of its time in the bucket has occupancy −1 there and is left out of
 *     the site's figure; when every space of the site was, the site's figure is −1.
 *   - unknown_percent: time spaces were `unknown` / (spaces × bucket length), all spaces.
 *   - Buckets are whole hours or days of the site's time zone; the first holds `from`,
 *     the last holds the instant before `to`.
 */
import type { Queryable } from '../db/pool.js';

export type Interval = 'hour' | 'day';

export interface SessionFilter {
  siteId: string | null;
  spaceId: string | null;
  from: Date;
  to: Date;
}

export interface ParkingSession {
  space_id: string;
  code: string;
  site_id: string;
  started_at: Date;
  /** null while the space is still occupied. */
  ended_at: Date | null;
  /** null while the session is ongoing. */
  dwell_seconds: number | null;
  /** The state that ended the session: `free`, or `unknown`/`maintenance`/… when the sensor lost sight of it. */
  end_state: string | null;
  start_event_id: number;
  end_event_id: number | null;
  device_id: string | null;
}

/** The next change of state of the same space after event `e`: the end of the session `e` starts. */
const SESSION_END = `LEFT JOIN LATERAL (
      SELECT n.id, n.at, n.to_state FROM space_events n
       WHERE n.space_id = e.space_id AND n.from_state <> n.to_state AND (n.at, n.id) > (e.at, e.id)
       ORDER BY n.at, n.id LIMIT 1) x ON true`;

const SESSION_START = `e.to_state = 'occupied' AND e.from_state <> 'occupied'`;

/** Sessions that started in [from, to), oldest first. */
export async function listSessions(
  c: Queryable,
  f: SessionFilter,
  limit: number,
  offset: number,
): Promise<{ items: ParkingSession[]; total: number }> {
  const where = `($1::uuid IS NULL OR s.site_id = $1) AND ($2::uuid IS NULL OR s.id = $2)
     AND e.at >= $3 AND e.at < $4 AND ${SESSION_START}`;
  const params = [f.siteId, f.spaceId, f.from, f.to];
  const rows = await c.query<ParkingSession>(
    `SELECT e.space_id, s.code, s.site_id, e.at AS started_at, x.at AS ended_at,
            extract(epoch FROM x.at - e.at) AS dwell_seconds, x.to_state AS end_state,
            e.id AS start_event_id, x.id AS end_event_id, e.device_id
       FROM spaces s JOIN space_events e ON e.space_id = s.id
       ${SESSION_END}
      WHERE ${where}
      ORDER BY e.at, e.id LIMIT $5 OFFSET $6`,
    [...params, limit, offset],
  );
  const count = await c.query<{ n: number }>(
    `SELECT count(*) AS n FROM spaces s JOIN space_events e ON e.space_id = s.id WHERE ${where}`,
    params,
  );
  return { items: rows.rows, total: count.rows[0]!.n };
}

export interface SpaceBucketMetrics {
  space_id: string;
  /** −1: unknown for most of the bucket; null: the space did not exist then. */
  occupancy_percent: number | null;
  unknown_percent: number | null;
}

export interface BucketMetrics {
  site_id: string;
  start: Date;
  end: Date;
  /** Local date (YYYY-MM-DD) and hour (0–23; null for days) of the bucket's start, in the site's time zone. */
  date: string;
  hour: number | null;
  spaces: number;
  total_sessions: number;
  turnover: number | null;
  average_dwell_time: number | null;
  occupancy_percent: number | null;
  unknown_percent: number | null;
  per_space: SpaceBucketMetrics[] | null;
}

export interface OccupancyQuery {
  siteId: string | null;
  from: Date;
  to: Date;
  interval: Interval;
  perSpace: boolean;
}

/**
 * The metrics of every bucket of every (or one) site, in one statement. Each space's
 * timeline is rebuilt from space_events: its state at the start of the window (the last
 * event before it, else the first event's `from`, else its current state), then every
 * change inside the window; each segment is intersected with the buckets it overlaps.
 * Reads space_events through space_events_space_idx (space_id, at).
 */
export async function occupancyMetrics(c: Queryable, q: OccupancyQuery): Promise<BucketMetrics[]> {
  const r = await c.query<BucketMetrics>(
    `WITH st AS (
       SELECT id, timezone FROM sites WHERE deleted_at IS NULL AND ($1::uuid IS NULL OR id = $1)
     ),
     b AS (
       SELECT st.id AS site_id, st.timezone AS tz, g.start, g.finish
         FROM st CROSS JOIN LATERAL (
           -- Hours: steps of one absolute hour from the local hour that holds 'from', so a
           -- DST change gives a 23- or 25-bucket day, never a bucket of 0 or 2 hours.
           SELECT h AS start, h + interval '1 hour' AS finish
             FROM generate_series(date_trunc('hour', $2::timestamptz AT TIME ZONE st.timezone) AT TIME ZONE st.timezone,
                                  $3::timestamptz - interval '1 microsecond', interval '1 hour') AS h
            WHERE $4::text = 'hour'
           UNION ALL
           -- Days: local midnight to local midnight (23, 24 or 25 hours long).
           SELECT d AT TIME ZONE st.timezone, (d + interval '1 day') AT TIME ZONE st.timezone
             FROM generate_series(($2::timestamptz AT TIME ZONE st.timezone)::date::timestamp,
                                  (($3::timestamptz - interval '1 microsecond') AT TIME ZONE st.timezone)::date::timestamp,
                                  interval '1 day') AS d
            WHERE $4::text = 'day'
         ) g
     ),
     w AS (SELECT site_id, min(start) AS wstart, max(finish) AS wend FROM b GROUP BY site_id),
     sp AS (
       SELECT s.id, s.site_id, s.current_state, w.wstart, w.wend,
              greatest(w.wstart, s.created_at) AS obs_start,
              least(w.wend, s.deleted_at, now()) AS obs_end -- least() skips NULLs
         FROM spaces s JOIN w ON w.site_id = s.site_id
        WHERE s.created_at < w.wend AND (s.deleted_at IS NULL OR s.deleted_at > w.wstart)
     ),
     chg AS (
       SELECT sp.id AS space_id, sp.obs_start AS t, 0::bigint AS ord,
              coalesce(
                (SELECT e.to_state FROM space_events e WHERE e.space_id = sp.id AND e.at <= sp.obs_start ORDER BY e.at DESC, e.id DESC LIMIT 1),
                (SELECT e.from_state FROM space_events e WHERE e.space_id = sp.id AND e.at > sp.obs_start ORDER BY e.at, e.id LIMIT 1),
                sp.current_state) AS state
         FROM sp
       UNION ALL
       SELECT e.space_id, e.at, e.id, e.to_state
         FROM sp JOIN space_events e ON e.space_id = sp.id AND e.at > sp.obs_start AND e.at < sp.obs_end AND e.from_state <> e.to_state
     ),
     seg AS (
       SELECT c.space_id, c.state, c.t AS t0, lead(c.t, 1, sp.obs_end) OVER (PARTITION BY c.space_id ORDER BY c.t, c.ord) AS t1
         FROM chg c JOIN sp ON sp.id = c.space_id
     ),
     per_space AS (
       SELECT b.site_id, b.start, sp.id AS space_id,
              greatest(0, extract(epoch FROM least(b.finish, sp.obs_end) - greatest(b.start, sp.obs_start))) AS observed,
              coalesce(sum(extract(epoch FROM least(b.finish, seg.t1) - greatest(b.start, seg.t0)))
                       FILTER (WHERE seg.state = 'occupied'), 0) AS occupied,
              coalesce(sum(extract(epoch FROM least(b.finish, seg.t1) - greatest(b.start, seg.t0)))
                       FILTER (WHERE seg.state = 'unknown'), 0) AS unknown
         FROM b JOIN sp ON sp.site_id = b.site_id
         LEFT JOIN seg ON seg.space_id = sp.id AND seg.t0 < b.finish AND seg.t1 > b.start
        GROUP BY b.site_id, b.start, b.finish, sp.id, sp.obs_start, sp.obs_end
     ),
     agg_sp AS (
       SELECT site_id, start,
              count(*) FILTER (WHERE observed > 0) AS spaces,
              sum(occupied) FILTER (WHERE observed > 0 AND unknown * 2 <= observed) AS occupied_s,
              sum(observed) FILTER (WHERE observed > 0 AND unknown * 2 <= observed) AS reporting_s,
              sum(unknown) AS unknown_s,
              sum(observed) AS observed_s,
              CASE WHEN $5::boolean THEN json_agg(json_build_object(
                'space_id', space_id,
                'occupancy_percent', CASE WHEN observed = 0 THEN NULL WHEN unknown * 2 > observed THEN -1
                                          ELSE round(100 * occupied / observed, 2) END,
                'unknown_percent', CASE WHEN observed = 0 THEN NULL ELSE round(100 * unknown / observed, 2) END)
                ORDER BY space_id) END AS per_space
         FROM per_space GROUP BY site_id, start
     ),
     ses AS (
       SELECT sp.site_id, e.at AS started_at, x.at AS ended_at
         FROM sp JOIN space_events e ON e.space_id = sp.id AND e.at >= sp.wstart AND e.at < sp.wend AND ${SESSION_START}
         ${SESSION_END}
     ),
     agg_ses AS (
       SELECT b.site_id, b.start, count(*) AS sessions,
              avg(extract(epoch FROM s.ended_at - s.started_at)) FILTER (WHERE s.ended_at IS NOT NULL) AS avg_dwell
         FROM b JOIN ses s ON s.site_id = b.site_id AND s.started_at >= b.start AND s.started_at < b.finish
        GROUP BY b.site_id, b.start
     )
     SELECT b.site_id, b.start, b.finish AS "end",
            to_char(b.start AT TIME ZONE b.tz, 'YYYY-MM-DD') AS date,
            CASE WHEN $4::text = 'hour' THEN extract(hour FROM b.start AT TIME ZONE b.tz)::int END AS hour,
            coalesce(a.spaces, 0) AS spaces,
            coalesce(x.sessions, 0) AS total_sessions,
            CASE WHEN a.spaces > 0 THEN round(coalesce(x.sessions, 0)::numeric / a.spaces, 2) END AS turnover,
            round(x.avg_dwell, 1) AS average_dwell_time,
            CASE WHEN coalesce(a.spaces, 0) = 0 THEN NULL
                 WHEN coalesce(a.reporting_s, 0) = 0 THEN -1
                 ELSE round(100 * a.occupied_s / a.reporting_s, 2) END AS occupancy_percent,
            CASE WHEN coalesce(a.observed_s, 0) = 0 THEN NULL ELSE round(100 * a.unknown_s / a.observed_s, 2) END AS unknown_percent,
            a.per_space
       FROM b
       LEFT JOIN agg_sp a ON a.site_id = b.site_id AND a.start = b.start
       LEFT JOIN agg_ses x ON x.site_id = b.site_id AND x.start = b.start
      ORDER BY b.site_id, b.start`,
    [q.siteId, q.from, q.to, q.interval, q.perSpace],
  );
  return r.rows;
}
