/**
 * Registers every scheduled job of the ingest process in one place, with croner's
 * `protect` (a run never overlaps its previous one in this process) and `catch` (a failing
 * run is logged, never thrown into the timer), and records each run in job_runs.
 *
 * Several ingest replicas each run this scheduler; the database elects the runner of each
 * tick (src/storage/jobs.ts electTick: a conditional upsert on database time), so each tick
 * runs once. Jobs act across tenants with the ingest role and write under each tenant's setting.
 */
import { hostname } from 'node:os';
import { Cron } from 'croner';
import type { Pool } from '../../src/db/pool.js';
import type { Logger } from '../../src/log.js';
import type { Config } from '../../src/config.js';
import { electTick, finishRun, insertFinishedRun, startRun, type JobRun, type JobTrigger } from '../../src/storage/jobs.js';
import { JOB_NAMES, type JobContext, type JobDef, type JobName, type JobResult } from './job.js';
import { expireReservations } from './expire-reservations.js';
import { cleanupReadings } from './cleanup-readings.js';
import { cleanupBookkeeping } from './cleanup-bookkeeping.js';
import { processWebhookSpool } from './process-webhook-spool.js';
import { syncChirpstack } from './sync-chirpstack.js';
import { detectOverstaysJob } from './overstay.js';
import { deliverWebhooksJob } from './deliver-webhooks.js';
import { deviceHealthJob } from './device-health.js';
import { displayDownlinksJob } from './display-downlinks.js';
import { startReservationTimer, type ReservationTimer } from './reservation-timer.js';
import { Coalescer, startWakeListener, type WakeListener } from './wake.js';
import { SPACE_EVENTS_CHANNEL, TENANT_EVENTS_CHANNEL, WEBHOOK_SPOOL_CHANNEL } from '../../src/events.js';

export { JOB_NAMES, type JobName };

/** Every job, in one list. */
export const JOBS: readonly JobDef[] = [
  expireReservations,
  cleanupReadings,
  cleanupBookkeeping,
  processWebhookSpool,
  syncChirpstack,
  detectOverstaysJob,
  deviceHealthJob,
  deliverWebhooksJob,
  displayDownlinksJob,
];

export interface JobsDeps {
  /** Ingest-role pool (baygate_ingest); the caller owns it and ends it after stop(). */
  pool: Pool;
  log: Logger;
  config: Config;
  now?: () => Date;
  /** croner patterns replacing the defaults, e.g. every second in tests. */
  schedules?: Partial<Record<JobName, string>>;
  /** The precise reservation timer (reservation-timer.ts); on unless false. */
  reservationTimer?: boolean;
  /** Names this scheduler in job_runs and job_schedule; default host:pid:n. */
  runnerId?: string;
  /** Called with every finished run (metrics). */
  onRun?: (run: JobRun) => void;
  /** With it, NOTIFYs wake the webhook jobs at once (ingest/jobs/wake.ts); without, they run on schedule only. */
  databaseUrl?: string;
  /** Called with the counts of every run that did not fail, woken runs included (metrics). */
  onCounts?: (job: JobName, counts: JobResult['counts']) => void;
  /** Called with each committed batch of ChirpStack events a job applied (the webhook spool), for metrics. */
  onBatch?: JobContext['onBatch'];
}

export interface TickStats {
  /** Ticks this scheduler was elected for and ran. */
  elected: number;
  /** Ticks another scheduler had already taken. */
  lost: number;
}

export interface Jobs {
  /** Stops scheduling and waits for runs in flight. */
  stop(): Promise<void>;
  /** Runs a job now, outside its schedule and without election; resolves with its job_runs record. */
  runOnce(name: JobName): Promise<JobRun>;
  stats(): Record<JobName, TickStats>;
}

let instances = 0;

/**
 * Two schedulers fire the same tick within milliseconds (clocks synchronised by NTP);
 * consecutive ticks are a period apart. Half a period separates the two cases with the
 * most room on both sides.
 */
function minGapSeconds(cron: Cron): number {
  const [a, b] = cron.nextRuns(2);
  if (!a || !b) throw new Error('a job schedule must repeat');
  return (b.getTime() - a.getTime()) / 2_000;
}

export function startJobs(deps: JobsDeps): Jobs {
  const { pool, config } = deps;
  const now = deps.now ?? (() => new Date());
  const runner = deps.runnerId ?? `${hostname()}:${process.pid}:${++instances}`;
  const log = deps.log.child({ component: 'jobs', runner });
  const inFlight = new Set<Promise<unknown>>();
  const stats = Object.fromEntries(JOB_NAMES.map((n) => [n, { elected: 0, lost: 0 }])) as Record<JobName, TickStats>;
  const byName = new Map(JOBS.map((j) => [j.name, j]));

  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    void p.then(
      () => inFlight.delete(p),
      () => inFlight.delete(p),
    );
    return p;
  };

  const finished = (run: JobRun, ms: number) => {
    const fields = { job: run.job, trigger: run.trigger, status: run.status, counts: run.counts, ms };
    if (run.status === 'failed') log.error({ ...fields, error: run.error }, 'job run failed');
    else log.info(run.detail ? { ...fields, detail: run.detail } : fields, 'job run');
    deps.onRun?.(run);
  };

  /** One recorded run: a job_runs row from start to finish, whatever the job does. */
  async function execute(def: JobDef, trigger: JobTrigger): Promise<JobRun> {
    const started = now();
    const run = await startRun(pool, def.name, trigger, runner);
    let result: JobResult;
    try {
      result = await def.run({ pool, log: log.child({ job: def.name }), config, trigger, now, onBatch: deps.onBatch });
    } catch (err) {
      const failed = await finishRun(pool, run.id, { status: 'failed', counts: {}, detail: null, error: (err as Error).message });
      finished(failed, now().getTime() - started.getTime());
      return failed;
    }
    deps.onCounts?.(def.name, result.counts);
    const done = await finishRun(pool, run.id, { status: result.status, counts: result.counts, detail: result.detail ?? null, error: null });
    finished(done, now().getTime() - started.getTime());
    return done;
  }

  async function tick(def: JobDef, gapSeconds: number): Promise<void> {
    if (!(await electTick(pool, def.name, runner, gapSeconds))) {
      stats[def.name].lost++;
      log.debug({ job: def.name }, 'tick taken by another scheduler');
      return;
    }
    stats[def.name].elected++;
    await execute(def, 'schedule');
  }

  const crons = JOBS.map((def) => {
    let gapSeconds = 0;
    const cron = new Cron(
      deps.schedules?.[def.name] ?? def.schedule,
      {
        timezone: 'UTC',
        paused: true, // resumed below, once the election gap is known
        protect: () => log.warn({ job: def.name }, 'previous run still going; tick skipped'),
        catch: (err) => log.error({ job: def.name, err: (err as Error)?.message ?? String(err) }, 'job tick failed'),
      },
      () => track(tick(def, gapSeconds)),
    );
    gapSeconds = minGapSeconds(cron);
    cron.resume();
    return cron;
  });

  let timer: ReservationTimer | null = null;
  if (deps.reservationTimer !== false) {
    timer = startReservationTimer({
      pool,
      log,
      noShowDefaultMinutes: config.noShowDefaultMinutes,
      onSweep: async (startedAt, counts) => {
        const run = await insertFinishedRun(pool, { job: 'expire_reservations', trigger: 'timer', runner, startedAt, status: 'succeeded', counts });
        finished(run, now().getTime() - startedAt.getTime());
      },
    });
  }

  // Wake-ups: run a job's work now when a NOTIFY says there is some (see wake.ts).
  const wakers: Coalescer[] = [];
  let listener: Promise<WakeListener | null> = Promise.resolve(null);
  if (deps.databaseUrl) {
    const waker = (def: JobDef) => {
      const c = new Coalescer(
        async () => {
          const result = await def.run({ pool, log: log.child({ job: def.name }), config, trigger: 'timer', now, onBatch: deps.onBatch });
          deps.onCounts?.(def.name, result.counts);
        },
        (err) => log.error({ job: def.name, err: (err as Error)?.message ?? String(err) }, 'woken job run failed'),
      );
      wakers.push(c);
      return () => c.wake();
    };
    // Both event sources wake the one deliver_webhooks runner (one Coalescer, so never two runs at once).
    const deliver = waker(deliverWebhooksJob);
    // In the background: the schedules work without it, and it reconnects on its own once up.
    listener = startWakeListener({
      databaseUrl: deps.databaseUrl,
      log,
      channels: { [WEBHOOK_SPOOL_CHANNEL]: waker(processWebhookSpool), [SPACE_EVENTS_CHANNEL]: deliver, [TENANT_EVENTS_CHANNEL]: deliver },
    }).catch((err: Error) => {
      log.error({ err: err.message }, 'LISTEN for job wake-ups failed; webhook jobs run on schedule only');
      return null;
    });
  }

  log.info({ jobs: JOBS.map((j) => `${j.name} ${deps.schedules?.[j.name] ?? j.schedule}`), reservationTimer: timer !== null }, 'jobs scheduled');

  return {
    async stop() {
      for (const c of crons) c.stop();
      await (await listener)?.stop();
      await Promise.all(wakers.map((w) => w.stop()));
      await timer?.stop();
      await Promise.allSettled([...inFlight]);
    },
    runOnce(name) {
      const def = byName.get(name);
      if (!def) return Promise.reject(new Error(`unknown job ${name}`));
      return track(execute(def, 'manual'));
    },
    stats: () => structuredClone(stats),
  };
}
