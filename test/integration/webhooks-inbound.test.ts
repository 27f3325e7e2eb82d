// Inbound webhooks: ChirpStack's HTTP integration as ChirpStack really posts (issue 18 §3),
// authenticated by the tenant's secret as a static header, spooled and applied by ingest
// through the same code as MQTT (dedup, decoders, state machine). One test signs, as a
// signing proxy would; every other request is one ChirpStack itself could send.
import t, { type Test } from 'tap';
import { createHmac, randomUUID } from 'node:crypto';
import integrationPb from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import gwPb from '@chirpstack/chirpstack-api/gw/gw_pb.js';
import timestampPb from 'google-protobuf/google/protobuf/timestamp_pb.js';
import { testApi, type TestApi } from '../helpers/api.js';
import { waitFor } from '../helpers/wait.js';
import { startJobs, JOB_NAMES, type JobName } from '../../ingest/jobs/index.js';
import { processSpool, MAX_ATTEMPTS } from '../../ingest/jobs/process-webhook-spool.js';
import { applyBatch, type BatchResult } from '../../ingest/apply.js';
import { createLogger } from '../../src/log.js';
import { DEFAULT_APPLICATION_ID, DEFAULT_GATEWAY_ID, statusEvent, upEvent } from '../../src/simulator/events.js';
import { SIGNATURE_TOLERANCE_SECONDS } from '../../src/webhooks/signature.js';
import { PROTOBUF_KINDS } from '../../src/simulator/protobuf.js';
import { fixtureJson, fixtureProtobuf, FIXTURE_KINDS } from '../fixtures/chirpstack/make-protobuf.js';

const OCCUPIED = Buffer.from([0x01]); // nwave-nps405 fPort 1: bit 0 = occupied
const FREE = Buffer.from([0x00]);
const NEVER = '0 0 0 1 1 *';
const QUIET = Object.fromEntries(JOB_NAMES.map((n) => [n, NEVER])) as Record<JobName, string>;
const log = createLogger('silent');

/** Signs as the scheme says, independently of src/webhooks/signature.ts: what a signing proxy does, never ChirpStack. */
function sign(secret: string, body: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

/** What an admin types into ChirpStack's HTTP integration form (api/proto/api/application.proto HttpIntegration). */
interface HttpIntegration {
  eventEndpointUrl: string;
  headers: Record<string, string>;
  encoding: 'JSON' | 'PROTOBUF';
}

const integrationFor = (api: TestApi, secret: string, encoding: HttpIntegration['encoding'] = 'JSON', slug = 'acme'): HttpIntegration => ({
  eventEndpointUrl: `${api.url}/api/webhooks/chirpstack?tenant=${slug}`,
  headers: { Authorization: `Bearer ${secret}` },
  encoding,
});

/**
 * POSTs one event as ChirpStack's HTTP integration does (chirpstack/src/integration/http.rs
 * post_event): to the URL as typed with `event=<kind>` appended to its query (reqwest's
 * RequestBuilder::query appends and never replaces), the typed headers, and the Content-Type
 * of the encoding, which ChirpStack sets after the typed headers. Nothing computed per request.
 */
function chirpstackPost(i: HttpIntegration, event: string, body: Buffer | string) {
  const url = new URL(i.eventEndpointUrl);
  url.searchParams.append('event', event);
  const contentType = i.encoding === 'JSON' ? 'application/json' : 'application/octet-stream';
  return fetch(url, { method: 'POST', headers: { ...i.headers, 'content-type': contentType }, body: typeof body === 'string' ? body : new Uint8Array(body) });
}

/** An uplink as ChirpStack's Protobuf encoding sends it, made with the package's own message classes. */
function protobufUp(s: { devEui: string; fCnt: number; fPort: number; data: Buffer; deduplicationId?: string }): Buffer {
  const info = new integrationPb.DeviceInfo();
  info.setTenantId('52f14cd4-c6f1-4fbd-8f87-4025e1d49242');
  info.setApplicationId(DEFAULT_APPLICATION_ID);
  info.setDevEui(s.devEui.toLowerCase());
  info.setDeviceName(`sensor-${s.devEui.toLowerCase()}`);
  const rx = new gwPb.UplinkRxInfo();
  rx.setGatewayId(DEFAULT_GATEWAY_ID);
  rx.setUplinkId(4217106255);
  rx.setRssi(-80);
  rx.setSnr(7.5);
  const ev = new integrationPb.UplinkEvent();
  ev.setDeduplicationId(s.deduplicationId ?? randomUUID());
  ev.setTime(timestampPb.Timestamp.fromDate(new Date()));
  ev.setDeviceInfo(info);
  ev.setDevAddr('00189440');
  ev.setDr(5);
  ev.setFCnt(s.fCnt);
  ev.setFPort(s.fPort);
  ev.setData(new Uint8Array(s.data));
  ev.setRxInfoList([rx]);
  return Buffer.from(ev.serializeBinary());
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

/** baygate_webhook_events_received_total for one kind and outcome, from the API's /metrics. */
async function received(api: TestApi, event: string, outcome: string): Promise<number> {
  const text = await (await fetch(`${api.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('baygate_webhook_events_received_total{') && l.includes(`event="${event}"`) && l.includes(`outcome="${outcome}"`));
  return line ? Number(line.split(' ').pop()) : 0;
}

t.test('ChirpStack as configured: only the static Authorization header, JSON or protobuf, every kind answered 2xx', async (t) => {
  const { api, token, space, devEui, secret, rotated, batches } = await setup(t, { jobs: true });
  t.equal(rotated.status, 201);
  t.match(rotated.body, { secret: /^whsec_/, configured: true, previous_valid_until: null });
  const status = await api.request('GET', '/api/v6/webhooks/inbound-secret', { token });
  t.same(Object.keys(status.body).sort(), ['configured', 'created_at', 'previous_valid_until']);
  t.equal(status.body.configured, true, 'the secret is never shown again');
  const json = integrationFor(api, secret, 'JSON');
  const protobuf = integrationFor(api, secret, 'PROTOBUF');
  const state = async () => (await api.db.owner.query('SELECT current_state FROM spaces WHERE id = $1', [space.id])).rows[0].current_state;
  const battery = async () => (await api.db.owner.query('SELECT battery FROM devices WHERE dev_eui = $1', [devEui])).rows[0]?.battery;
  const drained = () => waitFor(async () => (await count(api, 'SELECT count(*) AS n FROM webhook_spool')) === 0, 10_000, 'spool drained');

  await t.test('JSON encoding: up and status applied', async (t) => {
    const ev = upEvent({ devEui, fCnt: 1, fPort: 1, data: OCCUPIED });
    const r = await chirpstackPost(json, 'up', JSON.stringify(ev));
    t.equal(r.status, 202);
    t.same(await r.json(), { status: 'accepted' });
    await waitFor(async () => (await state()) === 'occupied', 10_000, 'occupied via the JSON integration');
    t.equal(await count(api, 'SELECT count(*) AS n FROM sensor_readings WHERE deduplication_id = $1', [ev.deduplicationId]), 1);
    t.equal((await chirpstackPost(json, 'status', JSON.stringify(statusEvent({ devEui, batteryLevel: 42.5 })))).status, 202);
    await waitFor(async () => (await battery()) === 42.5, 10_000, 'battery via a status event');
    await drained();
    t.same([batches.reduce((n, b) => n + b.uplinks, 0), batches.reduce((n, b) => n + b.deviceEvents, 0)], [1, 1], 'reported as applied batches');
  });

  await t.test('Protobuf encoding: up applied, its device read from the message', async (t) => {
    const dedup = randomUUID();
    const r = await chirpstackPost(protobuf, 'up', protobufUp({ devEui, fCnt: 2, fPort: 1, data: FREE, deduplicationId: dedup }));
    t.equal(r.status, 202);
    await waitFor(async () => (await state()) === 'free', 10_000, 'free via the protobuf integration');
    t.equal(await count(api, 'SELECT count(*) AS n FROM sensor_readings WHERE deduplication_id = $1', [dedup]), 1);
    await drained();
    t.equal(await count(api, 'SELECT count(*) AS n FROM dead_letters'), 0, 'no dead letter');
  });

  await t.test('a URL that already names event=: ChirpStack appends its own, and that one counts', async (t) => {
    const typed = { ...json, eventEndpointUrl: `${api.url}/api/webhooks/chirpstack?event=up&tenant=acme` };
    t.equal((await chirpstackPost(typed, 'status', JSON.stringify(statusEvent({ devEui, batteryLevel: 17 })))).status, 202);
    await waitFor(async () => (await battery()) === 17, 10_000, 'applied as a status event');
    t.equal(await count(api, 'SELECT count(*) AS n FROM dead_letters'), 0, 'not read as an uplink');
  });

  await t.test('wrong or missing token: 401, the same answer whether the tenant exists or not, nothing stored', async (t) => {
    const other = await api.register('other');
    const otherSecret = (await api.request('POST', '/api/v6/webhooks/inbound-secret', { token: other.token, json: {} })).body.secret as string;
    const spooledBefore = await received(api, 'up', 'spooled');
    const body = JSON.stringify(upEvent({ devEui, fCnt: 10, fPort: 1, data: OCCUPIED }));
    const cases: [string, HttpIntegration][] = [
      ['wrong token', { ...json, headers: { Authorization: 'Bearer whsec_not-the-secret-at-all-0123456789abcdef' } }],
      ["another tenant's secret", { ...json, headers: { Authorization: `Bearer ${otherSecret}` } }],
      ['no header', { ...json, headers: {} }],
      ['the secret without the Bearer scheme', { ...json, headers: { Authorization: secret } }],
      ['the secret as Basic credentials', { ...json, headers: { Authorization: `Basic ${Buffer.from(`acme:${secret}`).toString('base64')}` } }],
      ['the secret in another header', { ...json, headers: { 'X-Api-Key': secret } }],
      ['an unknown tenant', integrationFor(api, secret, 'JSON', 'nobody')],
      ['no tenant', { ...json, eventEndpointUrl: `${api.url}/api/webhooks/chirpstack` }],
      ['protobuf, wrong token', { ...protobuf, headers: { Authorization: 'Bearer whsec_wrong' } }],
    ];
    const answers = new Set<string>();
    for (const [name, integration] of cases) {
      const r = await chirpstackPost(integration, 'up', body);
      t.equal(r.status, 401, name);
      answers.add(JSON.stringify([r.status, await r.json(), r.headers.get('www-authenticate')]));
    }
    t.same([...answers], [JSON.stringify([401, { error: { code: 'unauthorized', message: 'Invalid webhook credentials', details: [] } }, 'Bearer realm="baygate-webhooks"'])], 'one answer for all');
    t.equal(await count(api, 'SELECT count(*) AS n FROM webhook_spool'), 0, 'nothing spooled');
    t.equal(await count(api, 'SELECT count(*) AS n FROM sensor_readings WHERE f_cnt = 10'), 0, 'nothing applied');
    t.equal(await received(api, 'up', 'spooled'), spooledBefore, 'none counted as spooled');
    t.equal(await received(api, 'up', 'unauthorized'), cases.length, 'each counted as unauthorized');
    // The scheme is case-insensitive (RFC 9110 §11.1).
    t.equal((await chirpstackPost({ ...json, headers: { authorization: `bearer ${secret}` } }, 'up', body)).status, 202, 'bearer in lower case');
    await drained();
  });

  await t.test('every kind ChirpStack posts is 2xx: location spooled; integration and unknown kinds counted, not stored', async (t) => {
    const deadBefore = await count(api, 'SELECT count(*) AS n FROM dead_letters');
    const deviceInfo = { applicationId: DEFAULT_APPLICATION_ID, devEui: devEui.toLowerCase(), deviceName: 'sensor', tags: {} };
    const location = { deduplicationId: randomUUID(), time: new Date().toISOString(), deviceInfo, location: { latitude: 52.3676, longitude: 4.9041, altitude: 2, source: 'GEO_RESOLVER_TDOA', accuracy: 25 } };
    const r = await chirpstackPost(json, 'location', JSON.stringify(location));
    t.equal(r.status, 202, 'location');
    t.same(await r.json(), { status: 'accepted' });
    const integration = { deviceInfo, integrationName: 'loracloud', eventType: 'geolocation', object: { x: 1 } };
    for (const [event, integ, sent] of [
      ['integration', json, JSON.stringify(integration)],
      ['integration', protobuf, Buffer.from([0x0a, 0x00])],
      ['some_future_kind', json, JSON.stringify({ deviceInfo })],
    ] as const) {
      const ignored = await chirpstackPost(integ, event, sent);
      t.equal(ignored.status, 200, `${event} (${integ.encoding})`);
      t.same(await ignored.json(), { status: 'ignored' });
    }
    t.equal(await received(api, 'location', 'spooled'), 1);
    t.equal(await received(api, 'integration', 'ignored'), 2);
    t.equal(await received(api, 'other', 'ignored'), 1, 'an unknown kind is counted as other, not under its own name');
    t.notOk((await (await fetch(`${api.url}/metrics`)).text()).includes('some_future_kind'), 'the caller’s string never becomes a label');
    await drained();
    t.equal(await count(api, 'SELECT count(*) AS n FROM dead_letters'), deadBefore, 'nothing dead-lettered: ignored kinds are not stored at all');
  });

  await t.test('a body baygate cannot read is 202 and a dead letter, not a 4xx ChirpStack would only log', async (t) => {
    t.equal((await chirpstackPost(json, 'up', '{"deviceInfo": {"devEui": ')).status, 202, 'JSON cut short');
    t.equal((await chirpstackPost(protobuf, 'up', Buffer.from([0xff, 0xff, 0xff, 0x01]))).status, 202, 'bytes that are no UplinkEvent');
    await waitFor(async () => (await count(api, 'SELECT count(*) AS n FROM dead_letters WHERE tenant_id = $1', [space.tenant_id])) === 2, 10_000, 'two dead letters');
    await drained();
  });

  await t.test('refusals ChirpStack never causes: over 1 MB 413, another Content-Type 415, no event 400', async (t) => {
    const big = await chirpstackPost(json, 'up', 'x'.repeat(1024 * 1024 + 1));
    t.equal(big.status, 413);
    t.match(await big.json(), { error: { code: 'payload_too_large' } });
    const text = await fetch(`${api.url}/api/webhooks/chirpstack?tenant=acme&event=up`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'text/plain' }, body: '{}' });
    t.equal(text.status, 415);
    t.match(await text.json(), { error: { code: 'unsupported_media_type' } });
    const noEvent = await fetch(`${api.url}/api/webhooks/chirpstack?tenant=acme`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: '{}' });
    t.equal(noEvent.status, 400);
    t.match(await noEvent.json(), { error: { code: 'validation_error', details: [{ field: 'query.event' }] } });
    const noEventNoAuth = await fetch(`${api.url}/api/webhooks/chirpstack?tenant=acme`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    t.equal(noEventNoAuth.status, 401, 'without credentials, 401 before anything is judged');
    t.equal(await count(api, 'SELECT count(*) AS n FROM webhook_spool'), 0, 'nothing spooled');
  });

  await t.test('rotation: the previous secret works within its grace hour, then not', async (t) => {
    const again = await api.request('POST', '/api/v6/webhooks/inbound-secret', { token, json: {} });
    t.equal(again.status, 201);
    t.not(again.body.secret, secret);
    const until = new Date(again.body.previous_valid_until).getTime();
    t.ok(Math.abs(until - Date.now() - 3_600_000) < 60_000, 'the previous secret is valid for an hour');
    const send = (s: string, fCnt: number) => chirpstackPost(integrationFor(api, s), 'up', JSON.stringify(upEvent({ devEui, fCnt, fPort: 1, data: OCCUPIED })));
    t.equal((await send(again.body.secret, 20)).status, 202, 'the new secret');
    t.equal((await send(secret, 21)).status, 202, 'the previous secret, within the grace hour');
    await api.db.owner.query(`UPDATE webhook_inbound_secrets SET expires_at = now() - interval '1 second' WHERE secret = $1`, [secret]);
    t.equal((await send(secret, 22)).status, 401, 'the previous secret after it');
    t.equal((await send(again.body.secret, 23)).status, 202);
    await drained();
    t.same((await api.db.owner.query('SELECT f_cnt FROM sensor_readings WHERE f_cnt BETWEEN 20 AND 23 ORDER BY f_cnt')).rows.map((r) => r.f_cnt), [20, 21, 23]);
  });

  await t.test('an event for another tenant’s device is not applied to it', async (t) => {
    const foreign = '70B3D5E75E00BB02';
    const other = await api.request('POST', '/api/auth/login', { json: { email: 'owner@other.example', password: 'correct horse battery' } });
    const reg = await api.request('POST', '/api/v6/devices', { token: other.body.access_token, json: { dev_eui: foreign, device_type: 'sensor', decoder: 'nwave-nps405' } });
    t.equal(reg.status, 201);
    const key = (await api.request('POST', '/api/v6/webhooks/inbound-secret', { token, json: {} })).body.secret;
    t.equal((await chirpstackPost(integrationFor(api, key), 'up', JSON.stringify(upEvent({ devEui: foreign, fCnt: 1, fPort: 1, data: OCCUPIED })))).status, 202);
    await waitFor(async () => (await count(api, `SELECT count(*) AS n FROM dead_letters WHERE reason = 'foreign_device'`)) === 1, 10_000, 'dead letter');
    const dl = (await api.db.owner.query(`SELECT tenant_id FROM dead_letters WHERE reason = 'foreign_device'`)).rows[0];
    t.equal(dl.tenant_id, space.tenant_id, 'dead-lettered under the sending tenant');
    t.equal(await count(api, 'SELECT count(*) AS n FROM sensor_readings WHERE dev_eui = $1', [foreign]), 0, "the other tenant's device got nothing");
  });
});

t.test('a signing proxy: X-Baygate-Signature is still accepted; bad, stale or missing signatures store nothing', async (t) => {
  const { api, space, devEui, secret, batches } = await setup(t, { jobs: true });
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

});

t.test('a failing spooled event is retried with backoff, then dead-lettered', async (t) => {
  const { api, space, devEui, secret } = await setup(t, { jobs: false });
  const send = async (fCnt: number) => {
    const ev = upEvent({ devEui, fCnt, fPort: 1, data: OCCUPIED });
    const r = await chirpstackPost(integrationFor(api, secret), 'up', JSON.stringify(ev));
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
  // Half JSON, half protobuf: two ChirpStack applications of one tenant, one per encoding.
  const bodies = Array.from({ length: N }, (_, i) => {
    const s = { devEui, fCnt: 100 + i, fPort: 1, data: i % 2 ? FREE : OCCUPIED, deduplicationId: randomUUID() };
    return i % 2 ? { encoding: 'PROTOBUF' as const, body: protobufUp(s) } : { encoding: 'JSON' as const, body: JSON.stringify(upEvent(s)) };
  });
  const started = Date.now();
  // All in flight together (the issue's "2,000 requests in a second"): no client-side pacing.
  const statuses = await Promise.all(
    bodies.map(async ({ encoding, body }) => {
      const r = await chirpstackPost(integrationFor(api, secret, encoding), 'up', body);
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

// The fixture corpus (test/fixtures/chirpstack/) over HTTP, as test/integration/chirpstack-events.test.ts
// sends it over MQTT: ChirpStack's documented example of every kind, in protobuf and in JSON.
t.test('every documented kind over the HTTP integration, protobuf then JSON: answered 2xx, applied once, none dead-lettered', async (t) => {
  const { api, token, secret } = await setup(t, { jobs: true });
  const docsEui = '0101010101010101'; // the DevEUI of ChirpStack's examples (events.md)
  const device = (await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: docsEui, device_type: 'sensor', decoder: 'nwave-nps405' } })).body;
  await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: '0016C001F000175A', device_type: 'sensor' } }); // the integration example's
  for (const kind of PROTOBUF_KINDS) {
    const r = await chirpstackPost(integrationFor(api, secret, 'PROTOBUF'), kind, fixtureProtobuf(kind));
    t.equal(r.status, 202, `protobuf ${kind}`);
  }
  const kinds = async () => (await api.db.owner.query('SELECT kind FROM device_events WHERE device_id = $1 ORDER BY kind', [device.id])).rows.map((r) => r.kind);
  await waitFor(async () => (await kinds()).length === 5 && (await count(api, 'SELECT count(*) AS n FROM device_locations')) === 1, 20_000, 'protobuf kinds applied');
  t.same(await kinds(), ['ack', 'join', 'log', 'status', 'txack']);
  t.equal(await count(api, 'SELECT count(*) AS n FROM sensor_readings WHERE dev_eui = $1', [docsEui]), 1, 'the up is a reading');
  // The same examples in JSON: twins of the protobuf ones, so nothing is applied twice.
  for (const kind of FIXTURE_KINDS) {
    const r = await chirpstackPost(integrationFor(api, secret, 'JSON'), kind, fixtureJson(kind));
    t.equal(r.status, kind === 'integration' ? 200 : 202, `JSON ${kind}`);
  }
  await waitFor(async () => (await count(api, 'SELECT count(*) AS n FROM webhook_spool')) === 0, 20_000, 'spool drained');
  t.same(await kinds(), ['ack', 'join', 'log', 'status', 'txack'], 'JSON twins add no device event');
  t.equal(await count(api, 'SELECT count(*) AS n FROM sensor_readings WHERE dev_eui = $1', [docsEui]), 1, 'nor a reading');
  t.same((await api.db.owner.query('SELECT reason, error FROM dead_letters')).rows, [], 'no kind, in either encoding, is dead-lettered');
});
