/**
 * Owns the SQL for the ingest process's job bookkeeping: which scheduler runs a tick
 * (job_schedule) and what each run did (job_runs). Not tenant data: no RLS, ingest role only.
 */
import type { Queryable } from '../db/pool.js';

export type JobTrigger = 'schedule' | 'timer' | 'manual';
export type JobStatus = 'running' | 'succeeded' | 'failed' | 'skipped';
export type JobCounts = Record<string, number>;

export interface JobRun {
  id: number;
  job: string;
  trigger: JobTrigger;
  runner: string;
  started_at: Date;
  finished_at: Date | null;
  status: JobStatus;
  counts: JobCounts;
  detail: string | null;
  error: string | null;
}

const COLUMNS = 'id, job, trigger, runner, started_at, finished_at, status, counts, detail, error';

/**
 * Elects the caller to run this tick of `job`: true for exactly one of the schedulers that
 * fire it. The conditional upsert moves last_tick_at to now() (database time) only when the
 * last tick is at least `minGapSeconds` old; the schedulers of one tick arrive within
 * milliseconds of each other, so the first wins and the rest find the tick taken.
 * (The pattern pg-boss uses for its cron, on database time so replicas' clocks do not matter
 * beyond minGapSeconds.) A concurrent first insert is serialised by the primary key.
 */
export async function electTick(c: Queryable, job: string, runner: string, minGapSeconds: number): Promise<boolean> {
  const r = await c.query(
    `INSERT INTO job_schedule AS s (job, last_tick_at, last_runner) VALUES ($1, now(), $2)
     ON CONFLICT (job) DO UPDATE SET last_tick_at = now(), last_runner = $2
      WHERE s.last_tick_at <= now() - make_interval(secs => $3::float8)
     RETURNING 1`,
    [job, runner, minGapSeconds],
  );
  return (r.rowCount ?? 0) > 0;
}

export async function startRun(c: Queryable, job: string, trigger: JobTrigger, runner: string): Promise<JobRun> {
  const r = await c.query<JobRun>(
    `INSERT INTO job_runs (job, trigger, runner, status) VALUES ($1, $2, $3, 'running') RETURNING ${COLUMNS}`,
    [job, trigger, runner],
  );
  return r.rows[0]!;
}

export async function finishRun(
  c: Queryable,
  id: number,
  outcome: { status: Exclude<JobStatus, 'running'>; counts: JobCounts; detail: string | null; error: string | null },
): Promise<JobRun> {
  const r = await c.query<JobRun>(
    `UPDATE job_runs SET finished_at = now(), status = $2, counts = $3, detail = $4, error = $5
      WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, outcome.status, JSON.stringify(outcome.counts), outcome.detail, outcome.error],
  );
  return r.rows[0]!;
}

/** Records a run after the fact (precise-timer passes are recorded only when they changed something). */
export async function insertFinishedRun(
  c: Queryable,
  run: { job: string; trigger: JobTrigger; runner: string; startedAt: Date; status: Exclude<JobStatus, 'running'>; counts: JobCounts },
): Promise<JobRun> {
  const r = await c.query<JobRun>(
    `INSERT INTO job_runs (job, trigger, runner, started_at, finished_at, status, counts)
     VALUES ($1, $2, $3, $4, now(), $5, $6) RETURNING ${COLUMNS}`,
    [run.job, run.trigger, run.runner, run.startedAt, run.status, JSON.stringify(run.counts)],
  );
  return r.rows[0]!;
}

/** Deletes run records older than `days`, at most `limit` per call. */
export async function deleteJobRunsOlderThan(c: Queryable, days: number, limit: number): Promise<number> {
  const r = await c.query(
    `DELETE FROM job_runs WHERE id IN (
       SELECT id FROM job_runs WHERE started_at < now() - make_interval(days => $1) LIMIT $2)`,
    [days, limit],
  );
  return r.rowCount ?? 0;
}
