/**
 * cleanup_bookkeeping: removes what only needs to be kept a while: idempotency keys past
 * their 24 h (per tenant, under its setting) and job_runs records past JOB_RUNS_RETENTION_DAYS.
 */
import { withTx } from '../../src/db/tx.js';
import { deleteExpiredIdempotencyKeys } from '../../src/storage/reservations.js';
import { deleteJobRunsOlderThan } from '../../src/storage/jobs.js';
import { listTenantIds } from '../../src/storage/tenants.js';
import type { JobDef } from './job.js';

const DELETE_BATCH = 5_000;
/** A month of run history: enough to see a pattern in failures, small enough to forget. */
export const JOB_RUNS_RETENTION_DAYS = 30;

export const cleanupBookkeeping: JobDef = {
  name: 'cleanup_bookkeeping',
  schedule: '0 10 * * * *', // hourly
  async run({ pool }) {
    const tenants = await withTx(pool, {}, (c) => listTenantIds(c));
    let keys = 0;
    for (const tenantId of tenants) {
      for (;;) {
        const n = await withTx(pool, { tenantId }, (c) => deleteExpiredIdempotencyKeys(c, DELETE_BATCH));
        keys += n;
        if (n < DELETE_BATCH) break;
      }
    }
    let runs = 0;
    for (;;) {
      const n = await withTx(pool, {}, (c) => deleteJobRunsOlderThan(c, JOB_RUNS_RETENTION_DAYS, DELETE_BATCH));
      runs += n;
      if (n < DELETE_BATCH) break;
    }
    return { status: 'succeeded', counts: { idempotency_keys_deleted: keys, job_runs_deleted: runs } };
  },
};
