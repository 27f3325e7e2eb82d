/**
 * `npm run bench:scale-out`: ingest throughput with one ingest process and with two in one
 * shared-subscription group (MQTT_SHARE_GROUP, MQTT 5 `$share/<group>/<filter>`), each
 * ingest its own process (`node --import tsx ingest/main.ts`), on one PostgreSQL.
 *
 * Broker: a private Mosquitto started with the deployment's settings
 * (deploy/mosquitto/mosquitto.conf, bench/lib/mosquitto.ts): aedes has no shared
 * subscriptions, and the machine's broker is not what is measured. Database: DATABASE_URL
 * (a scratch database on it, dropped afterwards), else an embedded PostgreSQL.
 *
 * Phases run in the order one, two, two, one (ABBA), and each figure is the mean of its
 * two phases, so neither setting gains from running later (a warmer cache) or earlier (a
 * smaller table). Each phase has its own sensors (so no uplink repeats an earlier phase's
 * frame), starts its ingest processes and waits until every one is subscribed, then times
 * MESSAGES uplinks from the first publish to the moment the last reading is committed.
 * Env: BENCH_DEVICES (2000 per phase), BENCH_MESSAGES (50000 per phase), BENCH_PUBLISHERS (4).
 * The last line printed is one JSON object of the figures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { createOwnerPool } from '../src/db/pool.js';
import { migrate } from '../src/db/migrate.js';
import { createLogger } from '../src/log.js';
import { devEuiAt } from '../src/simulator/payloads.js';
import { startPrivateMosquitto } from './lib/mosquitto.js';
import { benchDatabase } from './lib/database.js';
import { BENCH_TOPIC_TEMPLATE, publishFleet, waitUntil } from './lib/fleet.js';
import { seedFleets } from '../test/helpers/fleet.js';
import { INGEST_NODE_FLAGS } from '../ingest/main.js';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 2_000);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 50_000);
const PUBLISHERS = Number(process.env.BENCH_PUBLISHERS ?? 4);
/** Ingest processes per phase, counterbalanced (see above). */
const PHASES = [1, 2, 2, 1] as const;
/** Phase k's sensors start here: apart from every other phase's. */
const fleet = (k: number) => devEuiAt('70B3D5E770000000', k * 0x100000);
const ROOT = new URL('../', import.meta.url).pathname;
/** How long an ingest process may take to connect and subscribe. */
const SUBSCRIBE_TIMEOUT_MS = 30_000;
/** count(*) over a growing table costs the database being measured: poll it sparingly. */
const READINGS_POLL_MS = 500;

const log = createLogger(process.env.LOG_LEVEL ?? 'warn', 'bench-scale-out');
const say = (line: string) => console.error(line);

function publish(url: string, first: string, count: number, seed: number): Promise<void> {
  return publishFleet(url, { first, devices: DEVICES }, { count, rate: 1e9, changeProbability: 0.2, seed, publishers: PUBLISHERS });
}

interface Ingest {
  child: ChildProcess;
  stop(): Promise<void>;
}

async function startIngests(n: number, databaseUrl: string, mqttUrl: string, group: string): Promise<Ingest[]> {
  const ingests: Ingest[] = [];
  for (let i = 1; i <= n; i++) {
    const child = spawn(process.execPath, [...INGEST_NODE_FLAGS, '--import', 'tsx', 'ingest/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        MQTT_URL: mqttUrl,
        MQTT_CLIENT_ID: `${group}-${i}`,
        MQTT_SHARE_GROUP: group,
        CHIRPSTACK_EVENT_TOPIC: BENCH_TOPIC_TEMPLATE,
        JWT_SECRET: 'bench-secret-bench-secret-bench-secret',
        LOG_LEVEL: 'info',
        METRICS_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((r) => child.once('exit', r));
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`ingest ${i} did not subscribe`)), SUBSCRIBE_TIMEOUT_MS);
      child.stdout!.on('data', (b) => {
        out += b;
        if (out.includes('mqtt connected and subscribed')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.stdout!.resume();
    ingests.push({
      child,
      async stop() {
        child.kill('SIGTERM');
        await exited;
      },
    });
  }
  return ingests;
}

async function main(): Promise<void> {
  const stops: (() => Promise<void>)[] = [];
  try {
    const broker = await startPrivateMosquitto();
    if (!broker) throw new Error('needs the mosquitto binary (apt-get install mosquitto): aedes has no shared subscriptions');
    stops.push(() => broker.stop());

    const db = await benchDatabase(log);
    stops.push(() => db.stop());
    const databaseUrl = db.url;
    const owner = createOwnerPool(databaseUrl, { max: 2, log, applicationName: 'bench-scale-out' });
    stops.push(() => owner.end());
    await migrate(owner);
    await seedFleets(
      owner,
      { id: '00000000-0000-4000-8000-0000005ca1e0', name: 'Scale City', slug: 'scale-city' },
      PHASES.map((_, k) => ({ first: fleet(k), devices: DEVICES })),
    );
    const readings = async () => Number((await owner.query('SELECT count(*) AS n FROM sensor_readings')).rows[0].n);
    say(`broker: mosquitto ${broker.version} (deploy settings); ${cpus().length} cores; ${DEVICES} devices and ${MESSAGES} uplinks per phase`);

    const rates: Record<1 | 2, number[]> = { 1: [], 2: [] };
    const perPhase: number[] = [];
    for (const [k, n] of PHASES.entries()) {
      const ingests = await startIngests(n, databaseUrl, broker.url, `bench-share-${k}-${process.pid}`);
      const base = await readings();
      const started = Date.now();
      await Promise.all([publish(broker.url, fleet(k), MESSAGES, 100 * (k + 1)), waitUntil(`phase ${k + 1}`, async () => (await readings()) - base, MESSAGES, READINGS_POLL_MS)]);
      const rate = MESSAGES / ((Date.now() - started) / 1000);
      rates[n].push(rate);
      perPhase.push(rate);
      say(`phase ${k + 1}, ${n} ingest process${n > 1 ? 'es' : ''}: ${Math.round(rate)} uplinks/s from first publish to last commit`);
      for (const i of ingests) await i.stop();
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const one = mean(rates[1]);
    const two = mean(rates[2]);
    const dup = await owner.query('SELECT count(*) - count(DISTINCT deduplication_id) AS d FROM sensor_readings');

    console.log(
      JSON.stringify({
        one_process_uplinks_per_s: Math.round(one),
        two_processes_uplinks_per_s: Math.round(two),
        speedup: Number((two / one).toFixed(2)),
        phases: perPhase.map((r, k) => `${PHASES[k]}:${Math.round(r)}`).join(' '),
        duplicates: Number(dup.rows[0].d),
        cores: cpus().length,
        broker: `mosquitto ${broker.version}`,
        devices: DEVICES,
        messages: MESSAGES,
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
