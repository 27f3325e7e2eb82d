/**
 * Composition root of the ingest process (`npm run start:ingest`): pool as the ingest
 * role, schema check, the MQTT consumer feeding the micro-batch pipeline, and an
 * orderly shutdown that commits and acknowledges the batch in flight.
 */
import { loadConfig, type Config } from '../src/config.js';
import { createLogger, type Logger } from '../src/log.js';
import { assertRlsBinds, createRuntimePool } from '../src/db/pool.js';
import { assertSchemaCurrent } from '../src/db/migrate.js';
import { compileTopicTemplate } from './chirpstack.js';
import { IngestPipeline, type PipelineOptions } from './pipeline.js';
import { startJobs, type Jobs } from './jobs/index.js';
import { startDisplaySender, type DisplaySender } from './displays.js';
import { MqttConsumer } from './mqtt.js';
import { mqttConnection } from '../src/mqtt/connection.js';
import { createMetrics, type Metrics } from '../src/metrics.js';
import { readinessChecks, type Check } from '../src/readiness.js';
import { installShutdown } from '../src/shutdown.js';
import { mqttConnectionMetrics, mqttReadyCheck, recordBatch, recordOutcomes, recordReceived, startMetricsServer } from './metrics.js';
import { applicationMismatchLogger } from './mismatch-log.js';

/**
 * Node flags the ingest process runs with (package.json `start:ingest`, docker-compose, the
 * benchmarks; test/unit/compose.test.ts checks they agree). Its live heap is small (the
 * pending messages are bounded by INGEST_MAX_PENDING), but V8 lets an uncapped heap grow
 * while memory is plentiful: 264-273 MB RSS in bench:ingest, 173-179 MB with this cap, for
 * some 8 % of throughput. A deployment with memory to spare may raise it.
 *
 * Every uplink is short-lived garbage (its packet, parsed JSON, row arrays), and at full
 * rate garbage collection took about a fifth of the process's CPU (perf, bench:ingest). A
 * 32 MB young generation (V8's default is 16 MB on 64-bit) lets more of it die young:
 * 5-10 % more uplinks/s for about 35 MB more RSS (209-219 MB).
 */
export const INGEST_NODE_FLAGS = ['--max-old-space-size=256', '--max-semi-space-size=32'] as const;

/** How long shutdown waits for the batch in flight (e.g. while the database is unreachable). */
const DRAIN_TIMEOUT_MS = 5_000;

export interface IngestProcess {
  consumer: MqttConsumer;
  pipeline: IngestPipeline;
  jobs: Jobs;
  /** Publishes display-sign downlinks (ingest/displays.ts). */
  displays: DisplaySender;
  /** Ingest's own readiness checks (its MQTT session), for whoever serves /ready: METRICS_PORT, or npm start's API. */
  readyChecks: Record<string, Check>;
  stop(): Promise<void>;
}

export interface IngestOptions {
  config: Config;
  databaseUrl: string;
  mqttUrl: string;
  log: Logger;
  onBatch?: PipelineOptions['onBatch'];
  /** Shared with the API when both run in one process (npm start); else a new registry. */
  metrics?: Metrics;
  /** Serve /metrics and /ready on METRICS_PORT (default true; npm start's API serves them instead). */
  metricsServer?: boolean;
}

export async function startIngest(o: IngestOptions): Promise<IngestProcess> {
  const { config, log } = o;
  const pool = createRuntimePool(o.databaseUrl, 'baygate_ingest', { max: config.dbPoolMax, log, applicationName: 'baygate-ingest' });
  await assertSchemaCurrent(pool);
  await assertRlsBinds(pool);
  const metrics = o.metrics ?? createMetrics();
  metrics.trackPool('ingest', pool);
  const logMismatches = applicationMismatchLogger(log);
  const jobs = startJobs({
    pool,
    log,
    config,
    databaseUrl: o.databaseUrl,
    onRun: (run) => metrics.jobRuns.inc({ job: run.job, status: run.status }),
    // Events received over HTTP (the webhook spool) count as MQTT's do.
    onBatch: (result) => {
      recordOutcomes(metrics, result);
      logMismatches(result);
    },
    onCounts: (job, counts) => {
      if (job !== 'deliver_webhooks') return;
      metrics.webhookDeliveries.inc({ outcome: 'delivered' }, counts.delivered ?? 0);
      metrics.webhookDeliveries.inc({ outcome: 'failed' }, counts.failed ?? 0);
      // A subscription disabled after repeated failures (its last failure is also counted above).
      metrics.webhookDeliveries.inc({ outcome: 'disabled' }, counts.disabled ?? 0);
    },
  });
  const topics = compileTopicTemplate(config.chirpstackEventTopic);
  // A shared subscription splits the feed between replicas (MQTT 5 §4.8.2; Mosquitto and
  // EMQX accept it from 3.1.1 clients too). Each replica needs its own MQTT_CLIENT_ID.
  const filter = config.mqttShareGroup ? `$share/${config.mqttShareGroup}/${topics.filter}` : topics.filter;
  const pipeline = new IngestPipeline({
    pool,
    log,
    topics,
    batchMax: config.ingestBatchMax,
    batchMaxMs: config.ingestBatchMaxMs,
    lanes: config.ingestLanes,
    maxClockSkewSeconds: config.ingestMaxClockSkewSeconds,
    onBatch: (result, info) => {
      recordBatch(metrics, result, info);
      logMismatches(result);
      o.onBatch?.(result, info);
    },
  });
  const connection = mqttConnectionMetrics(metrics);
  // One set of connection options (URL, CA, client certificate) for every MQTT connection
  // ingest opens: this consumer and the display publisher (src/mqtt/connection.ts).
  const mqtt = mqttConnection(config, o.mqttUrl);
  const consumer = new MqttConsumer({
    url: mqtt.url,
    tls: mqtt.tls,
    clientId: config.mqttClientId,
    filters: [filter],
    cleanSession: false,
    maxPending: config.ingestMaxPending,
    log: log.child({ component: 'mqtt' }),
    onConnect: connection.onConnect,
    onDisconnect: connection.onDisconnect,
    onMessage: (m) => {
      recordReceived(metrics, topics, m.topic);
      pipeline.push({ topic: m.topic, payload: m.payload, receivedAt: m.receivedAt, settle: m.settle });
    },
  });
  const readyChecks = { mqtt: mqttReadyCheck(consumer) };
  // Started before subscribing, so a taken METRICS_PORT fails before any message is taken.
  const server =
    o.metricsServer === false
      ? null
      : await startMetricsServer({
          port: config.metricsPort,
          host: config.host,
          registry: metrics.registry,
          log,
          ready: readinessChecks({ pool, extra: readyChecks }),
        });
  // Before subscribing, so a bad CHIRPSTACK_COMMAND_TOPIC fails before any message is taken.
  const displays = await startDisplaySender({ pool, log, config, mqtt, databaseUrl: o.databaseUrl, registry: metrics.registry });
  consumer.start();
  log.info({ broker: mqtt.broker, filter }, 'ingest subscribed');
  return {
    consumer,
    pipeline,
    jobs,
    displays,
    readyChecks,
    async stop() {
      // Finish the batch in flight so its messages are acknowledged; anything not yet
      // committed stays with the broker's persistent session and is redelivered.
      consumer.pause();
      await Promise.race([pipeline.drain(), new Promise((r) => setTimeout(r, DRAIN_TIMEOUT_MS))]);
      await consumer.close();
      pipeline.stop();
      await jobs.stop();
      await displays.stop();
      await server?.close();
      await pool.end();
    },
  };
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const log = createLogger(config.logLevel, 'baygate-ingest');
  if (!config.databaseUrl) throw new Error('DATABASE_URL: is required for `start:ingest` (use `npm start` for the embedded setup)');
  if (!config.mqttUrl) throw new Error('MQTT_URL: is required for `start:ingest` (use `npm start` for the embedded broker)');
  const ingest = await startIngest({ config, databaseUrl: config.databaseUrl, mqttUrl: config.mqttUrl, log });
  // A second signal or the shutdown timeout forces the exit (src/shutdown.ts).
  installShutdown({ log, stop: () => ingest.stop() });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
