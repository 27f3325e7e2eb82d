/**
 * Owns the Prometheus metrics of both processes: one factory builds a registry and its
 * typed metrics, and the caller passes the result to whatever records into it (no
 * module-level registry, so tests and the one-process `npm start` never share counters
 * by accident). Label values are always from small closed sets — route patterns, event
 * kinds, reasons — never ids or raw URLs, to keep series counts bounded
 * (https://prometheus.io/docs/practices/naming/#labels).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Pool } from './db/pool.js';
import { VERSION } from './version.js';

/** Metric names start with this, per Prometheus' convention of one prefix per application. */
export const METRIC_PREFIX = 'baygate_';

/** Batch sizes are bounded by INGEST_BATCH_MAX (≤ 10 000, src/config.ts). */
const BATCH_SIZE_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];
/** Seconds: one batch commits in milliseconds when healthy and waits out outages when not. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface MetricsOptions {
  /** Process metrics (CPU, memory, event-loop lag, GC); default true. */
  defaultMetrics?: boolean;
}

export interface Metrics {
  registry: Registry;
  // ingest
  messagesReceived: Counter<'event'>;
  uplinksProcessed: Counter<'decoder'>;
  /** Every message of a committed batch by what became of it. */
  messagesApplied: Counter<'outcome'>;
  deadLetters: Counter<'reason' | 'decoder'>;
  /** Events refused because they did not come through the device's own ChirpStack application (src/domain/application-binding.ts). */
  applicationRefusals: Counter<'refusal'>;
  /** Events applied at baygate's receive time because their own time was implausible (src/domain/frame-time.ts). */
  clockCorrections: Counter<'correction'>;
  batchSize: Histogram<never>;
  commitSeconds: Histogram<never>;
  /** From the oldest message's arrival to its batch's commit: what the broker waits for its PUBACK. */
  ingestLagSeconds: Histogram<never>;
  spaceTransitions: Counter<'from' | 'to'>;
  mqttConnected: Gauge<never>;
  mqttReconnects: Counter<never>;
  // api
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  liveClients: Gauge<'transport'>;
  liveEventsSent: Counter<'transport'>;
  // both
  jobRuns: Counter<'job' | 'status'>;
  webhookDeliveries: Counter<'outcome'>;
  /** ChirpStack events received over HTTP (api/routes/webhooks-inbound.ts) by kind and what became of them. */
  webhookEventsReceived: Counter<'event' | 'outcome'>;
  dbPool: Gauge<'pool' | 'state'>;
  /** Reports a pg.Pool's total/idle/waiting counts under `pool` at every scrape. */
  trackPool(name: string, pool: Pool): void;
}

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const n = (name: string) => METRIC_PREFIX + name;
  const pools = new Map<string, Pool>();

  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });

  new Gauge({ name: n('build_info'), help: 'The running baygate version (always 1)', labelNames: ['version'], registers }).set(
    { version: VERSION },
    1,
  );

  const liveClients = new Gauge({
    name: n('live_clients'),
    help: 'Connected live-update clients by transport (sse, ws)',
    labelNames: ['transport'],
    registers,
  });
  // Both series exist from the start: "no clients" is 0, not a missing series an alert cannot see.
  for (const transport of ['sse', 'ws']) liveClients.set({ transport }, 0);

  return {
    registry,
    messagesReceived: new Counter({
      name: n('ingest_messages_received_total'),
      help: 'MQTT messages received from ChirpStack, by event kind from the topic (up, status, join, ack, txack, log, other)',
      labelNames: ['event'],
      registers,
    }),
    uplinksProcessed: new Counter({
      name: n('ingest_uplinks_processed_total'),
      help: 'Uplinks from registered devices stored as readings, by decoder (none: fPort 0, MAC commands only)',
      labelNames: ['decoder'],
      registers,
    }),
    messagesApplied: new Counter({
      name: n('ingest_messages_applied_total'),
      help: 'Messages of committed batches by outcome (uplink, duplicate, unclaimed, device_event, ignored, dead_lettered)',
      labelNames: ['outcome'],
      registers,
    }),
    deadLetters: new Counter({
      name: n('ingest_dead_letters_total'),
      help: 'Messages kept in the dead-letter table, by reason and decoder (none: the message never reached one)',
      labelNames: ['reason', 'decoder'],
      registers,
    }),
    applicationRefusals: new Counter({
      name: n('ingest_application_refusals_total'),
      help: "Events refused (dead-lettered as application_mismatch) because they came through an application the device's tenant did not map, or not the one the device is bound to",
      labelNames: ['refusal'],
      registers,
    }),
    clockCorrections: new Counter({
      name: n('ingest_clock_corrections_total'),
      help: 'Events applied at their receive time because their own time was too far ahead (future), before 2015 (too_old) or not a time (invalid)',
      labelNames: ['correction'],
      registers,
    }),
    batchSize: new Histogram({ name: n('ingest_batch_size'), help: 'Messages per committed batch', buckets: BATCH_SIZE_BUCKETS, registers }),
    commitSeconds: new Histogram({
      name: n('ingest_batch_commit_seconds'),
      help: 'Time to apply and commit one batch',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    ingestLagSeconds: new Histogram({
      name: n('ingest_lag_seconds'),
      help: "From a batch's oldest message's arrival to the batch's commit",
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    spaceTransitions: new Counter({
      name: n('space_transitions_total'),
      help: 'Space state changes, by previous and new state',
      labelNames: ['from', 'to'],
      registers,
    }),
    mqttConnected: new Gauge({ name: n('mqtt_connected'), help: '1 while the MQTT session is up, else 0', registers }),
    mqttReconnects: new Counter({ name: n('mqtt_reconnects_total'), help: 'MQTT sessions re-established after the first connect', registers }),
    httpDuration: new Histogram({
      name: n('http_request_duration_seconds'),
      help: 'HTTP request duration by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_BUCKETS,
      registers,
    }),
    liveClients,
    liveEventsSent: new Counter({
      name: n('live_events_sent_total'),
      help: 'Events sent to live-update clients by transport (sse, ws)',
      labelNames: ['transport'],
      registers,
    }),
    jobRuns: new Counter({
      name: n('job_runs_total'),
      help: 'Scheduled job runs by job and status (succeeded, failed, skipped)',
      labelNames: ['job', 'status'],
      registers,
    }),
    webhookDeliveries: new Counter({
      name: n('webhook_deliveries_total'),
      help: 'Webhook delivery attempts by outcome (delivered, failed); outcome disabled counts subscriptions disabled after repeated failures',
      labelNames: ['outcome'],
      registers,
    }),
    webhookEventsReceived: new Counter({
      name: n('webhook_events_received_total'),
      help: 'ChirpStack events received by the HTTP integration endpoint, by event kind (other: a kind baygate does not know) and outcome (spooled; ignored: authenticated, a kind baygate does not use, not stored; unauthorized)',
      labelNames: ['event', 'outcome'],
      registers,
    }),
    dbPool: new Gauge({
      name: n('db_pool_connections'),
      help: 'Database pool connections by pool and state (total, idle, waiting = clients queued for one)',
      labelNames: ['pool', 'state'],
      registers,
      // Read at scrape time: pg.Pool keeps these counts itself, so nothing needs updating in between.
      collect() {
        for (const [name, pool] of pools) {
          this.set({ pool: name, state: 'total' }, pool.totalCount);
          this.set({ pool: name, state: 'idle' }, pool.idleCount);
          this.set({ pool: name, state: 'waiting' }, pool.waitingCount);
        }
      },
    }),
    trackPool(name, pool) {
      pools.set(name, pool);
    },
  };
}
