// Two API processes on one database both deliver every event: each listens to the NOTIFY
// channel on its own connection and reads the events table (api/live/), so an SSE client of
// either replica sees the same events, with the same ids, in the same order. This is what
// lets API replicas sit behind a load balancer without sticky event routing (README,
// "Running beyond one machine").
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { testDb, type TestDb } from '../helpers/db.js';
import { client } from '../helpers/api.js';
import { testIngest } from '../helpers/ingest.js';
import { sseConnect } from '../helpers/sse.js';
import { fuzzScale, reportFigures } from '../helpers/fuzz.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const SPACES = 10;
/** Uplinks, each one a change of state of its space: one event each (200; `npm run soak` multiplies by FUZZ_SCALE). */
const EVENTS = Math.round(200 * fuzzScale());
const START_TIMEOUT_MS = 30_000;

interface ApiChild {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

/** `npm run start:api` as its own process on a free port; resolves with its URL once it listens. */
async function spawnApi(t: Test, db: TestDb, n: number): Promise<ApiChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'api/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      DATABASE_URL: db.url,
      PORT: '0',
      HOST: '127.0.0.1',
      JWT_SECRET: 'api-scale-out-secret-api-scale-out-secret',
      BCRYPT_ROUNDS: '4',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`API ${n} did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    child.stdout!.on('data', (b: Buffer) => {
      out += b;
      for (const line of out.split('\n')) {
        if (!line.includes('API listening')) continue;
        clearTimeout(timer);
        resolve(JSON.parse(line).url);
      }
    });
    void exited.then((code) => reject(new Error(`API ${n} exited (${code}) before listening`)));
  });
  return { child, url, exited };
}

t.test('two API processes: an SSE client of each receives every event, same ids, same order', async (t) => {
  const db = await testDb(t);
  const [one, two] = [await spawnApi(t, db, 1), await spawnApi(t, db, 2)];
  const api1 = client(one.url);
  const api2 = client(two.url);

  // Registered on one replica, used on the other: tokens and sessions live in the database.
  const reg = await api1.request('POST', '/api/auth/register', {
    json: { email: 'owner@fanout.example', password: 'correct horse battery', username: 'owner', tenant_name: 'Fanout', tenant_slug: 'fanout' },
  });
  t.equal(reg.status, 201, 'registered on replica 1');
  const token: string = reg.body.access_token;
  const euis: string[] = [];
  for (let i = 0; i < SPACES; i++) {
    const api = i % 2 ? api1 : api2;
    const space = await api.request('POST', '/api/v6/spaces', { token, json: { code: `F-${i}` } });
    const devEui = `70B3D5E7F5${i.toString(16).toUpperCase().padStart(6, '0')}`;
    const device = await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: devEui, device_type: 'sensor', decoder: 'nwave-nps405' } });
    const assigned = await api.request('POST', `/api/v6/devices/${device.body.id}/assign`, { token, json: { space_id: space.body.id } });
    t.equal(assigned.status, 200, `device ${i} assigned through replica ${i % 2 ? 1 : 2}`);
    euis.push(devEui);
  }

  const clients = [await sseConnect(one.url, '/api/v6/events', { token }), await sseConnect(two.url, '/api/v6/events', { token })];
  for (const c of clients) t.teardown(() => c.close());
  t.same(clients.map((c) => c.status), [200, 200], 'both replicas stream');

  const { up } = await testIngest(t, db);
  const t0 = Date.now() - 600_000;
  for (let i = 0; i < EVENTS; i++) {
    const fCnt = Math.floor(i / SPACES) + 1;
    // Frame n of a device says occupied when n is odd: every frame changes its space's state.
    await up({ devEui: euis[i % SPACES]!, fCnt, fPort: 1, data: Buffer.from([fCnt % 2]), time: new Date(t0 + i * 10) });
  }

  await Promise.all(clients.map((c) => c.waitForMessages(EVENTS, 60_000 * Math.max(1, fuzzScale()))));
  // One more event after them: a duplicate or a stray among the first would sit before it.
  const last = Math.floor((EVENTS - 1) / SPACES) + 2;
  await up({ devEui: euis[0]!, fCnt: last, fPort: 1, data: Buffer.from([last % 2]), time: new Date() });
  await Promise.all(clients.map((c) => c.waitForMessages(EVENTS + 1, 10_000)));

  const stored = await db.owner.query('SELECT id FROM space_events ORDER BY id');
  const expected = stored.rows.map((r) => String(r.id));
  t.equal(expected.length, EVENTS + 1, 'one event per uplink in the database');
  const [a, b] = clients.map((c) => c.messages);
  t.same(a!.map((m) => m.id), expected, 'replica 1 delivered every event once, in id order');
  t.same(b!.map((m) => m.id), expected, 'replica 2 delivered the same events, in the same order');
  t.same(a!.map((m) => m.data), b!.map((m) => m.data), 'with the same content');
  const missed = (got: { id: string | null }[]) => expected.filter((id) => !got.some((m) => m.id === id)).length;
  reportFigures(t, 'api-scale-out', { events: expected.length, replica1: a!.length, replica2: b!.length, missed: missed(a!) + missed(b!) });

  for (const p of [one, two]) p.child.kill('SIGTERM');
  t.same(await Promise.all([one.exited, two.exited]), [0, 0], 'both replicas stop cleanly on SIGTERM with streams open');
});
