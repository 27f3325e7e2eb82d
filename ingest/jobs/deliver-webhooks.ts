/**
 * deliver_webhooks: turns space_events and tenant_events (reservations, device health;
 * migrations/0012) into deliveries for each enabled subscription and sends them, signed,
 * oldest first (issue 7). Runs every 10 s and whenever either source's NOTIFY wakes it
 * (ingest/jobs/wake.ts).
 *
 * A subscription's fan-out runs under its row lock (FOR UPDATE SKIP LOCKED) and each send
 * under an advisory claim (claimSubscriptionForSend): another replica or overlapping run
 * skips it, so nothing is sent twice by two workers, and only the head of its queue is ever
 * sent, so its events arrive in order. Delivery is at-least-once:
 * a send whose outcome could not be recorded is sent again. A failure waits the configured
 * schedule (WEBHOOK_RETRY_SCHEDULE_SECONDS, ±20 % jitter so receivers recovering from an
 * outage are not hit by every retry at once); after WEBHOOK_DISABLE_AFTER_FAILURES consecutive
 * failures the subscription is disabled, with the reason, and a NOTIFY is sent (the API forwards
 * it to the tenant's admins on the live stream; ingest counts it as outcome `disabled`).
 */
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import type { Logger } from '../../src/log.js';
import { WEBHOOK_DISABLED_CHANNEL, encodeWebhookDisabled } from '../../src/events.js';
import {
  claimSubscriptionForSend, disableSubscription, enabledSubscriptions, fanOut, lockSubscription, markDelivered, markFailed, queueHead,
} from '../../src/storage/webhook-subscriptions.js';
import { SEQUENCE_BATCH, sequenceTenantEvents, tenantsWithUnsequencedEvents } from '../../src/storage/tenant-events.js';
import { sendWebhook } from '../../src/webhooks/target.js';
import type { JobDef } from './job.js';

/** Events read per subscription per transaction, of each source. */
const FAN_OUT_BATCH = 1_000;
/** Sends per subscription per run, so one busy subscription does not hold the run forever. */
const MAX_SENDS_PER_RUN = 100;
const JITTER = 0.2;

export interface DeliverOptions {
  pool: Pool;
  log: Logger;
  timeoutMs: number;
  allowPrivate: boolean;
  retryScheduleSeconds: readonly number[];
  disableAfterFailures: number;
  random?: () => number;
}

export function retryDelaySeconds(schedule: readonly number[], attempt: number, random: () => number = Math.random): number {
  const base = schedule[Math.min(attempt, schedule.length) - 1] ?? 0;
  return base * (1 - JITTER + 2 * JITTER * random());
}

export async function deliverWebhooks(o: DeliverOptions): Promise<{ created: number; delivered: number; failed: number; disabled: number }> {
  const counts = { created: 0, delivered: 0, failed: 0, disabled: 0 };
  // Committed tenant events get their place in commit order before anything is fanned out.
  for (const tenantId of await withTx(o.pool, {}, (c) => tenantsWithUnsequencedEvents(c))) {
    while ((await withTx(o.pool, { tenantId }, (c) => sequenceTenantEvents(c, tenantId))) === SEQUENCE_BATCH);
  }
  const subs = await withTx(o.pool, {}, (c) => enabledSubscriptions(c));
  for (const { id, tenant_id: tenantId } of subs) {
    // Fan-out, committed on its own so deliveries exist even if the sends below are cut short.
    for (;;) {
      const got = await withTx(o.pool, { tenantId }, async (c) => {
        const sub = await lockSubscription(c, id);
        if (!sub) return null;
        return fanOut(c, sub, FAN_OUT_BATCH);
      });
      if (!got) break;
      counts.created += got.created;
      if (got.read < FAN_OUT_BATCH) break;
    }
    // One transaction per send, under a claim that is not the row lock: an admin's PUT or
    // DELETE commits without waiting for the send under way and takes effect before the next
    // one (claimSubscriptionForSend reads `enabled` again).
    for (let sent = 0; sent < MAX_SENDS_PER_RUN; sent++) {
      const more = await withTx(o.pool, { tenantId }, async (c) => {
        const sub = await claimSubscriptionForSend(c, id);
        if (!sub) return false;
        const head = await queueHead(c, id);
        if (!head || !head.due) return false;
        const result = await sendWebhook({
          url: sub.url,
          secret: sub.secret,
          timeoutMs: o.timeoutMs,
          allowPrivate: o.allowPrivate,
          message: { id: head.id, type: head.type, created_at: head.created_at.toISOString(), data: head.data },
        });
        if (result.ok) {
          await markDelivered(c, head.id, result.status!);
          counts.delivered++;
          return true;
        }
        counts.failed++;
        const failures = await markFailed(c, head.id, {
          statusCode: result.status,
          error: result.error ?? 'failed',
          retryInSeconds: retryDelaySeconds(o.retryScheduleSeconds, head.attempts + 1, o.random),
        });
        o.log.info({ subscription: id, delivery: head.id, status: result.status, error: result.error, failures }, 'webhook delivery failed');
        if (failures >= o.disableAfterFailures) {
          const reason = `${failures} consecutive failed deliveries; last: ${result.error ?? 'failed'}`;
          const at = await disableSubscription(c, id, reason);
          await c.query(`SELECT pg_notify($1, $2)`, [
            WEBHOOK_DISABLED_CHANNEL,
            encodeWebhookDisabled({ tenant_id: tenantId, subscription_id: id, reason, at: at.toISOString() }),
          ]);
          o.log.warn({ subscription: id, tenantId, failures }, 'webhook subscription disabled');
          counts.disabled++;
          return false;
        }
        return true;
      });
      if (!more) break;
    }
  }
  return counts;
}

export const deliverWebhooksJob: JobDef = {
  name: 'deliver_webhooks',
  schedule: '*/10 * * * * *',
  async run({ pool, log, config }) {
    const counts = await deliverWebhooks({
      pool,
      log,
      timeoutMs: config.webhookTimeoutMs,
      allowPrivate: config.webhookAllowPrivate,
      retryScheduleSeconds: config.webhookRetryScheduleSeconds,
      disableAfterFailures: config.webhookDisableAfterFailures,
    });
    return { status: 'succeeded', counts };
  },
};
