/**
 * `npm run bench:ingest`: sustained ingest throughput, publish → NOTIFY latency, the ingest
 * process's peak RSS, and the broker's raw QoS 1 ceiling measured in the same run.
 *
 * Broker: MQTT_URL when given; else a private Mosquitto started with the deployment's
 * settings (deploy/mosquitto/mosquitto.conf) when the binary is installed; else the
 * embedded aedes broker. Database: DATABASE_URL when given, else an embedded PostgreSQL in
 * a temporary directory. Ingest runs as its own process (`node --import tsx ingest/main.ts`)
 * so its memory is its own. Uplinks come from the simulator (bin/simulate.ts), several
 * publishers in parallel so the publisher is not the bottleneck.
 *
 * Phases:
 *   1. ceiling: MESSAGES QoS 1 uplinks through the broker to a consumer that acknowledges
 *      on receipt and does nothing else (ingest/mqtt.ts, the same consumer ingest uses),
 *      in this process beside the publishers, with the CPU each message costs this
 *      process (and its JavaScript thread alone), the broker and the whole machine;
 *   2. sustained: MESSAGES uplinks from DEVICES sensors as fast as the publishers go,
 *      timed from the first publish to the moment the last reading is committed, with the
 *      CPU each uplink costs ingest (and its JavaScript thread alone), the database, the
 *      broker, the publishers and the whole machine (bench/lib/cpu.ts): on two cores their
 *      sum bounds the rate, unless one thread's µs per uplink times the rate nears a
 *      million (a core busy the whole time), which makes that thread the bound;
 *   3. latency: uplinks offered at LATENCY_RATE/s, every one a state change, timed from
 *      publish (the uplink's `time`) to receipt of its NOTIFY.
 * Env: BENCH_DEVICES (10000), BENCH_MESSAGES (200000), BENCH_LATENCY_SECONDS (15),
 * BENCH_PUBLISHERS (4). `--encoding json|protobuf` (default json): how every phase's uplinks
 * are encoded, as ChirpStack's `[integration.mqtt] json=true|false`. The last line printed
 * is one JSON object of the figures.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { EVENT_ENCODINGS, type EventEncoding } from '../src/simulator/events.js';
import { MqttConsumer } from '../ingest/mqtt.js';
import { compileTopicTemplate } from '../ingest/chirpstack.js';
import { createOwnerPool } from '../src/db/pool.js';
import { migrate } from '../src/db/migrate.js';
import { startEmbeddedBroker } from '../src/mqtt/broker.js';
import { benchIdentity } from './lib/broker.js';
import { SPACE_EVENTS_CHANNEL } from '../src/events.js';
import { createLogger } from '../src/log.js';
import { startPrivateMosquitto, mosquittoVersion } from './lib/mosquitto.js';
import { benchDatabase } from './lib/database.js';
import { BENCH_TOPIC_TEMPLATE, publishFleet, waitUntil } from './lib/fleet.js';
import { seedFleets, type Fleet } from '../test/helpers/fleet.js';
import { INGEST_NODE_FLAGS } from '../ingest/main.js';
import { freePort } from '../src/net.js';
import { cpuMeter, localPostmaster, mainThreadCpuSeconds, processCpuSeconds, treeCpuSeconds, type CpuFigures } from './lib/cpu.js';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 10_000);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 200_000);
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 15);
const PUBLISHERS = Number(process.env.BENCH_PUBLISHERS ?? 4);
const ENCODING = (parseArgs({ options: { encoding: { type: 'string', default: 'json' } } }).values.encoding ?? 'json') as EventEncoding;
if (!EVENT_ENCODINGS.includes(ENCODING)) throw new Error(`--encoding must be one of ${EVENT_ENCODINGS.join(', ')}`);
const LATENCY_RATE = 1_000;
const FIRST_DEV_EUI = '70B3D5E750000000';
/**
 * The latency phase uses sensors of its own: a sensor that repeated an earlier phase's
 * (fCnt, fPort, bytes) within a minute would rightly be dropped as a retransmission.
 */
const LATENCY_DEVICES = 1_000;
const LATENCY_FIRST_DEV_EUI = '70B3D5E760000000';
const ROOT = new URL('../', import.meta.url).pathname;
const READINGS_POLL_MS = 500;

const log = createLogger(process.env.LOG_LEVEL ?? 'warn', 'bench-ingest');
const say = (line: string) => console.error(line);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const MAIN_FLEET: Fleet = { first: FIRST_DEV_EUI, devices: DEVICES };
const LATENCY_FLEET: Fleet = { first: LATENCY_FIRST_DEV_EUI, devices: LATENCY_DEVICES };

function publish(url: string, fleet: Fleet, count: number, rate: number, changeProbability: number, seed: number): Promise<void> {
  return publishFleet(url, fleet, { count, rate, changeProbability, seed, publishers: PUBLISHERS, encoding: ENCODING });
}

/** This process's CPU seconds: the simulated fleet's publishers, and in the ceiling phase its consumer too. */
function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * The broker's raw rate, and what each message costs at it: this process, which publishes
 * and consumes in one JavaScript thread, the broker when it runs here, and the whole machine.
 */
async function ceiling(url: string, brokerPid: number | null): Promise<{ rate: number; cpu: CpuFigures }> {
  const topics = compileTopicTemplate(BENCH_TOPIC_TEMPLATE);
  let received = 0;
  const consumer = new MqttConsumer({
    url,
    clientId: `bench-ceiling-${process.pid}`,
    filters: [topics.filter],
    cleanSession: true,
    maxPending: 5_000,
    log,
    onMessage: (m) => {
      received++;
      m.settle();
    },
  });
  const connected = new Promise<void>((resolve) => {
    const poll = setInterval(() => consumer.connected && (clearInterval(poll), resolve()), 10);
  });
  consumer.start();
  await connected;
  const cpu = cpuMeter({
    benchmark: ownCpuSeconds,
    benchmark_main_thread: () => mainThreadCpuSeconds(process.pid),
    broker: brokerPid === null ? undefined : () => processCpuSeconds(brokerPid),
  });
  const started = Date.now();
  await Promise.all([publish(url, MAIN_FLEET, MESSAGES, 1e9, 0.2, 1), waitUntil('ceiling', () => received, MESSAGES)]);
  const rate = MESSAGES / ((Date.now() - started) / 1000);
  const figures = cpu.stop(MESSAGES);
  await consumer.close();
  return { rate, cpu: figures };
}

async function main(): Promise<void> {
  // Broker.
  let mqttUrl = process.env.MQTT_URL;
  let broker = 'external';
  let brokerVersion = 'unknown';
  let window = 'broker default';
  let brokerPid: number | null = null;
  const stops: (() => Promise<void>)[] = [];
  if (mqttUrl) {
    brokerVersion = mosquittoVersion() ?? 'unknown';
    broker = `external ${new URL(mqttUrl).host}`;
  } else {
    const own = await startPrivateMosquitto({ identity: benchIdentity(BENCH_TOPIC_TEMPLATE) });
    if (own) {
      stops.push(() => own.stop());
      mqttUrl = own.url;
      broker = 'mosquitto (deploy/mosquitto/mosquitto.conf, password and ACL)';
      brokerVersion = own.version;
      brokerPid = own.pid;
      window = `max_inflight_messages ${own.settings.max_inflight_messages ?? '20'}`;
    } else {
      const identity = benchIdentity(BENCH_TOPIC_TEMPLATE);
      const aedes = await startEmbeddedBroker({ port: 0, log, identities: [identity] });
      stops.push(() => aedes.close());
      mqttUrl = aedes.urlFor(identity.username);
      broker = 'aedes (embedded)';
      brokerVersion = 'aedes';
      window = 'unbounded (aedes has no in-flight limit; INGEST_MAX_PENDING bounds it)';
    }
  }

  // Database.
  const db = await benchDatabase(log);
  stops.push(() => db.stop());
  const databaseUrl = db.url;
  const owner = createOwnerPool(databaseUrl, { max: 4, log, applicationName: 'bench-ingest' });
  stops.push(() => owner.end());
  try {
    await migrate(owner);
    await seedFleets(owner, { id: '00000000-0000-4000-8000-00000000be1c', name: 'Bench City', slug: 'bench-city' }, [MAIN_FLEET, LATENCY_FLEET]);
    say(`broker: ${broker} ${brokerVersion}, window: ${window}; ${DEVICES} devices, ${MESSAGES} uplinks, ${ENCODING}`);

    const raw = await ceiling(mqttUrl, brokerPid);
    const ceilingPerS = raw.rate;
    say(
      `broker ceiling (QoS 1, no processing): ${Math.round(ceilingPerS)}/s; CPU µs per message: ` +
        `${Object.entries(raw.cpu.usPerUnit).map(([k, v]) => `${k} ${v ?? 'n/a'}`).join(', ')}, ` +
        `whole machine ${raw.cpu.machineUsPerUnit} (${raw.cpu.busyCores} cores busy)`,
    );

    // Ingest in its own process; its /metrics tells how many uplinks it has committed.
    const metricsPort = await freePort();
    // BENCH_INGEST_NODE_ARGS: extra node flags for ingest, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    const nodeArgs = process.env.BENCH_INGEST_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    const child = spawn(process.execPath, [...INGEST_NODE_FLAGS, ...nodeArgs, '--import', 'tsx', 'ingest/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        MQTT_URL: mqttUrl,
        MQTT_CLIENT_ID: `bench-ingest-${process.pid}`,
        CHIRPSTACK_EVENT_TOPIC: BENCH_TOPIC_TEMPLATE,
        JWT_SECRET: 'bench-secret-bench-secret-bench-secret',
        LOG_LEVEL: 'info',
        METRICS_PORT: String(metricsPort),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    stops.push(async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    });
    let out = '';
    child.stdout!.on('data', (b) => (out += b));
    await waitUntil('ingest start-up', () => (out.includes('mqtt connected and subscribed') ? 1 : 0), 1);
    const peakRssMb = () => {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      return m ? Number(m[1]) / 1024 : NaN;
    };
    // Uplinks committed, from ingest's own counter (counted after each commit): a count(*)
    // over the growing sensor_readings cost the database being measured ~5 % of a core.
    // Polled every READINGS_POLL_MS: the figure can only come out low by up to one poll
    // interval, never high.
    const readings = async () => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return Number(/^baygate_ingest_messages_applied_total\{outcome="uplink"\} (\d+)/m.exec(text)?.[1] ?? 0);
    };

    // Sustained, with the CPU each part of the system spends on it.
    const postmaster = localPostmaster(databaseUrl, (await owner.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
    const cpu = cpuMeter({
      ingest: () => processCpuSeconds(child.pid!),
      ingest_main_thread: () => mainThreadCpuSeconds(child.pid!),
      database: postmaster === null ? undefined : () => treeCpuSeconds(postmaster),
      broker: brokerPid === null ? undefined : () => processCpuSeconds(brokerPid!),
      // This process: the simulated fleet's publishers (and the polling of ingest's counter).
      publishers: ownCpuSeconds,
    });
    const started = Date.now();
    await Promise.all([publish(mqttUrl, MAIN_FLEET, MESSAGES, 1e9, 0.2, 100), waitUntil('sustained ingest', readings, MESSAGES, READINGS_POLL_MS)]);
    const uplinksPerS = MESSAGES / ((Date.now() - started) / 1000);
    const cpuFigures = cpu.stop(MESSAGES);
    say(`sustained: ${Math.round(uplinksPerS)} uplinks/s from first publish to last commit`);
    say(
      `CPU µs per uplink: ${Object.entries(cpuFigures.usPerUnit).map(([k, v]) => `${k} ${v ?? 'n/a'}`).join(', ')}; ` +
        `whole machine ${cpuFigures.machineUsPerUnit} (${cpuFigures.busyCores} cores busy on average)`,
    );

    // Latency at a fixed offered rate; every uplink is a state change.
    const listener = await owner.connect();
    listener.on('error', (err) => say(`listener: ${err.message}`));
    stops.push(async () => listener.release(true));
    const latencies: number[] = [];
    listener.on('notification', (n) => {
      const at = Date.parse(JSON.parse(n.payload!).at);
      latencies.push(Date.now() - at);
    });
    await listener.query(`LISTEN ${SPACE_EVENTS_CHANNEL}`);
    const base = await readings();
    const offered = LATENCY_RATE * LATENCY_SECONDS;
    await publish(mqttUrl, LATENCY_FLEET, offered, LATENCY_RATE, 1, 200);
    await waitUntil('latency phase', readings, base + offered);
    await new Promise((r) => setTimeout(r, 500)); // last NOTIFYs in flight
    await listener.query(`UNLISTEN *`);
    latencies.sort((a, b) => a - b);
    const rssMb = peakRssMb();
    say(`latency at ${LATENCY_RATE}/s: ${latencies.length} transitions, p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms; ingest peak RSS ${rssMb.toFixed(0)} MB`);

    console.log(
      JSON.stringify({
        uplinks_per_s: Math.round(uplinksPerS),
        encoding: ENCODING,
        broker_ceiling_per_s: Math.round(ceilingPerS),
        ratio: Number((uplinksPerS / ceilingPerS).toFixed(2)),
        p50_ms: percentile(latencies, 50),
        p99_ms: percentile(latencies, 99),
        rss_mb: Math.round(rssMb),
        broker: `${broker} ${brokerVersion}`,
        window,
        devices: DEVICES,
        messages: MESSAGES,
        batch_max: Number(process.env.INGEST_BATCH_MAX ?? 500),
        cpu_us_per_uplink: { ...cpuFigures.usPerUnit, machine: cpuFigures.machineUsPerUnit },
        busy_cores: cpuFigures.busyCores,
        ceiling_cpu_us_per_message: { ...raw.cpu.usPerUnit, machine: raw.cpu.machineUsPerUnit },
        ceiling_busy_cores: raw.cpu.busyCores,
      }),
    );
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err) => say(`cleanup: ${err}`));
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
