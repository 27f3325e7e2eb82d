// Display downlinks through ChirpStack's gRPC API (issue 18 §5): with CHIRPSTACK_API_URL the
// sender enqueues with DeviceService.Enqueue and flush_queue, and matches txack/ack/log
// events on the id ChirpStack returns. ChirpStack's queue is the in-test gRPC server of
// test/helpers/chirpstack-queue.ts; ChirpStack's events come over the real broker, as in
// displays.test.ts, and a subscriber on the command topics checks nothing goes on MQTT.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import mqtt from 'mqtt';
import { testApi } from '../helpers/api.js';
import { testIngest } from '../helpers/ingest.js';
import { waitFor } from '../helpers/wait.js';
import { fakeChirpstackQueue } from '../helpers/chirpstack-queue.js';
import { chirpstackKeyBox, putApiKey } from '../../src/storage/chirpstack-keys.js';
import { DISPLAY_DOWNLINKS_CHANNEL } from '../../src/events.js';

const APP = '6c0a2b8e-2c4a-4d2e-9a51-0f6c7e3d1a11';
const OPERATOR_KEY = 'operator-api-key';
const TENANT_KEY = 'acme-tenant-api-key';
const ACK_TIMEOUT_S = 120;
const JWT_SECRET = 'test-secret-that-is-at-least-32-characters-long'; // test/helpers/api.ts testConfig
// Generic encoding [r, g, b, blink] (src/domain/display-encodings.ts).
const UNKNOWN = Buffer.from([0xff, 0xff, 0xff, 0x01]);
const MAINTENANCE = Buffer.from([0x00, 0x00, 0xff, 0x00]);

t.test('display downlinks through the ChirpStack API', async (t) => {
  const api = await testApi(t);
  const cs = await fakeChirpstackQueue(t, [OPERATOR_KEY, TENANT_KEY]);
  const owner = await api.register('acme');
  const token = owner.token;
  const ingest = await testIngest(t, api.db, {
    CHIRPSTACK_API_URL: cs.url,
    CHIRPSTACK_API_TOKEN: OPERATOR_KEY,
    DISPLAY_ACK_TIMEOUT_SECONDS: String(ACK_TIMEOUT_S),
  });
  const jobs = ingest.ingest.jobs;

  // Nothing may go on the command topic while the API is used.
  const mqttCommands: string[] = [];
  const sub = await mqtt.connectAsync(ingest.broker.chirpstackUrl, { clientId: `bgt-cs-${randomBytes(4).toString('hex')}` });
  t.teardown(() => sub.endAsync());
  sub.on('message', (topic) => mqttCommands.push(topic));
  await sub.subscribeAsync(`bgt-${ingest.broker.id}/application/+/device/+/command/+`, { qos: 1 });

  const eui = '70B3D5E75E00A001';
  const deviceInfo = { applicationId: APP, devEui: eui.toLowerCase(), deviceName: 'display', tags: {} };
  const chirpstack = {
    txack: (queueItemId: string) =>
      ingest.raw(eui, 'txack', JSON.stringify({ downlinkId: 9, time: new Date().toISOString(), deviceInfo, queueItemId, fCntDown: 3, gatewayId: '0016c001f153a14c' }), APP),
    ack: (queueItemId: string, acknowledged: boolean) =>
      ingest.raw(eui, 'ack', JSON.stringify({ deduplicationId: crypto.randomUUID(), time: new Date().toISOString(), deviceInfo, queueItemId, acknowledged, fCntDown: 3 }), APP),
    // As chirpstack/src/downlink/data.rs reports an item past its expires_at.
    expired: (queueItemId: string) =>
      ingest.raw(eui, 'log', JSON.stringify({
        time: new Date().toISOString(), deviceInfo, level: 'ERROR', code: 'EXPIRED',
        description: 'Device queue-item discarded because it has expired', context: { queue_item_id: queueItemId },
      }), APP),
  };

  const space = (await api.request('POST', '/api/v6/spaces', { token, json: { code: 'API-1' } })).body;
  const reg = await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: eui, device_type: 'display', config: { application_id: APP, display_encoding: 'generic' } } });
  t.equal(reg.status, 201);
  const display = reg.body;
  const downlinks = async () => (await api.request('GET', `/api/v6/devices/${display.id}/downlinks`, { token })).body.items as any[];
  const patch = async (json: object) => t.equal((await api.request('PATCH', `/api/v6/spaces/${space.id}`, { token, json })).status, 200);
  const callsWith = (data: Buffer) => cs.calls.filter((c) => c.data.equals(data));
  const overdue = (expired = false) =>
    api.db.owner.query(
      `UPDATE display_downlinks SET next_attempt_at = now() - interval '1 second'${expired ? `, expires_at = now() - interval '1 second'` : ''}
        WHERE device_id = $1 AND status IN ('published', 'transmitted')`,
      [display.id],
    );
  const eventRecorded = (code: string, id: string) =>
    waitFor(async () => Number((await api.db.owner.query(`SELECT count(*) AS n FROM device_events WHERE code = $1 AND (queue_item_id = $2 OR data -> 'context' ->> 'queue_item_id' = $2::text)`, [code, id])).rows[0].n) === 1, 10_000, `${code} recorded`);

  await t.test('the first state is enqueued with flush_queue and expiresAt = now + the ack timeout', async (t) => {
    const before = Date.now();
    t.equal((await api.request('POST', `/api/v6/devices/${display.id}/assign`, { token, json: { space_id: space.id } })).status, 200);
    await jobs.runOnce('display_downlinks');
    await waitFor(async () => (await downlinks())[0]?.status === 'published', 10_000, 'published');
    const after = Date.now();
    t.equal(cs.calls.length, 1);
    const call = cs.calls[0]!;
    t.match(call, { key: OPERATOR_KEY, flushQueue: true, devEui: eui.toLowerCase(), confirmed: true, fPort: 10 });
    t.ok(call.data.equals(UNKNOWN), 'the unknown state');
    t.ok(call.expiresAt!.getTime() >= before + ACK_TIMEOUT_S * 1000 && call.expiresAt!.getTime() <= after + ACK_TIMEOUT_S * 1000, 'expiresAt is the ack timeout from now');
    const [row] = await downlinks();
    t.match(row, { queue_item_id: call.id, sent_via: 'chirpstack_api', expires_at: call.expiresAt!.toISOString(), attempts: 1 }, "the row carries ChirpStack's id and the expiry it was sent with");
  });

  await t.test('txack and ack are matched on the id ChirpStack returned', async (t) => {
    const id = cs.calls[0]!.id;
    cs.send(eui);
    await chirpstack.txack(id);
    await waitFor(async () => (await downlinks())[0].status === 'transmitted', 10_000, 'transmitted');
    await chirpstack.ack(id, true);
    cs.acknowledged(eui, id);
    await waitFor(async () => (await downlinks())[0].status === 'acknowledged', 10_000, 'acknowledged');
  });

  await t.test('a newer state replaces the older one in ChirpStack\'s queue instead of piling up behind it', async (t) => {
    await patch({ current_state: 'maintenance' });
    await jobs.runOnce('display_downlinks');
    await waitFor(() => callsWith(MAINTENANCE).length === 1, 10_000, 'maintenance enqueued');
    const maintenanceId = callsWith(MAINTENANCE)[0]!.id;
    t.same(cs.queue(eui).map((i) => i.id), [maintenanceId]);
    // Maintenance ends before the sign took it: the unknown state again.
    await patch({ current_state: 'free' });
    await jobs.runOnce('display_downlinks');
    await waitFor(() => callsWith(UNKNOWN).length === 2, 10_000, 'unknown enqueued again');
    const latest = callsWith(UNKNOWN)[1]!;
    t.ok(cs.calls.every((c) => c.flushQueue), 'every call flushed');
    t.same(cs.queue(eui).map((i) => i.id), [latest.id], 'only the latest state is queued in ChirpStack');
    const [now, before] = await downlinks();
    t.match(now, { queue_item_id: latest.id, status: 'published', display_state: 'unknown' });
    t.match(before, { queue_item_id: maintenanceId, status: 'superseded' });

    // ChirpStack never sends the superseded one; should it report it EXPIRED, nothing is retried.
    const calls = cs.calls.length;
    await chirpstack.expired(maintenanceId);
    await eventRecorded('EXPIRED', maintenanceId);
    t.match((await downlinks())[1], { queue_item_id: maintenanceId, status: 'superseded' });
    await jobs.runOnce('display_downlinks');
    t.equal(cs.calls.length, calls, 'no call for a superseded state');
  });

  await t.test('a timeout retry replaces its own unsent attempt: still one item in the queue', async (t) => {
    const first = (await downlinks())[0];
    await overdue();
    await jobs.runOnce('display_downlinks');
    await waitFor(async () => (await downlinks())[0].attempts === 2, 10_000, 'attempt 2');
    const retry = cs.calls.at(-1)!;
    t.match(retry, { flushQueue: true });
    t.not(retry.id, first.queue_item_id, 'a new queue item id');
    t.same(cs.queue(eui).map((i) => i.id), [retry.id], 'the earlier attempt was flushed, not left beside the retry');
    const [row] = await downlinks();
    t.match(row, { id: first.id, queue_item_id: retry.id, status: 'published' });
    t.ok(retry.expiresAt!.getTime() > new Date(first.expires_at).getTime(), 'with a new expiresAt');
  });

  await t.test('EXPIRED for the attempt on its way: tried again, then expired after the last attempt', async (t) => {
    const current = (await downlinks())[0];
    await chirpstack.expired(current.queue_item_id);
    await waitFor(async () => (await downlinks())[0].attempts === 3, 10_000, 'attempt 3 after EXPIRED');
    t.match((await downlinks())[0], { id: current.id, status: 'published', last_error: /^EXPIRED: / });
    t.same(cs.queue(eui).length, 1);
    // The last attempt is not sent before its expiresAt either: the job ends it as expired.
    const calls = cs.calls.length;
    await overdue(true);
    await jobs.runOnce('display_downlinks');
    t.match((await downlinks())[0], { id: current.id, status: 'expired', attempts: 3, last_error: /not transmitted before its expiresAt/ });
    const again = await jobs.runOnce('display_downlinks');
    t.match(again.counts, { queued: 0 }, 'not re-sent until the space changes');
    t.equal(cs.calls.length, calls);
  });

  await t.test("a tenant's own ChirpStack key is used for its downlinks", async (t) => {
    await putApiKey(api.db.owner, chirpstackKeyBox(JWT_SECRET), display.tenant_id, TENANT_KEY);
    const calls = cs.calls.length;
    await patch({ current_state: 'maintenance' });
    await jobs.runOnce('display_downlinks');
    await waitFor(() => cs.calls.length === calls + 1, 10_000, 'enqueued');
    t.equal(cs.calls.at(-1)!.key, TENANT_KEY);
  });

  await t.test('ChirpStack unavailable: the downlink stays pending and is enqueued once it answers', async (t) => {
    cs.failNext(grpc.status.UNAVAILABLE);
    const calls = cs.calls.length;
    await patch({ current_state: 'free' });
    await jobs.runOnce('display_downlinks');
    await waitFor(async () => /^enqueue failed: /.test((await downlinks())[0].last_error ?? ''), 10_000, 'the failure recorded');
    t.match((await downlinks())[0], { status: 'pending', display_state: 'unknown', attempts: 0 });
    // The sender waits (5 s, doubling) before it asks ChirpStack again; wake-ups meanwhile find it waiting.
    await waitFor(async () => {
      await api.db.owner.query(`SELECT pg_notify($1, '')`, [DISPLAY_DOWNLINKS_CHANNEL]);
      return cs.calls.length === calls + 1;
    }, 20_000, 'enqueued after the pause');
    await waitFor(async () => (await downlinks())[0].status === 'published', 10_000, 'published');
    t.match((await downlinks())[0], { attempts: 1, queue_item_id: cs.calls.at(-1)!.id });
  });

  t.same(mqttCommands, [], 'nothing was published on the MQTT command topic');
});
