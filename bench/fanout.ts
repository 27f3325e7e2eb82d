/**
 * `npm run bench:fanout`: live-event fan-out under load. BENCH_CLIENTS (default 1,000)
 * Server-Sent Events clients of one tenant stay connected while ChirpStack uplinks flow at
 * BENCH_RATE per second (default 500) for BENCH_SECONDS (default 20) through the real
 * ingest (broker → ingest → Postgres → NOTIFY → API → SSE). Every uplink flips a sensor, so
 * every uplink is one space event that every client must receive.
 *
 * Processes, as in production: the API (startApi) and ingest (startIngest, plus the
 * embedded aedes broker unless MQTT_URL is set) each run in a child process; this process
 * publishes and holds the clients. PostgreSQL is embedded unless DATABASE_URL is set (a
 * scratch database is created there and dropped after).
 *
 * Latency is MQTT publish → SSE receipt: each uplink's ChirpStack `time` is its publish
 * time, ingest stores it as the event's `at`, and the client subtracts it on receipt (one
 * clock: every process runs on this machine). A client is missing events when its count or
 * the sum of its ids differs from the table's. Prints p50/p99 and the API's peak RSS; the
 * last line is one JSON object {"clients","events","p50_ms","p99_ms","missing","rss_mb"}.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { createOwnerPool, type Pool } from '../src/db/pool.js';
import { migrate } from '../src/db/migrate.js';
import { startEmbeddedPostgres, type EmbeddedDb } from '../src/db/embedded.js';
import { startEmbeddedBroker } from '../src/mqtt/broker.js';
import { benchIdentity } from './lib/broker.js';
import { startApi } from '../api/main.js';
import { startIngest } from '../ingest/main.js';
import { eventTopic, upEvent } from '../src/simulator/events.js';
import { withDatabase } from '../test/helpers/pg-url.js';
import { SPACE_EVENTS_CHANNEL } from '../src/events.js';

const env = process.env;
const num = (name: string, fallback: number) => (env[name] ? Number(env[name]) : fallback);
const CLIENTS = num('BENCH_CLIENTS', 1_000);
const RATE = num('BENCH_RATE', 500);
const SECONDS = num('BENCH_SECONDS', 20);
/** Sensors publishing; each flips on every uplink, so each uplink is a transition. */
const DEVICES = num('BENCH_DEVICES', 1_000);
/** Publishing ticks: RATE / TICKS_PER_S uplinks every 1000 / TICKS_PER_S ms. */
const TICKS_PER_S = 100;
/** Latency is taken on events whose id is a multiple of this (on every client); every event is counted. */
const LATENCY_SAMPLE = num('BENCH_LATENCY_SAMPLE', 1);
/** Clients connect this many at a time. */
const CONNECT_CONCURRENCY = 50;
/** After the last publish, clients get this long to receive everything. */
const DRAIN_MS = 20_000;
/** The latency histogram has 1 ms buckets up to this. */
const HISTOGRAM_MS = 60_000;
const JWT_SECRET = 'bench-fanout-secret-that-is-at-least-32-characters';
const TEMPLATE = 'application/{application_id}/device/{dev_eui}/event/{event}';
const log = createLogger(env.LOG_LEVEL ?? 'warn', 'bench-fanout');

// ---------------------------------------------------------------------------------------
// Children: `--child=api` and `--child=ingest` run one process each and talk over IPC.

function childEnv(extra: Record<string, string>): Record<string, string | undefined> {
  return { ...env, JWT_SECRET, LOG_LEVEL: env.LOG_LEVEL ?? 'warn', HOST: '127.0.0.1', PORT: '0', ...extra };
}

async function runApiChild(): Promise<void> {
  const config = loadConfig(env);
  const api = await startApi(config, env.DATABASE_URL!, createLogger(config.logLevel, 'bench-api'));
  let peak = 0;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const sample = () => (peak = Math.max(peak, process.memoryUsage().rss));
  setInterval(sample, 100).unref();
  process.on('message', async (m: { cmd: string }) => {
    if (m.cmd === 'rss') {
      const cpu = process.cpuUsage();
      process.send!({
        rss: process.memoryUsage().rss,
        peak: Math.max(peak, sample()),
        cpuMs: (cpu.user + cpu.system) / 1000,
        loopP99Ms: Math.round(loop.percentile(99) / 1e6),
      });
      loop.reset();
    }
    if (m.cmd === 'stop') {
      await api.stop();
      process.exit(0);
    }
  });
  process.send!({ url: api.url });
}

async function runIngestChild(): Promise<void> {
  const config = loadConfig(env);
  const ilog = createLogger(config.logLevel, 'bench-ingest');
  const identity = benchIdentity(TEMPLATE);
  const broker = env.MQTT_URL ? null : await startEmbeddedBroker({ port: 0, host: '127.0.0.1', log: ilog, identities: [identity] });
  const mqttUrl = env.MQTT_URL ?? broker!.urlFor(identity.username);
  // Batch figures, to tell the ingest half of the latency apart from the fan-out.
  const batches = { count: 0, messages: 0, commitMs: [] as number[], lagMs: [] as number[], publishToCommitMs: [] as number[] };
  const ingest = await startIngest({
    config,
    databaseUrl: env.DATABASE_URL!,
    mqttUrl,
    log: ilog,
    onBatch: (r, info) => {
      const now = Date.now();
      for (const n of r.transitions) batches.publishToCommitMs.push(now - Date.parse(n.at));
      batches.count++;
      batches.messages += info.size;
      batches.commitMs.push(info.commitMs);
      batches.lagMs.push(Date.now() - info.oldestReceivedAt);
    },
  });
  const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)] ?? 0;
  process.on('message', async (m: { cmd: string }) => {
    if (m.cmd === 'stats') {
      process.send!({
        batches: batches.count,
        meanSize: batches.count ? Math.round(batches.messages / batches.count) : 0,
        commitP50: Math.round(pct(batches.commitMs, 50)),
        commitP99: Math.round(pct(batches.commitMs, 99)),
        lagP99: Math.round(pct(batches.lagMs, 99)),
        publishToCommitP50: Math.round(pct(batches.publishToCommitMs, 50)),
        publishToCommitP99: Math.round(pct(batches.publishToCommitMs, 99)),
      });
    }
    if (m.cmd === 'stop') {
      await ingest.stop();
      await broker?.close();
      process.exit(0);
    }
  });
  process.send!({ mqttUrl });
}

function spawnChild<T>(kind: 'api' | 'ingest', childEnvVars: Record<string, string | undefined>): Promise<{ child: ChildProcess; hello: T }> {
  const child = fork(fileURLToPath(import.meta.url), [`--child=${kind}`], {
    env: childEnvVars as NodeJS.ProcessEnv,
    // BENCH_PROFILE=<dir> writes a V8 CPU profile of each child there (open it in Chrome DevTools).
    execArgv: ['--import', 'tsx', ...(env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${env.BENCH_PROFILE}`] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (hello) => resolve({ child, hello: hello as T }));
    child.once('exit', (code) => reject(new Error(`${kind} child exited with ${code} before it was ready`)));
  });
}

function ask<T>(child: ChildProcess, cmd: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    child.send({ cmd });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.send({ cmd: 'stop' });
  });
}

// ---------------------------------------------------------------------------------------
// Clients: a lean SSE reader. Our frames are `id: N\nevent: T\ndata: {...,"at":"…",...}\n\n`.

interface ClientStats {
  events: number;
  idSum: number;
  lastId: number;
  outOfOrder: number;
  ended: boolean;
}

/** 1 ms buckets: publish → SSE receipt over every delivery, and publish → NOTIFY (the ingest half, for attribution). */
class Histogram {
  readonly counts = new Uint32Array(HISTOGRAM_MS + 1);
  n = 0;
  add(ms: number): void {
    this.counts[Math.min(HISTOGRAM_MS, Math.max(0, ms))]!++;
    this.n++;
  }
  percentile(p: number): number {
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    let seen = 0;
    for (let ms = 0; ms <= HISTOGRAM_MS; ms++) {
      seen += this.counts[ms]!;
      if (seen >= rank) return ms;
    }
    return HISTOGRAM_MS;
  }
}
const receipt = new Histogram();
const notify = new Histogram();

const FRAME_END = Buffer.from('\n\n');
const AT_FIELD = Buffer.from('"at":"');
const ISO_LENGTH = 24; // 2024-01-15T08:15:00.000Z

/**
 * Reads a stream on Buffers (no decoding): counts each frame that starts with `id: `, sums
 * its id, and times it from the `at` in its data. The clients share this process's one
 * core with each other; parsing strings here would measure the reader, not the server.
 */
function connectClient(baseUrl: string, token: string, agent: Agent): Promise<ClientStats> {
  const stats: ClientStats = { events: 0, idSum: 0, lastId: 0, outOfOrder: 0, ended: false };
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}/api/v6/events`, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`SSE connect: ${res.statusCode}`));
      let pending: Buffer | null = null;
      res.on('data', (chunk: Buffer) => {
        const now = Date.now();
        const buf: Buffer = pending ? Buffer.concat([pending, chunk]) : chunk;
        let start = 0;
        for (;;) {
          const end = buf.indexOf(FRAME_END, start);
          if (end < 0) break;
          // 'id: '
          if (buf[start] === 0x69 && buf[start + 1] === 0x64 && buf[start + 2] === 0x3a) {
            let id = 0;
            let i = start + 4;
            for (; buf[i] !== 0x0a; i++) id = id * 10 + (buf[i]! - 0x30);
            if (id <= stats.lastId) stats.outOfOrder++;
            stats.lastId = id;
            stats.events++;
            stats.idSum += id;
            if (id % LATENCY_SAMPLE === 0) {
              const a = buf.indexOf(AT_FIELD, i) + AT_FIELD.length;
              receipt.add(now - Date.parse(buf.toString('latin1', a, a + ISO_LENGTH)));
            }
          }
          start = end + 2;
        }
        pending = start < buf.length ? buf.subarray(start) : null;
      });
      res.on('close', () => (stats.ended = true));
      resolve(stats);
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    // On a loaded machine a new connection can take seconds; a failed poll is just a "not yet".
    if (await Promise.resolve(cond()).catch(() => false)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

// ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    // Database: a scratch database on DATABASE_URL's server, or on an embedded PostgreSQL.
    let serverUrl = env.DATABASE_URL;
    if (!serverUrl) {
      const dataDir = mkdtempSync(join(tmpdir(), 'baygate-bench-pg-'));
      const pg: EmbeddedDb = await startEmbeddedPostgres({ dataDir, port: 0, log, keepSignalHandlers: false });
      cleanup.push(async () => {
        await pg.stop();
        rmSync(dataDir, { recursive: true, force: true });
      });
      serverUrl = pg.url;
    }
    const dbName = `baygate_bench_${process.pid}`;
    const admin = createOwnerPool(serverUrl, { max: 1, log, applicationName: 'baygate-bench' });
    await admin.query(`CREATE DATABASE ${dbName}`);
    cleanup.push(async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.end();
    });
    const dbUrl = withDatabase(serverUrl, dbName);
    const owner: Pool = createOwnerPool(dbUrl, { max: 4, log, applicationName: 'baygate-bench' });
    cleanup.push(() => owner.end());
    await migrate(owner);

    const { child: apiChild, hello: apiHello } = await spawnChild<{ url: string }>('api', childEnv({ DATABASE_URL: dbUrl }));
    cleanup.push(() => stopChild(apiChild));
    const apiUrl = apiHello.url;

    // One tenant, DEVICES sensors each assigned to its own space.
    const reg = await fetch(`${apiUrl}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'bench@example.com', password: 'bench-password', username: 'bench', tenant_name: 'Bench', tenant_slug: 'bench' }),
    });
    const { access_token: token, user } = (await reg.json()) as { access_token: string; user: { tenant_id: string } };
    const tenantId = user.tenant_id;
    await owner.query(
      `WITH site AS (SELECT id FROM sites WHERE tenant_id = $1 AND is_default),
            sp AS (INSERT INTO spaces (tenant_id, site_id, code)
                   SELECT $1, site.id, 'B-' || lpad(i::text, 5, '0') FROM site, generate_series(1, $2) AS i RETURNING id, code)
       INSERT INTO devices (tenant_id, dev_eui, device_type, decoder, status, lifecycle_state, assigned_space_id, assigned_at)
       SELECT $1, upper('BE' || lpad(to_hex(substr(code, 3)::int), 14, '0')), 'sensor', 'nwave-nps405', 'assigned', 'operational', id, now() FROM sp`,
      [tenantId, DEVICES],
    );

    const { child: ingestChild, hello: ingestHello } = await spawnChild<{ mqttUrl: string }>(
      'ingest',
      childEnv({ DATABASE_URL: dbUrl, CHIRPSTACK_EVENT_TOPIC: TEMPLATE, MQTT_CLIENT_ID: `bench-ingest-${process.pid}` }),
    );
    cleanup.push(() => stopChild(ingestChild));

    // Clients.
    const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
    const clients: ClientStats[] = [];
    const connectStart = Date.now();
    for (let i = 0; i < CLIENTS; i += CONNECT_CONCURRENCY) {
      const batch = Array.from({ length: Math.min(CONNECT_CONCURRENCY, CLIENTS - i) }, () => connectClient(apiUrl, token, agent));
      clients.push(...(await Promise.all(batch)));
    }
    cleanup.push(async () => agent.destroy());
    console.log(`${CLIENTS} SSE clients connected in ${Date.now() - connectStart} ms`);
    const idleRss = await ask<{ rss: number; cpuMs: number }>(apiChild, 'rss');
    const cpuStart = process.cpuUsage();
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();

    // The ingest half of the path, measured on its own connection: publish → NOTIFY.
    const listener = await owner.connect();
    listener.on('notification', (n) => {
      const at = Date.parse((JSON.parse(n.payload!) as { at: string }).at);
      notify.add(Date.now() - at);
    });
    await listener.query(`LISTEN ${SPACE_EVENTS_CHANNEL}`);
    cleanup.push(async () => listener.release());
    const startId = Number((await owner.query('SELECT coalesce(max(id), 0) AS id FROM space_events WHERE tenant_id = $1', [tenantId])).rows[0].id);

    // Publish RATE uplinks per second, each flipping its sensor.
    const pub = await mqtt.connectAsync(ingestHello.mqttUrl, { clientId: `bench-pub-${process.pid}`, reconnectPeriod: 500 });
    cleanup.push(() => pub.endAsync());
    const fCnt = new Uint32Array(DEVICES);
    const devEui = (i: number) => 'be' + (i + 1).toString(16).padStart(14, '0');
    const total = RATE * SECONDS;
    const perTick = RATE / TICKS_PER_S;
    let published = 0;
    let next = 0;
    const publishStart = Date.now();
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        // Catch up to the schedule, so timer jitter does not lower the rate.
        const due = Math.min(total, Math.floor(((Date.now() - publishStart) / 1000) * RATE) + perTick);
        while (published < due) {
          const d = next++ % DEVICES;
          const n = ++fCnt[d]!;
          const payload = JSON.stringify(upEvent({ devEui: devEui(d), fCnt: n, fPort: 1, data: Buffer.from([n % 2]), time: new Date() }));
          pub.publish(eventTopic(TEMPLATE, devEui(d), 'up'), payload, { qos: 1 });
          published++;
        }
        if (published >= total) {
          clearInterval(tick);
          resolve();
        }
      }, 1000 / TICKS_PER_S);
    });
    const publishMs = Date.now() - publishStart;
    console.log(`published ${published} uplinks in ${publishMs} ms (${Math.round((published * 1000) / publishMs)}/s)`);

    // Everything applied, then every client has everything (or the drain time is up).
    const applied = async () =>
      (await owner.query('SELECT count(*)::int AS n, coalesce(sum(id), 0)::float8 AS s FROM space_events WHERE tenant_id = $1 AND id > $2', [tenantId, startId]))
        .rows[0] as { n: number; s: number };
    await waitUntil(async () => (await applied()).n >= published, DRAIN_MS);
    const expected = await applied();
    await waitUntil(() => clients.every((c) => c.events >= expected.n), DRAIN_MS);
    const rss = await ask<{ rss: number; peak: number; cpuMs: number; loopP99Ms: number }>(apiChild, 'rss');
    const cpuEnd = process.cpuUsage(cpuStart);
    const runMs = Date.now() - publishStart;
    const batch = await ask<{
      batches: number;
      meanSize: number;
      commitP50: number;
      commitP99: number;
      lagP99: number;
      publishToCommitP50: number;
      publishToCommitP99: number;
    }>(ingestChild, 'stats');

    let missing = 0;
    let mismatched = 0;
    let outOfOrder = 0;
    for (const c of clients) {
      missing += Math.max(0, expected.n - c.events);
      if (c.events === expected.n && c.idSum !== expected.s) mismatched++;
      outOfOrder += c.outOfOrder;
    }
    missing += mismatched;
    const ended = clients.filter((c) => c.ended).length;
    const p50 = receipt.percentile(50);
    const p99 = receipt.percentile(99);
    const rssMb = Math.round(rss.peak / 1048576);
    console.log(`events: ${expected.n} applied of ${published} published; ${receipt.n} deliveries`);
    console.log(
      `ingest: ${batch.batches} batches of ${batch.meanSize} on average, commit p50 ${batch.commitP50} ms / p99 ${batch.commitP99} ms, ` +
        `arrival → commit p99 ${batch.lagP99} ms; publish → commit p50 ${batch.publishToCommitP50} ms / p99 ${batch.publishToCommitP99} ms`,
    );
    console.log(`publish → NOTIFY (ingest): p50 ${notify.percentile(50)} ms, p99 ${notify.percentile(99)} ms`);
    console.log(`publish → SSE receipt: p50 ${p50} ms, p99 ${p99} ms, max ${receipt.percentile(100)} ms`);
    console.log(`missing: ${missing} (clients with a different id sum: ${mismatched}); out of order or duplicate: ${outOfOrder}; clients disconnected: ${ended}`);
    loopDelay.disable();
    console.log(`clients' event loop delay: p50 ${Math.round(loopDelay.percentile(50) / 1e6)} ms, p99 ${Math.round(loopDelay.percentile(99) / 1e6)} ms (part of every receipt time)`);
    console.log(`API event loop delay: p99 ${rss.loopP99Ms} ms`);
    console.log(`API RSS: ${Math.round(idleRss.rss / 1048576)} MB with ${CLIENTS} idle clients, peak ${rssMb} MB`);
    console.log(
      `CPU over the run (${runMs} ms): API ${Math.round(((rss.cpuMs - idleRss.cpuMs) / runMs) * 100)} % of a core, ` +
        `clients and publisher ${Math.round(((cpuEnd.user + cpuEnd.system) / 1000 / runMs) * 100)} %; machine load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`,
    );
    console.log(JSON.stringify({ clients: CLIENTS, events: expected.n, p50_ms: p50, p99_ms: p99, missing, rss_mb: rssMb }));
  } finally {
    for (const fn of cleanup.reverse()) await fn().catch((err) => log.warn({ err }, 'cleanup failed'));
  }
}

const child = process.argv.find((a) => a.startsWith('--child='))?.slice('--child='.length);
const run = child === 'api' ? runApiChild : child === 'ingest' ? runIngestChild : main;
run().then(
  () => {
    if (!child) process.exit(0);
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
