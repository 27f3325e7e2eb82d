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
import integrationPb, { type DeviceInfo } from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import type { Pool } from '../../src/db/pool.js';
import { setTenant, withRawTx, withTx } from '../../src/db/tx.js';
import type { Logger } from '../../src/log.js';
import { insertDeadLetters } from '../../src/storage/dead-letters.js';
import {
  claimDueRows, deferSpoolRow, deleteSpoolRows, tenantsWithDueRows, type SpoolEncoding, type SpoolEvent, type SpoolRow,
} from '../../src/storage/webhook-spool.js';
import { DEFAULT_APPLICATION_ID, eventTopic } from '../../src/simulator/events.js';
import { applyBatch, type BatchResult, type InboundMessage } from '../apply.js';
import { compileTopicTemplate } from '../chirpstack.js';
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

const EUI64 = /^[0-9A-Fa-f]{16}$/;
/** One MQTT topic level: no separator, no wildcard (MQTT v5 §4.7.1). */
const TOPIC_LEVEL = /^[^/+#]+$/;

/** The protobuf message of each spooled kind (api/proto/integration/integration.proto). */
const PROTOBUF_MESSAGES: Record<SpoolEvent, { deserializeBinary(bytes: Uint8Array): { getDeviceInfo(): DeviceInfo | undefined } }> = {
  up: integrationPb.UplinkEvent,
  status: integrationPb.StatusEvent,
  join: integrationPb.JoinEvent,
  ack: integrationPb.AckEvent,
  txack: integrationPb.TxAckEvent,
  log: integrationPb.LogEvent,
  location: integrationPb.LocationEvent,
};

/**
 * The device a spooled event names (`deviceInfo.devEui`, `.applicationId`), read in the
 * encoding it was sent in; nothing when it cannot be read.
 * TODO(issue 18 §1): swap for the ingest/events helper that reads both encodings once it lands.
 */
function deviceInfoOf(row: SpoolRow): { devEui?: string; applicationId?: string } {
  try {
    if (row.encoding === 'protobuf') {
      const info = PROTOBUF_MESSAGES[row.event].deserializeBinary(row.payload).getDeviceInfo();
      // '' is proto3's default: absent.
      return { devEui: info?.getDevEui() || undefined, applicationId: info?.getApplicationId() || undefined };
    }
    const info = (JSON.parse(row.payload.toString('utf8')) as { deviceInfo?: { devEui?: unknown; applicationId?: unknown } }).deviceInfo;
    return {
      devEui: typeof info?.devEui === 'string' ? info.devEui : undefined,
      applicationId: typeof info?.applicationId === 'string' ? info.applicationId : undefined,
    };
  } catch {
    // Left to the parser, which dead-letters it with the reason.
    return {};
  }
}

/** A spooled event for applyBatch, with the encoding it arrived in (HTTP says it; MQTT has only the bytes). */
type SpooledMessage = InboundMessage & { encoding: SpoolEncoding };

/**
 * The spooled event as the MQTT pipeline would have received it: the payload as sent, under
 * the topic ChirpStack would have published it on (the configured template), so the topic
 * → handler table and every check on it (dev_eui_mismatch) apply unchanged. A payload whose
 * device cannot be read gets a placeholder DevEUI; its parser then dead-letters it.
 */
function toMessage(template: string, row: SpoolRow): SpooledMessage {
  const info = deviceInfoOf(row);
  const devEui = info.devEui !== undefined && EUI64.test(info.devEui) ? info.devEui : '0000000000000000';
  // Anything that could not be one topic level is left to the parser's check of the payload.
  const applicationId = info.applicationId !== undefined && TOPIC_LEVEL.test(info.applicationId) ? info.applicationId : DEFAULT_APPLICATION_ID;
  const topic = eventTopic(template, devEui, row.event, applicationId);
  return { topic, payload: row.payload, encoding: row.encoding };
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
