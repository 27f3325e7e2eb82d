// `npm start` on an empty DATA_DIR brings the whole system up with embedded PostgreSQL and
// an embedded broker, on free ports, and reaches /health; Ctrl-C stops it cleanly and the
// next start keeps the data.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { freePort } from '../../src/net.js';
import { waitFor } from '../helpers/wait.js';
import { testDb } from '../helpers/db.js';

const ROOT = new URL('../../', import.meta.url).pathname;

async function start(env: Record<string, string>): Promise<{ child: ChildProcess; output: () => string }> {
  let out = '';
  // No DATABASE_URL and no MQTT_URL: the zero-setup path a fresh machine takes. Nor tap's
  // own variables (NODE_OPTIONS loads its coverage hooks, which handle signals themselves).
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !['DATABASE_URL', 'MQTT_URL', 'NODE_OPTIONS'].includes(k) && !k.startsWith('TAP') && !k.startsWith('_TAPJS')),
  );
  const child = spawn('npm', ['start'], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout!.on('data', (b) => (out += b));
  child.stderr!.on('data', (b) => (out += b));
  return { child, output: () => out };
}

async function stop(run: { child: ChildProcess; output: () => string }): Promise<void> {
  // npm runs the server as a child: signal the whole process group, as a terminal's Ctrl-C
  // does. npm itself then exits 130 (killed by SIGINT), as after any Ctrl-C.
  process.kill(-run.child.pid!, 'SIGINT');
  // 'close', not 'exit': the server keeps the output pipe open until it has finished stopping.
  await new Promise((resolve) => run.child.once('close', resolve));
}

t.test('npm start on an empty DATA_DIR', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'baygate-start-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = {
    DATA_DIR: dataDir,
    PORT: String(await freePort()),
    MQTT_PORT: String(await freePort()),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
  };
  const api = `http://127.0.0.1:${env.PORT}`;

  const first = await start(env);
  t.teardown(() => { try { process.kill(-first.child.pid!, 'SIGKILL'); } catch { /* already gone */ } });
  await waitFor(() => first.output().includes('baygate is up'), 90_000, `start-up (output so far: ${first.output()})`);
  t.match(first.output(), `API ${api}`, 'it prints where the API listens');
  t.match(first.output(), `MQTT mqtt://***@127.0.0.1:${env.MQTT_PORT}`, 'and the broker, its credentials masked');
  // The broker takes only its identities; the line for ChirpStack carries its URL, password included.
  const passwords = JSON.parse(readFileSync(join(dataDir, 'mqtt-credentials.json'), 'utf8'));
  const chirpstackUrl = `mqtt://chirpstack:${passwords.chirpstack}@127.0.0.1:${env.MQTT_PORT}`;
  t.match(first.output(), `ChirpStack [integration.mqtt] server: ${chirpstackUrl}`, 'it prints the URL ChirpStack is to use');
  t.notMatch(first.output(), passwords.baygate, "baygate's own password is printed nowhere");
  await t.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${env.MQTT_PORT}`, { reconnectPeriod: 0 }), { code: 5 }, 'an anonymous client is not authorized');
  const cs = await mqtt.connectAsync(chirpstackUrl, { reconnectPeriod: 0 });
  await cs.endAsync();
  t.pass('the printed URL connects');
  const health = await fetch(`${api}/health`);
  t.equal(health.status, 200);
  t.match(await health.json(), { status: 'healthy' }, 'and /health answers healthy');
  const ready = await fetch(`${api}/ready`);
  t.match(await ready.json(), { status: 'ready', checks: { database: { ok: true }, mqtt: { ok: true } } }, '/ready checks the database and ingest\'s MQTT session');
  const reg = await fetch(`${api}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'a@example.com', password: 'longenough', username: 'a', tenant_name: 'A', tenant_slug: 'a' }),
  });
  t.equal(reg.status, 201);
  await stop(first);
  t.match(first.output(), 'baygate stopped', 'Ctrl-C stops everything in order', { output: first.output() });

  const second = await start(env);
  t.teardown(() => { try { process.kill(-second.child.pid!, 'SIGKILL'); } catch { /* already gone */ } });
  await waitFor(() => second.output().includes('baygate is up'), 90_000, 'second start-up');
  const login = await fetch(`${api}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'a@example.com', password: 'longenough' }),
  });
  t.equal(login.status, 200, 'the data survived the restart');
  await stop(second);
  t.match(second.output(), 'baygate stopped', 'the second run stops cleanly too', { output: second.output() });
});

t.test('a port already in use fails fast naming the variable', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'baygate-start-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const { createServer } = await import('node:net');
  const blocker = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const run = await start({ DATA_DIR: dataDir, PORT: String(await freePort()), MQTT_PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' });
  const code = await new Promise<number | null>((resolve) => run.child.once('exit', resolve));
  t.not(code, 0);
  t.match(run.output(), /MQTT_PORT/);
});

t.test('a configuration mistake stops npm start with its variable named, not a stack trace', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'baygate-start-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const run = await start({ NODE_ENV: 'production', JWT_SECRET: '', DATA_DIR: dataDir, PORT: String(await freePort()), MQTT_PORT: String(await freePort()), LOG_LEVEL: 'warn' });
  const code = await new Promise<number | null>((resolve) => run.child.once('close', resolve));
  t.not(code, 0);
  t.match(run.output(), /baygate failed to start: JWT_SECRET/);
  t.notMatch(run.output(), /\n\s+at /, 'no stack trace');
});

t.test('start:api and start:ingest refuse a schema older than their code, saying what to run', async (t) => {
  const db = await testDb(t);
  const { rows } = await db.owner.query<{ v: number }>('DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations) RETURNING version AS v');
  const wanted = rows[0]!.v;
  const current = (await db.owner.query<{ v: number }>('SELECT max(version) AS v FROM schema_migrations')).rows[0]!.v;
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && !k.startsWith('TAP') && !k.startsWith('_TAPJS'))),
    DATABASE_URL: db.url,
    // Nothing listens here: the schema check must come before any connection to a broker.
    MQTT_URL: `mqtt://127.0.0.1:${await freePort()}`,
    PORT: String(await freePort()),
    METRICS_PORT: '0',
    JWT_SECRET: 'a-secret-of-at-least-thirty-two-characters',
    LOG_LEVEL: 'silent',
  };
  for (const entry of ['api/main.ts', 'ingest/main.ts']) {
    const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (b) => (out += b));
    child.stderr!.on('data', (b) => (out += b));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    t.equal(code, 1, `${entry} exits 1`);
    t.match(out, new RegExp(`schema is at version ${current}, this baygate needs ${wanted}: run \`npx baygate migrate\``), `${entry} says what to run`);
    t.notMatch(out, /\n\s+at /, `${entry}: a message, not a stack trace`);
  }
});
