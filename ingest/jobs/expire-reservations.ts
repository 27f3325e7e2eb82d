/**
 * expire_reservations: applies every reservation change that has fallen due (database
 * time): pending → active at the start, active → no_show after the no-show window without
 * a check-in, active → completed/expired at the end. Each change reaches its space through
 * the state machine (src/reservation-transitions.ts), with a space_event and NOTIFY.
 *
 * Runs every minute as a safety net, and from the precise timer (reservation-timer.ts)
 * at the instant something falls due, so transitions do not wait for the minute.
 */
import type { Pool } from '../../src/db/pool.js';
import { setTenant, withTx } from '../../src/db/tx.js';
import { applyDueReservations } from '../../src/reservation-transitions.js';
import { dueReservations, type DueReservation } from '../../src/storage/reservations.js';
import type { JobCounts } from '../../src/storage/jobs.js';
import type { JobDef } from './job.js';

/** Reservations per pass, one transaction each: bounds how long spaces stay locked. */
export const PASS_LIMIT = 500;
/** Passes per sweep; what is left waits for the next tick or timer (it keeps being due). */
const MAX_PASSES = 50;

/**
 * Serialises sweeps across processes: the precise timers of two replicas fire at the same
 * instant, and the minute tick may coincide with a timer. Transaction-scoped, so a crashed
 * sweeper never leaves it held. (Correctness does not depend on it: every change is a
 * conditional UPDATE under the space lock; it only saves the loser the work.)
 */
const SWEEP_LOCK_KEY = 727_005;

export interface SweepCounts extends JobCounts {
  activated: number;
  no_shows: number;
  completed: number;
  expired: number;
  transitions: number;
  passes: number;
}

/**
 * `busy`: another process was sweeping and `wait` was false; nothing was done.
 * `startedAt`: database time of the first pass.
 */
export async function sweepReservations(
  pool: Pool,
  noShowDefaultMinutes: number,
  opts: { wait: boolean },
): Promise<{ busy: boolean; counts: SweepCounts; startedAt: Date | null }> {
  const counts: SweepCounts = { activated: 0, no_shows: 0, completed: 0, expired: 0, transitions: 0, passes: 0 };
  let startedAt: Date | null = null;
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const outcome = await withTx(pool, {}, async (c) => {
      if (opts.wait) {
        await c.query('SELECT pg_advisory_xact_lock($1)', [SWEEP_LOCK_KEY]);
      } else {
        const got = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [SWEEP_LOCK_KEY]);
        if (!got.rows[0]!.ok) return 'busy' as const;
      }
      // Judged with no tenant set: the ingest_read policies show every tenant's rows.
      const { now, due } = await dueReservations(c, noShowDefaultMinutes, PASS_LIMIT);
      startedAt ??= now;
      const byTenant = new Map<string, DueReservation[]>();
      for (const d of due) byTenant.set(d.tenantId, [...(byTenant.get(d.tenantId) ?? []), d]);
      let changed = 0;
      // Tenants in id order, as ingest/apply.ts takes them: the same lock order, no deadlock.
      for (const [tenantId, items] of [...byTenant].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        await setTenant(c, tenantId);
        const r = await applyDueReservations(c, tenantId, items, now);
        changed += r.changed.size;
        counts.transitions += r.transitions.length;
        for (const status of r.changed.values()) {
          if (status === 'active') counts.activated++;
          else if (status === 'no_show') counts.no_shows++;
          else if (status === 'completed') counts.completed++;
          else if (status === 'expired') counts.expired++;
        }
      }
      return { found: due.length, changed };
    });
    if (outcome === 'busy') return { busy: true, counts, startedAt };
    if (outcome.found === 0) break;
    counts.passes++;
    // Another pass: an activation can make a no-show due at once (the job was not running),
    // and a full pass may have left more. A pass that changed nothing found only rows that
    // moved under it (a check-in, a cancel); they are no longer due.
    if (outcome.changed === 0) break;
  }
  return { busy: false, counts, startedAt };
}

export const expireReservations: JobDef = {
  name: 'expire_reservations',
  schedule: '0 * * * * *', // every minute, on the minute
  async run({ pool, config }) {
    const { counts } = await sweepReservations(pool, config.noShowDefaultMinutes, { wait: true });
    return { status: 'succeeded', counts };
  },
};
