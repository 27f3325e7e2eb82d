// Nothing is lost: uplinks keep flowing while PostgreSQL restarts, while ingest is stopped
// with SIGTERM, and while ingest is killed with SIGKILL; afterwards every uplink is applied
// exactly once (counted in SQL), because a message is acknowledged only after its commit
// and the broker redelivers the rest on the persistent session.
// Bounded here (1,000 uplinks per fault); `npm run soak` runs it at FUZZ_SCALE=20 (20,000).
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { startEmbeddedPostgres, type EmbeddedDb } from '../../src/db/embedded.js';
import { createOwnerPool, type Pool } from '../../src/db/pool.js';
import { migrate } from '../../src/db/migrate.js';
import { createLogger } from '../../src/log.js';
import { startIngest } from '../../ingest/main.js';
import { eventTopic, upEvent } from '../../src/simulator/events.js';
import { devEuiAt } from '../../src/simulator/payloads.js';
import { testConfig } from '../helpers/api.js';
import { testDb } from '../helpers/db.js';
import { testBroker, type TestBroker } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';
import { fuzzScale, reportFigures } from '../helpers/fuzz.js';
import { seedFleets } from '../helpers/fleet.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const FIRST = '70B3D5E7FA000000';
const DEVICES = 50;
const log = createLogger('silent');
/** Uplinks per fault: 1,000 in `npm test`; `npm run soak` (FUZZ_SCALE=20) sends 20,000. */
const COUNT = Math.round(1_000 * fuzzScale());
// Three restarts of real processes: more than tap's default per-file timeout on a busy machine.
t.setTimeout(300_000 * Math.max(1, fuzzScale()));

/** A tenant with DEVICES sensors, each assigned to a space. */
const seed = (owner: Pool) => seedFleets(owner, { id: '00000000-0000-4000-8000-0000000fa017', name: 'Faults', slug: 'faults' }, [{ first: FIRST, devices: DEVICES }]);

/**
 * Publishes `count` uplinks at QoS 1, round-robin over the devices, each a status frame
 * alternating occupied/free, paced at `perSecond`. Returns when the broker acknowledged all.
 */
async function publish(broker: TestBroker, count: number, perSecond: number, during?: (sent: number) => Promise<void>): Promise<void> {
  const pub = await mqtt.connectAsync(broker.chirpstackUrl, { clientId: `bgt-faults-pub-${randomBytes(3).toString('hex')}` });
  const started = Date.now();
  const t0 = Date.now() - 600_000;
  try {
    for (let i = 0; i < count; i++) {
      const wait = started + (i * 1000) / perSecond - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const devEui = devEuiAt(FIRST, i % DEVICES);
      const fCnt = Math.floor(i / DEVICES) + 1;
      const ev = upEvent({ devEui, fCnt, fPort: 1, data: Buffer.from([fCnt % 2]), time: new Date(t0 + i * 10) });
      // Bounded in flight: a broker's own queue limits (Mosquitto's defaults) must not be what is measured.
      await pub.publishAsync(eventTopic(broker.template, devEui, 'up'), JSON.stringify(ev), { qos: 1 });
      await during?.(i + 1);
    }
  } finally {
    await pub.endAsync();
  }
}

async function assertExactlyOnce(t: Test, owner: Pool, count: number, suite: string): Promise<void> {
  await waitFor(async () => Number((await owner.query('SELECT count(*) AS n FROM sensor_readings')).rows[0].n) >= count, 60_000 * Math.max(1, fuzzScale()), `${count} readings`);
  const r = await owner.query('SELECT count(*) AS n, count(DISTINCT deduplication_id) AS d FROM sensor_readings');
  reportFigures(t, suite, { uplinks: count, applied: Number(r.rows[0].d), lost: count - Number(r.rows[0].d), duplicates: Number(r.rows[0].n) - Number(r.rows[0].d) });
  t.equal(Number(r.rows[0].n), count, 'every uplink stored');
  t.equal(Number(r.rows[0].d), count, 'none twice');
  const last = Math.floor((count - 1) / DEVICES) + 1;
  const states = await owner.query(`SELECT current_state, count(*) AS n FROM spaces GROUP BY 1`);
  t.same(states.rows.map((x) => x.current_state), [last % 2 ? 'occupied' : 'free'], 'every space shows its last frame');
  const dead = await owner.query('SELECT count(*) AS n FROM dead_letters');
  t.equal(Number(dead.rows[0].n), 0, 'nothing dead-lettered');
}

t.test('PostgreSQL restarts mid-stream: ingest holds its acknowledgements and loses nothing', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'baygate-faults-pg-'));
  let db: EmbeddedDb = await startEmbeddedPostgres({ dataDir, port: 0, log });
  const port = db.port;
  t.teardown(async () => {
    await db.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const owner = createOwnerPool(db.url, { max: 2, log, applicationName: 'faults' });
  t.teardown(() => owner.end());
  await migrate(owner);
  await seed(owner);

  const broker = await testBroker(t);
  const config = testConfig({ CHIRPSTACK_EVENT_TOPIC: broker.template, MQTT_CLIENT_ID: `bgt-faults-${broker.id}`, INGEST_BATCH_MAX_MS: '5' });
  const ingest = await startIngest({ config, databaseUrl: db.url, mqttUrl: broker.url, log, metricsServer: false });
  t.teardown(() => ingest.stop());

  let restarted: Promise<void> | null = null;
  await publish(broker, COUNT, 500, async (sent) => {
    if (sent !== Math.round(COUNT * 0.3)) return;
    restarted = (async () => {
      await db.stop();
      await waitFor(() => ingest.pipeline.dbDown, 10_000, 'ingest to notice the database is gone');
      await new Promise((r) => setTimeout(r, 1_000));
      db = await startEmbeddedPostgres({ dataDir, port, log });
    })();
  });
  await restarted;
  t.ok(true, 'the database was stopped for over a second while uplinks flowed');
  await assertExactlyOnce(t, owner, COUNT, 'ingest-faults postgres-restart');
});

/** Runs ingest as its own process; `subscribed` resolves once its MQTT session is subscribed. */
function spawnIngest(env: Record<string, string>): { child: ChildProcess; exited: Promise<number | null>; subscribed: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'ingest/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const subscribed = new Promise<void>((resolve) => {
    child.stdout!.on('data', (b) => {
      out += b;
      if (out.includes('mqtt connected and subscribed')) resolve();
    });
  });
  return { child, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))), subscribed };
}

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  t.test(`ingest stopped with ${signal} mid-stream, then restarted: every uplink applied once`, async (t) => {
    const db = await testDb(t);
    await seed(db.owner);
    const broker = await testBroker(t);
    const env = {
      DATABASE_URL: db.url,
      MQTT_URL: broker.url,
      MQTT_CLIENT_ID: `bgt-faults-${signal}-${broker.id}`,
      CHIRPSTACK_EVENT_TOPIC: broker.template,
      JWT_SECRET: 'faults-secret-faults-secret-faults-secret',
      METRICS_PORT: '0',
      LOG_LEVEL: 'info',
    };
    const readings = async () => Number((await db.owner.query('SELECT count(*) AS n FROM sensor_readings')).rows[0].n);
    let first = spawnIngest(env);
    t.teardown(() => first.child.kill('SIGKILL'));
    // Its persistent session must exist before the first publish, or the broker has no one to queue for.
    await first.subscribed;
    let stoppedAt = -1;
    let exitCode: number | null | undefined;
    await publish(broker, COUNT, 500, async (sent) => {
      if (sent !== Math.round(COUNT * 0.4)) return;
      stoppedAt = await readings();
      first.child.kill(signal);
      exitCode = await first.exited;
      // Published while ingest is down: the broker queues it on the persistent session.
    });
    t.ok(stoppedAt > 0 && stoppedAt < COUNT, `stopped mid-stream (${stoppedAt} applied)`);
    if (signal === 'SIGTERM') t.equal(exitCode, 0, 'SIGTERM: a clean exit after committing the batch in flight');
    first = spawnIngest(env);
    await assertExactlyOnce(t, db.owner, COUNT, `ingest-faults ${signal}`);
    first.child.kill('SIGTERM');
    t.equal(await first.exited, 0);
  });
}
