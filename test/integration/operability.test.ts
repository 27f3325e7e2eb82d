// Metrics and readiness: the API's /metrics labels requests by route pattern (never raw
// ids), /ready answers 200 or 503 naming the failing check, and ingest's metrics server
// serves /metrics, /ready and /health and records batches and received messages.
import t from 'tap';
import { createServer } from 'node:http';
import { buildApp } from '../../api/app.js';
import { createMetrics } from '../../src/metrics.js';
import { createRuntimePool } from '../../src/db/pool.js';
import { createLogger } from '../../src/log.js';
import { freePort, PortInUseError } from '../../src/net.js';
import { readinessChecks } from '../../src/readiness.js';
import { shutdownHandler } from '../../src/shutdown.js';
import { compileTopicTemplate } from '../../ingest/chirpstack.js';
import { mqttConnectionMetrics, mqttReadyCheck, recordBatch, recordReceived, startMetricsServer } from '../../ingest/metrics.js';
import { MqttConsumer } from '../../ingest/mqtt.js';
import { testBroker, testPublisher } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';
import type { BatchResult } from '../../ingest/apply.js';
import { client, testApi, testConfig } from '../helpers/api.js';
import { testDb } from '../helpers/db.js';
import { seedFleets } from '../helpers/fleet.js';
import { startIngest } from '../../ingest/main.js';
import { eventTopic, upEvent } from '../../src/simulator/events.js';

const log = createLogger('silent');

/** The value of one sample line in Prometheus text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

t.test('API /metrics: request durations by route pattern, pool usage', async (t) => {
  const api = await testApi(t);
  const owner = await api.register('metrics');
  const id = '00000000-0000-4000-8000-000000000001';
  t.equal((await api.request('GET', `/api/v6/spaces/${id}`, { token: owner.token })).status, 404);
  t.equal((await api.request('GET', '/api/v6/spaces', { token: owner.token })).status, 200);
  t.equal((await api.request('GET', '/no/such/thing/42')).status, 404);

  const res = await fetch(`${api.url}/metrics`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /text\/plain/);
  const text = await res.text();
  t.ok(sample(text, 'baygate_http_request_duration_seconds_count{method="GET",route="/api/v6/spaces/:id",status="404"}'), 'labelled by pattern');
  t.ok(sample(text, 'baygate_http_request_duration_seconds_count{method="POST",route="/api/auth/register",status="201"}'));
  t.ok(sample(text, 'baygate_http_request_duration_seconds_count{method="GET",route="(unmatched)",status="404"}'), 'unknown paths share one series');
  t.notMatch(text, id, 'no raw ids in labels');
  t.notMatch(text, '/no/such/thing', 'no raw URLs in labels');
  t.ok(sample(text, 'baygate_db_pool_connections{pool="api",state="total"}')! >= 1, 'pool usage is collected at scrape time');
  t.match(text, /baygate_build_info\{version="[^"]+"\} 1/);
  t.match(text, 'baygate_process_cpu_user_seconds_total', 'process metrics');
  t.equal(sample(text, 'baygate_live_clients{transport="sse"}'), 0, 'live clients are 0, not absent, before any connects');
  t.equal(sample(text, 'baygate_live_clients{transport="ws"}'), 0);
});

t.test('API /ready: 200 with each check when the database is there', async (t) => {
  const api = await testApi(t);
  const r = await api.request('GET', '/ready');
  t.equal(r.status, 200);
  t.match(r.body, { status: 'ready', checks: { database: { ok: true }, migrations: { ok: true } } });
  t.equal(r.headers.get('cache-control'), 'no-store');
});

t.test('API /ready: 503 naming the failing check when the database is gone', async (t) => {
  const port = await freePort(); // nothing listens there
  const pool = createRuntimePool(`postgres://nobody@127.0.0.1:${port}/nothing`, 'baygate_app', { max: 1, log, applicationName: 'baygate-test' });
  t.teardown(() => pool.end());
  const app = buildApp({ config: testConfig(), pool, log, metrics: createMetrics({ defaultMetrics: false }) });
  const server = createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const c = client(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  const r = await c.request('GET', '/ready');
  t.equal(r.status, 503);
  t.equal(r.body.status, 'unavailable');
  t.ok(r.body.failed.includes('database'), 'names the database check');
  t.equal(r.body.checks.database.ok, false);
  t.match(r.body.checks.database.error, /ECONNREFUSED|connect/);
  t.equal((await c.request('GET', '/health')).status, 200, 'liveness does not depend on the database');
});

t.test('readinessChecks: schema behind, slow checks time out, extra checks', async (t) => {
  const db = await testDb(t);
  const behind = await readinessChecks({ pool: db.app, wantedVersion: 9_999 })();
  t.equal(behind.ok, false);
  t.equal(behind.checks.database!.ok, true);
  t.equal(behind.checks.migrations!.ok, false);
  t.match(behind.checks.migrations!.error, /needs 9999.*baygate migrate/);

  const slow = await readinessChecks({ pool: db.app, timeoutMs: 50, extra: { mqtt: () => new Promise(() => {}) } })();
  t.equal(slow.ok, false);
  t.match(slow.checks.mqtt, { ok: false, error: /within 50 ms/ });
});

t.test('ingest metrics server: /metrics, /ready with the mqtt check, /health', async (t) => {
  const db = await testDb(t);
  const metrics = createMetrics({ defaultMetrics: false });
  metrics.trackPool('ingest', db.ingest);
  let connected = false;
  const ready = readinessChecks({
    pool: db.ingest,
    extra: {
      mqtt: async () => {
        if (!connected) throw new Error('MQTT session is down');
      },
    },
  });
  const srv = await startMetricsServer({ port: 0, host: '127.0.0.1', registry: metrics.registry, log, ready });
  t.teardown(() => srv.close());

  let r = await fetch(`${srv.url}/ready`);
  t.equal(r.status, 503, 'not ready while MQTT is down');
  const body = (await r.json()) as any;
  t.same(body.failed, ['mqtt']);
  t.equal(body.checks.mqtt.error, 'MQTT session is down');
  connected = true;
  r = await fetch(`${srv.url}/ready`);
  t.equal(r.status, 200);
  t.match(await r.json(), { status: 'ready', checks: { database: { ok: true }, migrations: { ok: true }, mqtt: { ok: true } } });
  t.equal((await fetch(`${srv.url}/health`)).status, 200);
  t.equal((await fetch(`${srv.url}/nope`)).status, 404);

  const topics = compileTopicTemplate('application/{application_id}/device/{dev_eui}/event/{event}');
  recordReceived(metrics, topics, 'application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0102030405060708/event/up');
  recordReceived(metrics, topics, 'application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0102030405060708/event/up');
  recordReceived(metrics, topics, 'application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0102030405060708/event/weird-new-kind');
  recordReceived(metrics, topics, 'not/an/event/topic');
  const result: BatchResult = {
    received: 6,
    uplinks: 3,
    duplicates: 1,
    unclaimed: 0,
    deadLettered: 2,
    deviceEvents: 0,
    ignored: 0,
    transitions: [{ id: 1, tenant_id: 't', space_id: 's', to: 'occupied', at: new Date().toISOString() }],
    deadByReason: { decode_failed: { 'bosch-tps110': 1 }, invalid_json: { none: 1 } },
    uplinksByDecoder: { 'nwave-nps405': 2, none: 1 },
    stateChanges: [{ from: 'unknown', to: 'occupied' }],
    applicationMismatches: [{ tenantId: 't', devEui: '0102030405060708', refusal: 'bound_elsewhere', applicationId: '17c82e96-be03-4f38-aef3-f83d48582d97' }],
    clockCorrections: { future: 2 },
  };
  recordBatch(metrics, result, { size: 6, commitMs: 12, oldestReceivedAt: Date.now() - 30 });
  recordBatch(metrics, { ...result, uplinksByDecoder: { 'nwave-nps405': 3 }, stateChanges: [{ from: 'free', to: 'occupied' }] }, { size: 6, commitMs: 5, oldestReceivedAt: Date.now() });
  metrics.mqttConnected.set(1);

  const text = await (await fetch(`${srv.url}/metrics`)).text();
  t.equal(sample(text, 'baygate_ingest_messages_received_total{event="up"}'), 2);
  t.equal(sample(text, 'baygate_ingest_messages_received_total{event="other"}'), 2, 'unknown kinds and stray topics share one series');
  t.equal(sample(text, 'baygate_ingest_messages_applied_total{outcome="uplink"}'), 6);
  t.equal(sample(text, 'baygate_ingest_messages_applied_total{outcome="duplicate"}'), 2);
  t.equal(sample(text, 'baygate_ingest_messages_applied_total{outcome="dead_lettered"}'), 4);
  t.equal(sample(text, 'baygate_ingest_dead_letters_total{reason="decode_failed",decoder="bosch-tps110"}'), 2);
  t.equal(sample(text, 'baygate_ingest_dead_letters_total{reason="invalid_json",decoder="none"}'), 2);
  t.equal(sample(text, 'baygate_ingest_uplinks_processed_total{decoder="nwave-nps405"}'), 5);
  t.equal(sample(text, 'baygate_ingest_uplinks_processed_total{decoder="none"}'), 1);
  t.equal(sample(text, 'baygate_space_transitions_total{from="unknown",to="occupied"}'), 1);
  t.equal(sample(text, 'baygate_space_transitions_total{from="free",to="occupied"}'), 1);
  t.equal(sample(text, 'baygate_ingest_application_refusals_total{refusal="bound_elsewhere"}'), 2);
  t.equal(sample(text, 'baygate_ingest_clock_corrections_total{correction="future"}'), 4);
  t.equal(sample(text, 'baygate_ingest_batch_size_count'), 2);
  t.equal(sample(text, 'baygate_ingest_batch_size_sum'), 12);
  t.equal(sample(text, 'baygate_ingest_batch_commit_seconds_sum'), 0.017);
  t.equal(sample(text, 'baygate_mqtt_connected'), 1);
  t.ok(sample(text, 'baygate_db_pool_connections{pool="ingest",state="total"}')! >= 1);
});

t.test('ingest metrics server: a port in use fails naming METRICS_PORT', async (t) => {
  const first = await startMetricsServer({ port: 0, host: '127.0.0.1', registry: createMetrics({ defaultMetrics: false }).registry, log });
  t.teardown(() => first.close());
  const port = Number(new URL(first.url).port);
  await t.rejects(
    startMetricsServer({ port, host: '127.0.0.1', registry: createMetrics({ defaultMetrics: false }).registry, log }),
    PortInUseError,
  );
  await t.rejects(startMetricsServer({ port, host: '127.0.0.1', registry: createMetrics({ defaultMetrics: false }).registry, log }), /METRICS_PORT/);
});

t.test('MQTT connection metrics and the mqtt readiness check, on a real consumer', async (t) => {
  const broker = await testBroker(t);
  const metrics = createMetrics({ defaultMetrics: false });
  const hooks = mqttConnectionMetrics(metrics);
  const consumer = new MqttConsumer({
    url: broker.url,
    clientId: `bgt-ops-${broker.id}`,
    // Within the events filter: the embedded broker grants baygate's identity nothing wider.
    filters: [`bgt-${broker.id}/application/+/device/+/event/+`],
    cleanSession: true,
    log,
    onMessage: (m) => m.settle(),
    onConnect: hooks.onConnect,
    onDisconnect: hooks.onDisconnect,
  });
  const check = mqttReadyCheck(consumer);
  await t.rejects(check(), /MQTT session is not up/, 'not ready before connecting');
  const gauge = async () => sample(await metrics.registry.metrics(), 'baygate_mqtt_connected');
  t.equal(await gauge(), 0);
  consumer.start();
  await waitFor(() => consumer.connected, 10_000, 'connected');
  await t.resolves(check(), 'ready once subscribed');
  t.equal(await gauge(), 1);
  await consumer.close();
  t.equal(await gauge(), 0, 'down after close');
  await t.rejects(check());
});

// Regression: the pipeline's batch results carried neither the decoder nor the previous
// state, so in production every uplink counted under decoder="unreported" and every
// transition under from="unreported". Now a real ingest labels both.
t.test('ingest records uplinks by decoder and transitions by from/to, end to end', async (t) => {
  const db = await testDb(t);
  const first = '70B3D5E7AB000000';
  await seedFleets(db.owner, { id: '00000000-0000-4000-8000-0000000ab017', name: 'Metrics', slug: 'metrics' }, [{ first, devices: 1 }]);
  const broker = await testBroker(t);
  const metrics = createMetrics({ defaultMetrics: false });
  const config = testConfig({ CHIRPSTACK_EVENT_TOPIC: broker.template, MQTT_CLIENT_ID: `bgt-ops-ingest-${broker.id}`, INGEST_BATCH_MAX_MS: '5' });
  const ingest = await startIngest({ config, databaseUrl: db.url, mqttUrl: broker.url, log, metrics, metricsServer: false });
  t.teardown(() => ingest.stop());
  const pub = await testPublisher(t, broker);
  const up = (fCnt: number, fPort: number, data: number[]) =>
    pub.publishAsync(eventTopic(broker.template, first, 'up'), JSON.stringify(upEvent({ devEui: first, fCnt, fPort, data: Buffer.from(data) })), { qos: 1 });
  await up(1, 1, [1]); // occupied
  await up(2, 0, []); // MAC commands only: no decoder reads it
  await up(3, 1, [0]); // free
  await waitFor(async () => sample(await metrics.registry.metrics(), 'baygate_ingest_messages_applied_total{outcome="uplink"}') === 3, 15_000, 'three uplinks applied');

  const text = await metrics.registry.metrics();
  t.equal(sample(text, 'baygate_ingest_uplinks_processed_total{decoder="nwave-nps405"}'), 2, 'by the device’s decoder');
  t.equal(sample(text, 'baygate_ingest_uplinks_processed_total{decoder="none"}'), 1, 'fPort 0 under none');
  t.equal(sample(text, 'baygate_space_transitions_total{from="unknown",to="occupied"}'), 1, 'the previous state is a label');
  t.equal(sample(text, 'baygate_space_transitions_total{from="occupied",to="free"}'), 1);
  t.notMatch(text, 'unreported');
});

t.test('shutdown: a clean stop exits 0; a second signal, a failing or a hung stop exit 1', async (t) => {
  const run = (stop: () => Promise<void>, opts: { timeoutMs?: number; signalEchoMs?: number } = {}) => {
    const codes: number[] = [];
    let done!: () => void;
    const exited = new Promise<void>((resolve) => (done = resolve));
    const exit = (code: number) => {
      codes.push(code);
      done();
    };
    const shutdown = shutdownHandler({ log, stop, timeoutMs: opts.timeoutMs ?? 5_000, signalEchoMs: opts.signalEchoMs ?? 0, exit });
    return { codes, exited, shutdown };
  };

  const clean = run(async () => {});
  await clean.shutdown('SIGTERM');
  t.same(clean.codes, [0], 'a stop that finishes exits 0');

  const fatal = run(async () => {});
  await fatal.shutdown('unhandledRejection', 1);
  t.same(fatal.codes, [1], 'a fatal error stops in order, then exits 1');

  const failing = run(async () => {
    throw new Error('pool.end failed');
  });
  await failing.shutdown('SIGTERM');
  t.same(failing.codes, [1], 'a stop that throws exits 1');

  const hung = run(() => new Promise(() => {}), { timeoutMs: 50 });
  void hung.shutdown('SIGTERM');
  await hung.exited;
  t.same(hung.codes, [1], 'a stop that outlasts the timeout exits 1');

  const twice = run(() => new Promise(() => {}));
  void twice.shutdown('SIGTERM');
  void twice.shutdown('SIGINT');
  await twice.exited;
  t.same(twice.codes, [1], 'a second signal forces the exit');

  const echoed = run(() => new Promise((r) => setTimeout(r, 100)), { signalEchoMs: 1_000 });
  void echoed.shutdown('SIGINT');
  void echoed.shutdown('SIGINT'); // npm relaying the terminal's Ctrl-C
  await echoed.exited;
  t.same(echoed.codes, [0], 'an echo of the first signal does not cut the stop short');
});
