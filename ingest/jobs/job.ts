/** Owns the shape of a job: its name, default schedule and what one run does. */
import type { Pool } from '../../src/db/pool.js';
import type { Logger } from '../../src/log.js';
import type { Config } from '../../src/config.js';
import type { JobCounts, JobTrigger } from '../../src/storage/jobs.js';
import type { BatchResult } from '../apply.js';

export const JOB_NAMES = [
  'expire_reservations',
  'cleanup_readings',
  'cleanup_bookkeeping',
  'process_webhook_spool',
  'sync_chirpstack',
  'detect_overstays',
  'device_health',
  'deliver_webhooks',
  'display_downlinks',
] as const;
export type JobName = (typeof JOB_NAMES)[number];

export interface JobContext {
  /** Ingest-role pool: reads every tenant (ingest_read policies), writes under one tenant's setting. */
  pool: Pool;
  log: Logger;
  config: Config;
  trigger: JobTrigger;
  /**
   * The process clock, replaceable in tests. Due-ness is judged on database time (now() in
   * SQL) so replicas agree; this clock is for what only the process knows (durations).
   */
  now: () => Date;
  /** Called with each committed batch of ChirpStack events a job applied (process_webhook_spool), for metrics. */
  onBatch?: (result: BatchResult) => void;
}

export interface JobResult {
  status: 'succeeded' | 'skipped';
  counts: JobCounts;
  /** Why a run was skipped, for the log and job_runs.detail. */
  detail?: string;
}

export interface JobDef {
  name: JobName;
  /** croner pattern, six fields (seconds first), read in UTC. */
  schedule: string;
  run(ctx: JobContext): Promise<JobResult>;
}
