/**
 * Reservation creation under load (`npm run bench:reservations`): the real API (buildApp)
 * on a real PostgreSQL, one tenant with 1,000 spaces, POST /api/v6/reservations at
 * concurrency 50 for 20 s. The mix: 5 % replays of an accepted request (same
 * Idempotency-Key and body: 200), and of the rest 80 % windows that overlap nothing
 * (201) and 20 % windows that overlap an accepted reservation (409). Afterwards a SQL
 * audit counts overlapping reservations that both hold their space: it must be 0.
 *
 * Starts what it needs: an embedded PostgreSQL in a temporary directory on a free port,
 * or, with DATABASE_URL, a scratch database on that server (dropped at the end). The API
 * runs in a child process, as it would in production, so the load generator and the server
 * do not share an event loop.
 * The last line printed is one JSON object:
 * {"accepted_per_s", "p50_ms", "p99_ms", "conflicts", "overlaps"}.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:http';
import { startEmbeddedPostgres, type EmbeddedDb } from '../src/db/embedded.js';
import { createOwnerPool, createRuntimePool } from '../src/db/pool.js';
import { migrate } from '../src/db/migrate.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { buildApp } from '../api/app.js';
import { withDatabase } from '../test/helpers/pg-url.js';

const SPACES = 1_000;
const CONCURRENCY = 50;
const DURATION_MS = 20_000;
const REPLAY_SHARE = 0.05;
/** Of the requests that are not replays. */
const CONFLICT_SHARE = 0.2;
const WINDOW_MINUTES = 30;
/** The API's pool: enough for CONCURRENCY requests' short transactions on 2 cores. */
const API_POOL_MAX = 20;
const SETUP_CONCURRENCY = 20;

const log = createLogger(process.env.LOG_LEVEL ?? 'warn', 'bench-reservations');

function benchConfig(extra: Record<string, string> = {}) {
  return loadConfig({
    JWT_SECRET: randomBytes(32).toString('hex'),
    BCRYPT_ROUNDS: '4',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    DB_POOL_MAX: String(API_POOL_MAX),
    ...extra,
  });
}

// ---------------------------------------------------------------------------------------
// The API, in a child process (BENCH_SERVE carries its database URL and JWT secret)

interface ServerData {
  url: string;
  jwtSecret: string;
}

async function serve(data: ServerData): Promise<void> {
  const config = benchConfig({ JWT_SECRET: data.jwtSecret });
  const pool = createRuntimePool(data.url, 'baygate_app', { max: API_POOL_MAX, log, applicationName: 'bench-api' });
  const app = buildApp({ config, pool, log });
  const server = createServer(app.callback());
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  process.send!({ port: typeof addr === 'object' && addr ? addr.port : 0 });
  process.on('message', async (m: unknown) => {
    if (m !== 'stop') return;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await pool.end();
    process.exit(0);
  });
}

// ---------------------------------------------------------------------------------------
// The load generator

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY + SETUP_CONCURRENCY });

interface Reply {
  status: number;
  body: any;
}

function call(port: number, method: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: { ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

interface Accepted {
  key: string;
  body: { space_id: string; start_time: string; end_time: string };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  let embedded: EmbeddedDb | undefined;
  let dataDir: string | undefined;
  let dropScratch: (() => Promise<void>) | undefined;
  let url: string;
  const serverUrl = process.env.DATABASE_URL;
  if (serverUrl) {
    const name = `baygate_bench_${randomBytes(4).toString('hex')}`;
    const admin = createOwnerPool(serverUrl, { max: 1, log, applicationName: 'bench-admin' });
    await admin.query(`CREATE DATABASE ${name}`);
    url = withDatabase(serverUrl, name);
    dropScratch = async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    };
  } else {
    dataDir = mkdtempSync(join(tmpdir(), 'baygate-bench-pg-'));
    embedded = await startEmbeddedPostgres({ dataDir, port: 0, log });
    url = embedded.url;
  }
  const owner = createOwnerPool(url, { max: 2, log, applicationName: 'bench-owner' });
  const serverData: ServerData = { url, jwtSecret: randomBytes(32).toString('hex') };
  const child = fork(fileURLToPath(import.meta.url), [], {
    // BENCH_API_NODE_ARGS: extra node flags for the API process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    execArgv: ['--import', 'tsx', ...(process.env.BENCH_API_NODE_ARGS?.split(' ').filter(Boolean) ?? [])],
    env: { ...process.env, BENCH_SERVE: JSON.stringify(serverData) },
  });
  try {
    await migrate(owner);
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m: { port: number }) => resolve(m.port));
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`the API process exited (${code})`)));
    });
    console.log(`database: ${embedded ? `embedded PostgreSQL on port ${embedded.port}` : 'scratch database on DATABASE_URL'}; API on port ${port}`);

    const slug = `bench-${randomBytes(3).toString('hex')}`;
    const reg = await call(port, 'POST', '/api/auth/register', {
      email: `owner@${slug}.example`, password: 'correct horse battery', username: 'bench', tenant_name: 'Bench', tenant_slug: slug,
    });
    if (reg.status !== 201) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
    const auth = { authorization: `Bearer ${reg.body.access_token}` };

    const spaces: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: SETUP_CONCURRENCY }, async () => {
        while (next < SPACES) {
          const i = next++;
          const r = await call(port, 'POST', '/api/v6/spaces', { code: `B${i}` }, auth);
          if (r.status !== 201) throw new Error(`space: ${r.status} ${JSON.stringify(r.body)}`);
          spaces.push(r.body.id);
        }
      }),
    );
    console.log(`tenant ${slug} with ${spaces.length} spaces`);

    // Each space's timeline: the next window that overlaps nothing starts at its cursor.
    const origin = Date.now() + 3_600_000;
    const cursor = new Map(spaces.map((id) => [id, origin]));
    const accepted: Accepted[] = [];
    const latencies: number[] = [];
    const counts = { created: 0, replayed: 0, conflicts: 0, other: 0, sent: { fresh: 0, conflicting: 0, replay: 0 } };
    const unexpected = new Map<string, number>();
    const note = (kind: string, status: number) => {
      const k = `${kind}→${status}`;
      unexpected.set(k, (unexpected.get(k) ?? 0) + 1);
    };

    const started = performance.now();
    const deadline = started + DURATION_MS;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < deadline) {
          const r = Math.random();
          let kind: 'fresh' | 'conflicting' | 'replay';
          let key: string;
          let body: Accepted['body'];
          if (r < REPLAY_SHARE && accepted.length > 0) {
            kind = 'replay';
            ({ key, body } = accepted[Math.floor(Math.random() * accepted.length)]!);
          } else if (r < REPLAY_SHARE + (1 - REPLAY_SHARE) * CONFLICT_SHARE && accepted.length > 0) {
            kind = 'conflicting';
            const victim = accepted[Math.floor(Math.random() * accepted.length)]!.body;
            const shift = (WINDOW_MINUTES / 2) * 60_000;
            key = randomUUID();
            body = {
              space_id: victim.space_id,
              start_time: new Date(new Date(victim.start_time).getTime() + shift).toISOString(),
              end_time: new Date(new Date(victim.end_time).getTime() + shift).toISOString(),
            };
          } else {
            kind = 'fresh';
            const space = spaces[Math.floor(Math.random() * spaces.length)]!;
            const start = cursor.get(space)!;
            cursor.set(space, start + WINDOW_MINUTES * 60_000);
            key = randomUUID();
            body = { space_id: space, start_time: new Date(start).toISOString(), end_time: new Date(start + WINDOW_MINUTES * 60_000).toISOString() };
          }
          counts.sent[kind]++;
          const t0 = performance.now();
          const res = await call(port, 'POST', '/api/v6/reservations', body, { ...auth, 'idempotency-key': key });
          latencies.push(performance.now() - t0);
          if (res.status === 201) {
            counts.created++;
            accepted.push({ key, body });
            if (kind !== 'fresh') note(kind, res.status);
          } else if (res.status === 200) {
            counts.replayed++;
            if (kind !== 'replay') note(kind, res.status);
          } else if (res.status === 409) {
            counts.conflicts++;
            if (kind !== 'conflicting') note(kind, res.status);
          } else {
            counts.other++;
            note(kind, res.status);
          }
        }
      }),
    );
    const elapsedS = (performance.now() - started) / 1000;

    const audit = await owner.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM reservations a JOIN reservations b
          ON a.space_id = b.space_id AND a.id < b.id
         AND tstzrange(a.start_time, a.end_time, '[)') && tstzrange(b.start_time, b.end_time, '[)')
       WHERE a.status IN ('pending', 'active') AND b.status IN ('pending', 'active')`,
    );
    const rows = await owner.query<{ n: number }>('SELECT count(*)::int AS n FROM reservations');
    const overlaps = audit.rows[0]!.n;
    latencies.sort((a, b) => a - b);
    const total = latencies.length;
    const result = {
      accepted_per_s: Math.round(counts.created / elapsedS),
      p50_ms: Math.round(percentile(latencies, 50) * 10) / 10,
      p99_ms: Math.round(percentile(latencies, 99) * 10) / 10,
      conflicts: counts.conflicts,
      overlaps,
    };
    console.log(`${total} requests in ${elapsedS.toFixed(1)} s at concurrency ${CONCURRENCY} (${Math.round(total / elapsedS)} req/s)`);
    console.log(`  sent: ${counts.sent.fresh} non-overlapping, ${counts.sent.conflicting} conflicting, ${counts.sent.replay} replays`);
    console.log(`  201 accepted: ${counts.created} (${result.accepted_per_s}/s); 200 replayed: ${counts.replayed}; 409 conflicts: ${counts.conflicts}; other: ${counts.other}`);
    if (unexpected.size > 0) console.log(`  unexpected answers (kind→status): ${JSON.stringify(Object.fromEntries(unexpected))}`);
    console.log(`  latency: p50 ${result.p50_ms} ms, p90 ${percentile(latencies, 90).toFixed(1)} ms, p99 ${result.p99_ms} ms, max ${latencies.at(-1)?.toFixed(1)} ms`);
    console.log(`  audit: ${rows.rows[0]!.n} reservation rows, ${overlaps} overlapping pairs`);
    console.log(JSON.stringify(result));
    if (overlaps !== 0) process.exitCode = 1;
  } finally {
    agent.destroy();
    if (child.exitCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.send('stop');
      });
    }
    await owner.end();
    await dropScratch?.();
    await embedded?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

const serveData = process.env.BENCH_SERVE;
(serveData ? serve(JSON.parse(serveData) as ServerData) : main()).catch((err) => {
  console.error(err);
  process.exit(1);
});
