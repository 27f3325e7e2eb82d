/**
 * The precise reservation timer: sleeps until the next reservation change falls due (a
 * start, an end, a no-show deadline; measured on database time) and sweeps then, so a
 * reservation that starts at 10:00:30 holds its space at 10:00:30, not at the next minute.
 *
 * It re-reads the next due time at least every REARM_MAX_MS, which is how it learns of
 * reservations created since it went to sleep: the worst case is a reservation created
 * less than REARM_MAX_MS before its start, applied up to REARM_MAX_MS late. (Reservations
 * created with their window already begun are activated by the API in the same transaction.)
 */
import type { Pool } from '../../src/db/pool.js';
import type { Logger } from '../../src/log.js';
import { msUntilNextDue } from '../../src/storage/reservations.js';
import { sweepReservations, type SweepCounts } from './expire-reservations.js';

/** Longest sleep between looks at the next due time: the bound on lateness above. */
export const REARM_MAX_MS = 500;
/** When another replica is sweeping, look again after this. */
const BUSY_RETRY_MS = 200;
/** After a database error, wait this long before trying again (the minute tick still runs). */
const ERROR_BACKOFF_MS = 5_000;

export interface ReservationTimer {
  stop(): Promise<void>;
}

export function startReservationTimer(deps: {
  pool: Pool;
  log: Logger;
  noShowDefaultMinutes: number;
  /** Called after a sweep that changed something, with when it started (database time). */
  onSweep: (startedAt: Date, counts: SweepCounts) => Promise<void>;
}): ReservationTimer {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> = Promise.resolve();

  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      timer = null;
      running = step();
    }, Math.max(0, ms));
  };

  async function step(): Promise<void> {
    let next = REARM_MAX_MS;
    try {
      const dueInMs = await msUntilNextDue(deps.pool, deps.noShowDefaultMinutes);
      if (dueInMs !== null && dueInMs <= 0 && !stopped) {
        const { busy, counts, startedAt } = await sweepReservations(deps.pool, deps.noShowDefaultMinutes, { wait: false });
        if (busy) {
          next = BUSY_RETRY_MS;
        } else {
          const changed = counts.activated + counts.no_shows + counts.completed + counts.expired;
          if (changed > 0 && startedAt) await deps.onSweep(startedAt, counts);
          // Look again at once (the next change may already be due), unless the due rows
          // moved under us (checked in, cancelled): then do not spin.
          next = changed > 0 ? 0 : REARM_MAX_MS;
        }
      } else if (dueInMs !== null) {
        next = Math.min(dueInMs, REARM_MAX_MS);
      }
    } catch (err) {
      deps.log.warn({ err: (err as Error).message }, 'reservation timer failed; retrying');
      next = ERROR_BACKOFF_MS;
    }
    schedule(next);
  }

  schedule(0);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },
  };
}
