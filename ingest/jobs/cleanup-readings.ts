/**
 * cleanup_readings: deletes sensor readings older than READING_RETENTION_DAYS, tenant by
 * tenant (the ingest role deletes only under a tenant's setting), in bounded batches so no
 * transaction holds many row locks or a long snapshot.
 */
import { withTx } from '../../src/db/tx.js';
import { deleteReadingsOlderThan } from '../../src/storage/readings.js';
import { listTenantIds } from '../../src/storage/tenants.js';
import type { JobDef } from './job.js';

/** Rows per DELETE: large enough to make progress, small enough to keep each transaction short. */
export const READING_DELETE_BATCH = 5_000;

export const cleanupReadings: JobDef = {
  name: 'cleanup_readings',
  schedule: '0 30 3 * * *', // daily, 03:30 UTC
  async run({ pool, config }) {
    const tenants = await withTx(pool, {}, (c) => listTenantIds(c));
    let deleted = 0;
    let batches = 0;
    for (const tenantId of tenants) {
      for (;;) {
        const n = await withTx(pool, { tenantId }, (c) => deleteReadingsOlderThan(c, config.readingRetentionDays, READING_DELETE_BATCH));
        deleted += n;
        batches++;
        if (n < READING_DELETE_BATCH) break;
      }
    }
    return { status: 'succeeded', counts: { deleted, tenants: tenants.length, batches } };
  },
};
