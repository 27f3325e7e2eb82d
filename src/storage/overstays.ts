/**
 * Owns the SQL that finds overstays: spaces occupied for longer than their
 * config.max_stay_minutes that have not yet had their `overstay` event this stay.
 */
import type { Queryable } from '../db/pool.js';
import { OVERSTAY_CAUSE } from './space-events.js';

export interface Overstay {
  spaceId: string;
  tenantId: string;
  siteId: string;
  /** When the stay passed max_stay_minutes: the event's `at`. */
  exceededAt: Date;
}

/**
 * Overstays as of `now`, across every tenant the caller may read (the ingest role reads
 * all) or only among `spaceIds`. "Once per stay" is the NOT EXISTS: an overstay event at
 * or after the moment the space became occupied (state_changed_at) means it was sent.
 * max_stay_minutes that is not a positive JSON number is ignored.
 */
export async function findOverstays(c: Queryable, now: Date, spaceIds: string[] | null = null): Promise<Overstay[]> {
  const r = await c.query<Overstay>(
    `WITH limited AS (
       SELECT s.id, s.tenant_id, s.site_id, s.state_changed_at,
              CASE WHEN jsonb_typeof(s.config->'max_stay_minutes') = 'number'
                   THEN (s.config->>'max_stay_minutes')::float8 END AS max_stay_minutes
         FROM spaces s
        WHERE s.deleted_at IS NULL AND s.current_state = 'occupied' AND s.config ? 'max_stay_minutes'
          AND ($2::uuid[] IS NULL OR s.id = ANY($2::uuid[]))
     )
     SELECT l.id AS "spaceId", l.tenant_id AS "tenantId", l.site_id AS "siteId",
            l.state_changed_at + make_interval(secs => l.max_stay_minutes * 60) AS "exceededAt"
       FROM limited l
      WHERE l.max_stay_minutes > 0
        AND l.state_changed_at + make_interval(secs => l.max_stay_minutes * 60) <= $1
        AND NOT EXISTS (SELECT 1 FROM space_events e
                         WHERE e.space_id = l.id AND e.cause = '${OVERSTAY_CAUSE}' AND e.at >= l.state_changed_at)
      ORDER BY l.tenant_id, l.id`,
    [now, spaceIds],
  );
  return r.rows;
}
