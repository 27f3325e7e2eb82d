// Inbound webhooks: ChirpStack events over HTTP, signed per tenant, spooled and applied by
// ingest through the same code as MQTT (dedup, decoders, state machine).
import t, { type Test } from 'tap';
import { createHmac, randomUUID } from 'node:crypto';
import { testApi, type TestApi } from '../helpers/api.js';
import { waitFor } from '../helpers/wait.js';
import { startJobs, JOB_NAMES, type JobName } from '../../ingest/jobs/index.js';
import { processSpool, MAX_ATTEMPTS } from '../../ingest/jobs/process-webhook-spool.js';
import { applyBatch, type BatchResult } from '../../ingest/apply.js';
import { createLogger } from '../../src/log.js';
import { statusEvent, upEvent } from '../../src/simulator/events.js';
import { SIGNATURE_TOLERANCE_SECONDS } from '../../src/webhooks/signature.js';

const OCCUPIED = Buffer.from([0x01]); // nwave-nps405 fPort 1: bit 0 = occupied
const FREE = Buffer.from([0x00]);
const NEVER = '0 0 0 1 1 *';
const QUIET = Object.fromEntries(JOB_NAMES.map((n) => [n, NEVER])) as Record<JobName, string>;
const log = createLogger('silent');

/** Signs as the scheme says, independently of src/webhooks/signature.ts. */
function sign(secret: string, body: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

async function setup(t: Test, opts: { jobs: boolean }) {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const space = (await api.request('POST', '/api/v6/spaces', { token, json: { code: 'W-1' } })).body;
  const devEui = '70B3D5E75E00AA01';
  const device = await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: devEui, device_type: 'sensor', decoder: 'nwave-nps405' } });
  await api.request('POST', `/api/v6/devices/${device.body.id}/assign`, { token, json: { space_id: space.id } });
  const rotated = await api.request('POST', '/api/v6/webhooks/inbound-secret', { token, json: {} });
  // What the jobs report of the batches they applied (ingest/main.ts counts them in its metrics).
  const batches: BatchResult[] = [];
  if (opts.jobs) {
    const jobs = startJobs({
      pool: api.db.ingest, log, config: api.config, schedules: QUIET, reservationTimer: false, databaseUrl: api.db.url,
      onBatch: (result) => batches.push(result),
    });
    t.teardown(() => jobs.stop());
  }
  return { api, token, space, devEui, secret: rotated.body.secret as string, rotated, batches };
}

function post(api: TestApi, body: string, headers: Record<string, string>, query = 'event=up') {
  return fetch(`${api.url}/api/webhooks/chirpstack?${query}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
}

const count = async (api: TestApi, sql: string, params: unknown[] = []) => Number((await api.db.owner.query(sql, params)).rows[0].n);

t.test('signed events are accepted, spooled and applied; bad signatures store nothing', async (t) => {
  const { api, token, space, devEui, secret, rotated, batches } = await setup(t, { jobs: true });
  t.equal(rotated.status, 201);
  t.match(rotated.body, { secret: /^whsec_/, configured: true, previous_valid_until: null });
  const status = await api.request('GET', '/api/v6/webhooks/inbound-secret', { token });
  t.same(Object.keys(status.body).sort(), ['configured', 'created_at', 'previous_valid_until']);
  t.equal(status.body.configured, true, 'the secret is never shown again');

  const state = async () => (await api.db.owner.query('SELECT current_state FROM spaces WHERE id = $1', [space.id])).rows[0].current_state;

  await t.test('a good signature: 202, then the uplink is applied', async (t) => {
    const ev = upEvent({ devEui, fCnt: 1, fPort: 1, data: OCCUPIED });
    (ev.deviceInfo as any).tags = { place: 'Café Ølstue' }; // non-ASCII: the raw bytes are what is signed
    const body = JSON.stringify(ev);
    const r = await post(api, body, { 'x-baygate-tenant': 'acme', 'x-baygate-signature': sign(secret, body) });
    t.equal(r.status, 202);
    t.same(await r.json(), { status: 'accepted' });
    await waitFor(async () => (await state()) === 'occupied', 10_000, 'occupied via webhook');
    t.equal(await count(api, 'SELECT count(*) AS n FROM sensor_readings WHERE deduplication_id = $1', [ev.deduplicationId]), 1);
    await waitFor(async () => (await count(api, 'SELECT count(*) AS n FROM webhook_spool')) === 0, 5_000, 'spool drained');
    const viaQuery = JSON.stringify(upEvent({ devEui, fCnt: 2, fPort: 1, data: FREE }));
    const q = await post(api, viaQuery, { 'x-baygate-signature': sign(secret, viaQuery) }, 'event=up&tenant=acme');
    t.equal(q.status, 202, 'the tenant may be named by ?tenant=');
    await waitFor(async () => (await state()) === 'free', 10_000, 'free via webhook');
    // Not only uplinks: ?event= names the kind, and its handler applies it as on MQTT.
    const status = JSON.stringify(statusEvent({ devEui, batteryLevel: 42.5 }));
    t.equal((await post(api, status, { 'x-baygate-tenant': 'acme', 'x-baygate-signature': sign(secret, status) }, 'event=status')).status, 202);
    await waitFor(async () => (await api.db.owner.query('SELECT battery FROM devices WHERE dev_eui = $1', [devEui])).rows[0]?.battery === 42.5, 10_000, 'battery via a status webhook');
    const total = (k: 'uplinks' | 'deviceEvents') => batches.reduce((n, b) => n + b[k], 0);
    t.same([total('uplinks'), total('deviceEvents')], [2, 1], 'the applied batches are reported, for the metrics MQTT batches feed');
    t.equal(batches.reduce((n, b) => n + (b.uplinksByDecoder['nwave-nps405'] ?? 0), 0), 2, 'with their decoder');
  });

  await t.test('bad, missing or stale signatures: 401 and nothing stored', async (t) => {
    const readings = await count(api, 'SELECT count(*) AS n FROM sensor_readings');
    const body = JSON.stringify(upEvent({ devEui, fCnt: 10, fPort: 1, data: OCCUPIED }));
    const now = Math.floor(Date.now() / 1000);
    // A minute beyond the tolerance either way: the server reads its clock a moment later,
    // by seconds on a loaded machine, which brought a timestamp just 301 s ahead back inside it.
    const beyond = SIGNATURE_TOLERANCE_SECONDS + 60;
    const cases: [string, string, Record<string, string>][] = [
      ['tampered body', body.replace('"fCnt":10', '"fCnt":11'), { 'x-baygate-tenant': 'acme', 'x-baygate-signature': sign(secret, body) }],
      ['wrong secret', body, { 'x-baygate-tenant': 'acme', 'x-baygate-signature': sign('whsec_not-the-secret-at-all-0123456789abcdef', body) }],
      ['stale timestamp', body, { 'x-baygate-tenant': 'acme', 'x-baygate-signature': sign(secret, body, now - beyond) }],
      ['future timestamp', body, { 'x-baygate-tenant': 'acme', 'x-baygate-signature': sign(secret, body, now + beyond) }],
      ['missing header', body, { 'x-baygate-tenant': 'acme' }],
      ['malformed header', body, { 'x-baygate-tenant': 'acme', 'x-baygate-signature': 'v1=abc' }],
      ['unknown tenant', body, { 'x-baygate-tenant': 'nobody', 'x-baygate-signature': sign(secret, body) }],
      ['no tenant', body, { 'x-baygate-signature': sign(secret, body) }],
    ];
    for (const [name, sent, headers] of cases) {
      const r = await post(api, sent, headers);
      t.equal(r.status, 401, name);
      t.match(await r.json(), { error: { code: 'unauthorized' } });
    }
    t.equal(await count(api, 'SELECT count(*) AS n FROM webhook_spool'), 0, 'nothing spooled');
    t.equal(await count(api, 'SELECT count(*) AS n FROM sensor_readings'), readings, 'nothing applied');
  });

  await t.test('rotation: the old secret works for the grace period, then not', async (t) => {
    const again = await api.request('POST', '/api/v6/webhooks/inbound-secret', { token, json: {} });
    t.equal(again.status, 201);
    t.not(again.body.secret, secret);
    const until = new Date(again.body.previous_valid_until).getTime();
    t.ok(Math.abs(until - Date.now() - 3_600_000) < 60_000, 'the previous secret is valid for an hour');
    const send = (s: string, fCnt: number) => {
      const body = JSON.stringify(upEvent({ devEui, fCnt, fPort: 1, data: OCCUPIED }));
      return post(api, body, { 'x-baygate-tenant': 'acme', 'x-baygate-signature': sign(s, body) });
    };
    t.equal((await send(again.body.secret, 20)).status, 202, 'the new secret');
    t.equal((await send(secret, 21)).status, 202, 'the old secret, within the grace period');
    await api.db.owner.query(`UPDATE webhook_inbound_secrets SET expires_at = now() - interval '1 second' WHERE secret = $1`, [secret]);
    t.equal((await send(secret, 22)).status, 401, 'the old secret after the grace period');
    t.equal((await send(again.body.secret, 23)).status, 202);
  });

  await t.test('an event for another tenant’s device is not applied to it', async (t) => {
    const other = await api.register('other');
    const foreign = '70B3D5E75E00BB02';
    const reg = await api.request('POST', '/api/v6/devices', { token: other.token, json: { dev_eui: foreign, device_type: 'sensor', decoder: 'nwave-nps405' } });
    t.equal(reg.status, 201);
    const status = await api.request('GET', '/api/v6/webhooks/inbound-secret', { token });
    const key = (await api.request('POST', '/api/v6/webhooks/inbound-secret', { token, json: {} })).body.secret;
    t.equal(status.status, 200);
    const body = JSON.stringify(upEvent({ devEui: foreign, fCnt: 1, fPort: 1, data: OCCUPIED }));
    t.equal((await post(api, body, { 'x-baygate-tenant': 'acme', 'x-baygate-signature': sign(key, body) })).status, 202);
    await waitFor(async () => (await count(api, `SELECT count(*) AS n FROM dead_letters WHERE reason = 'foreign_device'`)) === 1, 10_000, 'dead letter');
    const dl = (await api.db.owner.query(`SELECT tenant_id FROM dead_letters WHERE reason = 'foreign_device'`)).rows[0];
    t.equal(dl.tenant_id, space.tenant_id, "dead-lettered under the sending tenant");
    t.equal(await count(api, 'SELECT count(*) AS n FROM sensor_readings WHERE dev_eui = $1', [foreign]), 0, "the other tenant's device got nothing");
  });
});

t.test('a failing spooled event is retried with backoff, then dead-lettered', async (t) => {
  const { api, space, devEui, secret } = await setup(t, { jobs: false });
  const send = async (fCnt: number) => {
    const ev = upEvent({ devEui, fCnt, fPort: 1, data: OCCUPIED });
    const body = JSON.stringify(ev);
    const r = await post(api, body, { 'x-baygate-tenant': 'acme', 'x-baygate-signature': sign(secret, body) });
    t.equal(r.status, 202);
    return ev.deduplicationId as string;
  };
  const failing: typeof applyBatch = async () => {
    throw new Error('forced failure');
  };
  const spool = async () => (await api.db.owner.query('SELECT attempts, last_error, next_attempt_at > now() AS later FROM webhook_spool')).rows;

  const dedup = await send(1);
  t.match(await processSpool({ pool: api.db.ingest, log, template: api.config.chirpstackEventTopic, apply: failing }), { applied: 0, retried: 1, dead: 0 });
  t.same(await spool(), [{ attempts: 1, last_error: 'forced failure', later: true }], 'the attempt is recorded and the row waits');
  t.match(await processSpool({ pool: api.db.ingest, log, template: api.config.chirpstackEventTopic }), { applied: 0 }, 'not due yet');
  await api.db.owner.query('UPDATE webhook_spool SET next_attempt_at = now()');
  t.match(await processSpool({ pool: api.db.ingest, log, template: api.config.chirpstackEventTopic }), { applied: 1, retried: 0 });
  t.same(await spool(), [], 'applied and removed');
  t.equal(await count(api, 'SELECT count(*) AS n FROM sensor_readings WHERE deduplication_id = $1', [dedup]), 1);
  t.equal((await api.db.owner.query('SELECT current_state FROM spaces WHERE id = $1', [space.id])).rows[0].current_state, 'occupied');

  await send(2);
  for (let i = 1; i <= MAX_ATTEMPTS; i++) {
    await processSpool({ pool: api.db.ingest, log, template: api.config.chirpstackEventTopic, apply: failing, backoffSeconds: () => 0 });
  }
  t.same(await spool(), [], 'gone from the spool after the last attempt');
  const dead = (await api.db.owner.query(`SELECT tenant_id, reason, error FROM dead_letters`)).rows;
  t.same(dead, [{ tenant_id: space.tenant_id, reason: 'processing_failed', error: 'forced failure' }]);
});

t.test('a burst: 2,000 requests at once, every one accepted, every event applied exactly once', async (t) => {
  const { api, devEui, secret } = await setup(t, { jobs: true });
  const N = 2_000;
  const bodies = Array.from({ length: N }, (_, i) => JSON.stringify(upEvent({ devEui, fCnt: 100 + i, fPort: 1, data: i % 2 ? FREE : OCCUPIED, deduplicationId: randomUUID() })));
  const started = Date.now();
  // All in flight together (the issue's "2,000 requests in a second"): no client-side pacing.
  const statuses = await Promise.all(
    bodies.map(async (body) => {
      const r = await post(api, body, { 'x-baygate-tenant': 'acme', 'x-baygate-signature': sign(secret, body) });
      await r.arrayBuffer();
      return r.status;
    }),
  );
  t.comment(`${N} requests in ${Date.now() - started} ms`);
  t.equal(statuses.filter((s) => s === 202).length, N, 'every request accepted');
  await waitFor(async () => (await count(api, 'SELECT count(*) AS n FROM webhook_spool')) === 0, 60_000, 'spool drained');
  t.equal(await count(api, 'SELECT count(*) AS n FROM sensor_readings WHERE f_cnt >= 100'), N, 'every event applied');
  t.equal(await count(api, 'SELECT count(DISTINCT deduplication_id) AS n FROM sensor_readings WHERE f_cnt >= 100'), N, 'each once');
  t.equal(await count(api, 'SELECT count(*) AS n FROM dead_letters'), 0);
});
