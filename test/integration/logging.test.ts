// Secrets never reach the log: the API process runs at LOG_LEVEL=trace while a client
// registers, logs in (JSON and form), refreshes, reuses a rotated token, calls routes with
// header and query tokens, sends forged, expired and malformed credentials, adds a user
// and logs out. Then the whole log (stdout and stderr) is searched for the JWT secret,
// the passwords, the database password and every token: none may appear. Likewise an
// ingest run with credentials in MQTT_URL.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { freePort } from '../../src/net.js';
import { client } from '../helpers/api.js';
import { testDb } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { testBroker, testPublisher } from '../helpers/mqtt.js';
import { eventTopic, upEvent } from '../../src/simulator/events.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/** Spawns a service entry point with `env` over the test's own, collects stdout and stderr, and waits for `readyLine`. */
async function runService(t: Test, entry: string, env: Record<string, string>, readyLine: string) {
  let out = '';
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (b) => (out += b));
  child.stderr!.on('data', (b) => (out += b));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await waitFor(() => out.includes(readyLine), 30_000, `${entry} start-up (log so far: ${out})`);
  return { child, exited, log: () => out };
}

t.test('a full API session logs no secret, password or token', async (t) => {
  const db = await testDb(t);
  const port = await freePort();
  const jwtSecret = `log-test-secret-${randomBytes(24).toString('hex')}`;
  const service = await runService(
    t,
    'api/main.ts',
    { DATABASE_URL: db.url, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'trace', JWT_SECRET: jwtSecret, BCRYPT_ROUNDS: '4', NODE_ENV: 'production' },
    'API listening',
  );
  const api = client(`http://127.0.0.1:${port}`);

  const password = `pw-${randomBytes(12).toString('hex')}`;
  const wrongPassword = `wrong-${randomBytes(12).toString('hex')}`;
  const memberPassword = `member-${randomBytes(12).toString('hex')}`;
  const email = 'owner@logging.example';
  const tokens: string[] = [];

  const reg = await api.request('POST', '/api/auth/register', {
    json: { email, password, username: 'owner', tenant_name: 'Logging', tenant_slug: 'logging' },
  });
  t.equal(reg.status, 201);
  tokens.push(reg.body.access_token, reg.body.refresh_token);

  const loginJson = await api.request('POST', '/api/auth/login', { json: { email, password } });
  t.equal(loginJson.status, 200);
  tokens.push(loginJson.body.access_token, loginJson.body.refresh_token);
  const loginForm = await api.request('POST', '/api/auth/login', { form: { username: email, password } });
  t.equal(loginForm.status, 200);
  tokens.push(loginForm.body.access_token, loginForm.body.refresh_token);
  t.equal((await api.request('POST', '/api/auth/login', { json: { email, password: wrongPassword } })).status, 401);
  t.equal((await api.request('POST', '/api/auth/login', { form: { username: email, password: wrongPassword } })).status, 401);

  const refreshed = await api.request('POST', '/api/auth/refresh', { json: { refresh_token: loginJson.body.refresh_token } });
  t.equal(refreshed.status, 200);
  tokens.push(refreshed.body.access_token, refreshed.body.refresh_token);
  t.equal(
    (await api.request('POST', '/api/auth/refresh', { json: { refresh_token: loginJson.body.refresh_token } })).status,
    401,
    'reusing a rotated refresh token is refused',
  );

  const token = reg.body.access_token as string;
  t.equal((await api.request('GET', '/api/auth/me', { token })).status, 200);
  t.equal((await api.request('GET', `/api/v6/spaces?access_token=${encodeURIComponent(token)}`)).status, 200, 'query token');
  t.equal((await api.request('POST', '/api/v6/spaces', { token, json: { code: 'L-1' } })).status, 201);
  const member = await api.request('POST', '/api/v6/users', {
    token,
    json: { email: 'member@logging.example', password: memberPassword, username: 'member', role: 'viewer' },
  });
  t.equal(member.status, 201);

  // Credentials that fail: forged, expired, wrong algorithm, malformed bodies carrying a password.
  const claims = { sub: reg.body.user.id, tid: reg.body.user.tenant_id, sid: '00000000-0000-4000-8000-000000000000', typ: 'access' };
  const forged = jwt.sign(claims, 'another-secret-that-is-at-least-32-chars', { algorithm: 'HS256' });
  const expired = jwt.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 60 }, jwtSecret, { algorithm: 'HS256' });
  const hs512 = jwt.sign(claims, jwtSecret, { algorithm: 'HS512' });
  tokens.push(forged, expired, hs512);
  for (const bad of [forged, expired, hs512]) {
    t.equal((await api.request('GET', '/api/auth/me', { token: bad })).status, 401);
    t.equal((await api.request('GET', `/api/v6/sites?access_token=${bad}`)).status, 401);
  }
  const malformed = await fetch(`${api.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: `{"email": "${email}", "password": "${wrongPassword}"`,
  });
  t.equal(malformed.status, 400);
  t.equal((await api.request('POST', '/api/auth/refresh', { json: { refresh_token: `${tokens[1]}x` } })).status, 401);

  // (The refreshed pair's session ended when its rotated token came back; log out another.)
  t.equal((await api.request('POST', '/api/auth/logout', { token: loginForm.body.access_token })).status, 200);
  t.equal((await api.request('GET', '/api/auth/me', { token: loginForm.body.access_token })).status, 401, 'logged out');

  service.child.kill('SIGTERM');
  t.equal(await service.exited, 0, 'the API stops cleanly');

  t.ok(service.log().length > 1000, `the run logged something (${service.log().length} bytes)`);
  t.match(service.log(), '"reqId"', 'request logs carry request ids');
  t.match(service.log(), '"path":"/api/auth/login"', 'requests are logged');

  const secrets: [string, string][] = [
    ['JWT secret', jwtSecret],
    ['password', password],
    ['wrong password', wrongPassword],
    ["new member's password", memberPassword],
  ];
  const dbPassword = decodeURIComponent(new URL(db.url).password);
  if (dbPassword) secrets.push(['database password', dbPassword]);
  tokens.forEach((tok, i) => {
    secrets.push([`token ${i}`, tok]);
    // A token cut short (its signature alone) must not appear either.
    secrets.push([`token ${i} signature`, tok.split('.')[2]!]);
  });
  for (const [what, value] of secrets) {
    t.notOk(service.log().includes(value), `the log does not contain the ${what}`);
  }
});

t.test('an ingest run logs neither the broker password, the database password nor the JWT secret', async (t) => {
  const db = await testDb(t);
  const broker = await testBroker(t);
  const jwtSecret = `ingest-log-secret-${randomBytes(24).toString('hex')}`;
  // The embedded broker's baygate identity has a generated password (test/helpers/mqtt.ts);
  // an external one (MQTT_URL) gets its own.
  const mqttUrl = new URL(broker.url);
  const mqttPassword = broker.external ? `mqtt-pw-${randomBytes(12).toString('hex')}` : decodeURIComponent(mqttUrl.password);
  const ingest = await runService(
    t,
    'ingest/main.ts',
    {
      DATABASE_URL: db.url,
      MQTT_URL: mqttUrl.toString(),
      MQTT_CLIENT_ID: `bgt-log-${broker.id}`,
      CHIRPSTACK_EVENT_TOPIC: broker.template,
      METRICS_PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'trace',
      JWT_SECRET: jwtSecret,
      NODE_ENV: 'production',
    },
    'mqtt connected and subscribed',
  );
  const pub = await testPublisher(t, broker);
  // An uplink from a device nobody registered, and one that is not JSON: both are logged about.
  await pub.publishAsync(eventTopic(broker.template, '70B3D5E75E00D001', 'up'), JSON.stringify(upEvent({ devEui: '70B3D5E75E00D001', fCnt: 1, fPort: 1, data: Buffer.from([1]) })), { qos: 1 });
  await pub.publishAsync(eventTopic(broker.template, '70B3D5E75E00D001', 'up'), `{"password": "${mqttPassword}"`, { qos: 1 });
  await waitFor(async () => Number((await db.owner.query('SELECT count(*) AS n FROM dead_letters')).rows[0].n) === 1, 15_000, 'the bad message dead-lettered');
  ingest.child.kill('SIGTERM');
  t.equal(await ingest.exited, 0, 'ingest stops cleanly');

  t.ok(ingest.log().length > 500, `the run logged something (${ingest.log().length} bytes)`);
  const secrets: [string, string][] = [['JWT secret', jwtSecret]];
  if (!broker.external) secrets.push(['broker password', mqttPassword]);
  const dbPassword = decodeURIComponent(new URL(db.url).password);
  if (dbPassword) secrets.push(['database password', dbPassword]);
  for (const [what, value] of secrets) t.notOk(ingest.log().includes(value), `the log does not contain the ${what}`);
});
