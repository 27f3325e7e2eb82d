/**
 * display_downlinks: the reconciliation behind the display sender (ingest/displays.ts).
 * Every 15 s, elected like the other jobs, it (1) re-plans every display, which covers a
 * missed NOTIFY and reservations that began by the clock alone, and (2) sends downlinks
 * whose outcome did not arrive within DISPLAY_ACK_TIMEOUT_SECONDS back to pending, or fails
 * them after DISPLAY_MAX_ATTEMPTS; then NOTIFYs the sender, which publishes what is due.
 */
import { DISPLAY_DOWNLINKS_CHANNEL } from '../../src/events.js';
import { planDisplayDownlinks, timeOutDisplayDownlinks } from '../displays.js';
import type { JobDef } from './job.js';

export const displayDownlinksJob: JobDef = {
  name: 'display_downlinks',
  schedule: '5,20,35,50 * * * * *', // every 15 s, off the other jobs' ticks
  async run({ pool, log, config }) {
    const planned = await planDisplayDownlinks({ pool, log, config });
    const timedOut = await timeOutDisplayDownlinks({ pool });
    if (planned.queued > 0) await pool.query(`SELECT pg_notify($1, '')`, [DISPLAY_DOWNLINKS_CHANNEL]);
    if (planned.no_application > 0) {
      log.warn({ displays: planned.no_application }, 'displays without a ChirpStack application id (no uplink yet, no config.application_id) were not told their state');
    }
    if (planned.bad_application > 0) {
      // It would go into the command topic (ingest/displays.ts); a # there is a wildcard.
      log.warn({ displays: planned.bad_application }, 'displays whose ChirpStack application id is not a UUID were not told their state');
    }
    return { status: 'succeeded', counts: { ...planned, retried: timedOut.retried, timed_out_failed: timedOut.failed } };
  },
};
