/**
 * cleanup_bookkeeping: removes what only needs to be kept a while: idempotency keys past
 * their 24 h, delivered webhook deliveries and ended display downlinks past
 * WEBHOOK_DELIVERIES_RETENTION_DAYS and DISPLAY_DOWNLINKS_RETENTION_DAYS, the webhook
 * fan-out's tenant_events past TENANT_EVENTS_RETENTION_DAYS (per tenant, under its setting),
 * job_runs records past JOB_RUNS_RETENTION_DAYS, and what outsiders can make grow (issue 17
 * §5): dead letters past DEAD_LETTER_RETENTION_DAYS (each tenant's, then those tied to no
 * tenant), unclaimed devices silent for UNCLAIMED_DEVICES_RETENTION_DAYS and login attempts
 * past every login window.
 *
 * Dead letters are here rather than in a job of their own: the same hourly pass, the same
 * per-tenant loop and batch size, and an hour's lag on a month's retention is nothing.
 */
import { withTx } from '../../src/db/tx.js';
import { deleteExpiredIdempotencyKeys } from '../../src/storage/reservations.js';
import { deleteJobRunsOlderThan } from '../../src/storage/jobs.js';
import { listTenantIds } from '../../src/storage/tenants.js';
import { deleteDeliveredOlderThan } from '../../src/storage/webhook-subscriptions.js';
import { deleteEndedDownlinksOlderThan } from '../../src/storage/display-downlinks.js';
import { deleteTenantEventsOlderThan } from '../../src/storage/tenant-events.js';
import { deleteDeadLettersOlderThan } from '../../src/storage/dead-letters.js';
import { deleteUnclaimedNotSeenFor } from '../../src/storage/unclaimed.js';
import { deleteExpiredLoginAttempts } from '../../src/storage/login-attempts.js';
import type { JobDef } from './job.js';

const DELETE_BATCH = 5_000;
/** A month of run history: enough to see a pattern in failures, small enough to forget. */
export const JOB_RUNS_RETENTION_DAYS = 30;
/**
 * A week of delivered webhook deliveries, for a receiver's owner to look back on and to
 * redeliver (POST …/deliveries/{id}/redeliver): one row per event per subscription grows
 * fastest of all the bookkeeping.
 */
export const WEBHOOK_DELIVERIES_RETENTION_DAYS = 7;
/**
 * A month of the fan-out's outbox (reservation and device-health events; space_events are the
 * occupancy history and are kept). The fan-out reads it within seconds and each delivery keeps
 * its own copy, so this only matters to a subscription disabled for longer: re-enabled, it
 * resumes with the events of the last month.
 */
export const TENANT_EVENTS_RETENTION_DAYS = 30;
/** A month of what each sign was told and how it answered, for a technician chasing a faulty display. */
export const DISPLAY_DOWNLINKS_RETENTION_DAYS = 30;
/**
 * A month of silence for a DevEUI nobody registered. Anyone on the broker can invent
 * DevEUIs, each a row; a parking sensor awaiting registration is heard far more often than
 * monthly (DEVICE_HEARTBEAT_DEFAULT_MINUTES expects a status a day), so what goes is junk or
 * a sensor long gone. Registered later, such a device starts with no unclaimed history.
 */
export const UNCLAIMED_DEVICES_RETENTION_DAYS = 30;

/** Repeats a bounded delete until it deletes less than a full batch; returns the total. */
async function drain(step: () => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await step();
    total += n;
    if (n < DELETE_BATCH) return total;
  }
}

export const cleanupBookkeeping: JobDef = {
  name: 'cleanup_bookkeeping',
  schedule: '0 10 * * * *', // hourly
  async run({ pool, config }) {
    const tenants = await withTx(pool, {}, (c) => listTenantIds(c));
    const deadLetterDays = config.deadLetterRetentionDays;
    let keys = 0;
    let deliveries = 0;
    let downlinks = 0;
    let events = 0;
    let deadLetters = 0;
    for (const tenantId of tenants) {
      keys += await drain(() => withTx(pool, { tenantId }, (c) => deleteExpiredIdempotencyKeys(c, DELETE_BATCH)));
      deliveries += await drain(() => withTx(pool, { tenantId }, (c) => deleteDeliveredOlderThan(c, WEBHOOK_DELIVERIES_RETENTION_DAYS, DELETE_BATCH)));
      downlinks += await drain(() => withTx(pool, { tenantId }, (c) => deleteEndedDownlinksOlderThan(c, DISPLAY_DOWNLINKS_RETENTION_DAYS, DELETE_BATCH)));
      events += await drain(() => withTx(pool, { tenantId }, (c) => deleteTenantEventsOlderThan(c, tenantId, TENANT_EVENTS_RETENTION_DAYS, DELETE_BATCH)));
      deadLetters += await drain(() => withTx(pool, { tenantId }, (c) => deleteDeadLettersOlderThan(c, tenantId, deadLetterDays, DELETE_BATCH)));
    }
    // With no tenant set: those ingest tied to no tenant (bad JSON, unknown topic, unknown device).
    deadLetters += await drain(() => withTx(pool, {}, (c) => deleteDeadLettersOlderThan(c, null, deadLetterDays, DELETE_BATCH)));
    const unclaimed = await drain(() => withTx(pool, {}, (c) => deleteUnclaimedNotSeenFor(c, UNCLAIMED_DEVICES_RETENTION_DAYS, DELETE_BATCH)));
    const logins = await drain(() => withTx(pool, {}, (c) => deleteExpiredLoginAttempts(c, DELETE_BATCH)));
    const runs = await drain(() => withTx(pool, {}, (c) => deleteJobRunsOlderThan(c, JOB_RUNS_RETENTION_DAYS, DELETE_BATCH)));
    return {
      status: 'succeeded',
      counts: {
        idempotency_keys_deleted: keys,
        webhook_deliveries_deleted: deliveries,
        display_downlinks_deleted: downlinks,
        tenant_events_deleted: events,
        dead_letters_deleted: deadLetters,
        unclaimed_devices_deleted: unclaimed,
        login_attempts_deleted: logins,
        job_runs_deleted: runs,
      },
    };
  },
};
