/**
 * process_webhook_spool: applies ChirpStack events received over HTTP (api/routes/webhooks-inbound.ts
 * spools them) through the same code as MQTT events: applyBatch, with its dedup, decoders and
 * state machine, scoped to the tenant whose secret authenticated them. JSON and protobuf
 * (ChirpStack's two HTTP encodings) alike: each row keeps the encoding it arrived in. A
 * payload the parser cannot read is dead-lettered by applyBatch, as on MQTT; only a batch
 * that throws is retried.
 *
 * Runs every minute and whenever the API's NOTIFY wakes it (ingest/jobs/wake.ts). Rows are
 * claimed with FOR UPDATE SKIP LOCKED, so replicas and overlapping wake-ups share the work
 * without applying a row twice; a row is deleted in the transaction that applies it. A batch
 * that fails is retried one row at a time (each in a savepoint), so one bad row does not hold
 * the others back; a failing row waits an exponential backoff and after MAX_ATTEMPTS goes to
 * dead_letters.
 */
import type { Pool } from '../../src/db/pool.js';
import { setTenant, withRawTx, withTx } from '../../src/db/tx.js';
import type { Logger } from '../../src/log.js';
import { insertDeadLetters } from '../../src/storage/dead-letters.js';
import { claimDueRows, deferSpoolRow, deleteSpoolRows, tenantsWithDueRows, type SpoolRow } from '../../src/storage/webhook-spool.js';
import { DEFAULT_APPLICATION_ID, eventTopic } from '../../src/simulator/events.js';
import { applyBatch, type BatchResult, type InboundMessage } from '../apply.js';
import { compileTopicTemplate } from '../chirpstack.js';
import { eventDevice } from '../events/index.js';
import type { JobDef } from './job.js';

/** Attempts before a row moves to dead_letters (issue 7). */
export const MAX_ATTEMPTS = 5;
/** Rows applied per transaction: the pipeline's default batch size (INGEST_BATCH_MAX). */
const BATCH_SIZE = 500;
/** First retry after 10 s, doubling: 10, 20, 40, 80 s, then dead-lettered. */
const RETRY_BASE_SECONDS = 10;

export const spoolBackoffSeconds = (attempt: number): number => RETRY_BASE_SECONDS * 2 ** (attempt - 1);

export interface SpoolOptions {
  pool: Pool;
  log: Logger;
  /** CHIRPSTACK_EVENT_TOPIC: spooled events get the topic ChirpStack would have used. */
  template: string;
  /** INGEST_MAX_CLOCK_SKEW_SECONDS (ingest/apply.ts ApplyOptions). */
  maxClockSkewSeconds?: number;
  /** The batch applier; tests substitute one that fails to exercise retries. */
  apply?: typeof applyBatch;
  /** Seconds to wait after failed attempt n (1-based). */
  backoffSeconds?: (attempt: number) => number;
  /** Called with each committed batch's result (metrics; the live stream hears the NOTIFYs). */
  onBatch?: (result: BatchResult) => void;
}

export interface SpoolCounts {
  applied: number;
  retried: number;
  dead: number;
  [k: string]: number;
}

/**
 * The spooled event as the MQTT pipeline would have received it: the payload as sent, in the
 * encoding it arrived in, under the topic ChirpStack would have published it on (the
 * configured template), so the topic → handler table and every check on it
 * (dev_eui_mismatch) apply unchanged. The device is read from the payload in either encoding
 * (ingest/events eventDevice); one whose device cannot be read gets a placeholder DevEUI,
 * and its parser then dead-letters it with the reason.
 */
function toMessage(template: string, row: SpoolRow): InboundMessage {
  let devEui = '0000000000000000';
  let applicationId = DEFAULT_APPLICATION_ID;
  try {
    const d = eventDevice(row.event, row.payload, row.encoding);
    devEui = d.devEui;
    // '' when the payload names no application: the default stands in, as it always has.
    if (d.applicationId !== '') applicationId = d.applicationId;
  } catch {
    // Left to parseEvent, which dead-letters it with the reason.
  }
  return { topic: eventTopic(template, devEui, row.event, applicationId), payload: row.payload, encoding: row.encoding };
}


/** Applies every due row; returns what happened. */
export async function processSpool(o: SpoolOptions): Promise<SpoolCounts> {
  const topics = compileTopicTemplate(o.template);
  const apply = o.apply ?? applyBatch;
  const backoff = o.backoffSeconds ?? spoolBackoffSeconds;
  const counts: SpoolCounts = { applied: 0, retried: 0, dead: 0 };
  const tenants = await withTx(o.pool, {}, (c) => tenantsWithDueRows(c));
  for (const tenantId of tenants) {
    for (;;) {
      const claimed = await withRawTx(o.pool, async (c) => {
        await setTenant(c, tenantId);
        const rows = await claimDueRows(c, tenantId, BATCH_SIZE);
        if (rows.length === 0) return 0;
        const msgs = rows.map((r) => toMessage(o.template, r));
        await c.query('SAVEPOINT spool_batch');
        try {
          const result = await apply(c, topics, msgs, { scope: { tenantId }, maxClockSkewSeconds: o.maxClockSkewSeconds });
          await setTenant(c, tenantId);
          await deleteSpoolRows(c, rows.map((r) => r.id));
          await c.query('RELEASE SAVEPOINT spool_batch');
          counts.applied += rows.length;
          o.onBatch?.(result);
          return rows.length;
        } catch (err) {
          await c.query('ROLLBACK TO SAVEPOINT spool_batch');
          o.log.warn({ err: (err as Error).message, tenantId, size: rows.length }, 'spooled batch failed; applying its rows one by one');
        }
        for (const [i, row] of rows.entries()) {
          await c.query('SAVEPOINT spool_row');
          try {
            const result = await apply(c, topics, [msgs[i]!], { scope: { tenantId }, maxClockSkewSeconds: o.maxClockSkewSeconds });
            await setTenant(c, tenantId);
            await deleteSpoolRows(c, [row.id]);
            await c.query('RELEASE SAVEPOINT spool_row');
            counts.applied++;
            o.onBatch?.(result);
          } catch (err) {
            await c.query('ROLLBACK TO SAVEPOINT spool_row');
            await setTenant(c, tenantId);
            const message = (err as Error).message;
            const attempt = row.attempts + 1;
            if (attempt >= MAX_ATTEMPTS) {
              o.log.error({ err: message, tenantId, spoolId: row.id, attempts: attempt }, 'spooled event failed for the last time; dead-lettered');
              await insertDeadLetters(c, [{ tenantId, topic: msgs[i]!.topic, payload: row.payload, reason: 'processing_failed', error: message, decoder: null, devEui: null }]);
              await deleteSpoolRows(c, [row.id]);
              counts.dead++;
            } else {
              o.log.warn({ err: message, tenantId, spoolId: row.id, attempts: attempt }, 'spooled event failed; will retry');
              await deferSpoolRow(c, row.id, backoff(attempt), message);
              counts.retried++;
            }
          }
        }
        return rows.length;
      });
      if (claimed < BATCH_SIZE) break;
    }
  }
  return counts;
}

export const processWebhookSpool: JobDef = {
  name: 'process_webhook_spool',
  schedule: '30 * * * * *', // every minute, half a minute after expire_reservations; NOTIFY wakes it sooner
  async run({ pool, log, config, onBatch }) {
    const counts = await processSpool({ pool, log, template: config.chirpstackEventTopic, maxClockSkewSeconds: config.ingestMaxClockSkewSeconds, onBatch });
    return { status: 'succeeded', counts };
  },
};
