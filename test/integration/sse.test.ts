// Live events: space_events → NOTIFY → the API's listener → SSE and WebSocket clients, per
// tenant, with filters, resume by Last-Event-ID, listener restarts, slow clients, overstays,
// and the whole path from an MQTT uplink.
import t, { type Test } from 'tap';
import { request } from 'node:http';
import WebSocket from 'ws';
import { testApi, type TestApi } from '../helpers/api.js';
import { sseConnect, type SseClient } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait.js';
import { testIngest } from '../helpers/ingest.js';
import { withTx } from '../../src/db/tx.js';
import { createLogger } from '../../src/log.js';
import { applySpaceInput } from '../../src/space-transitions.js';
import type { SpaceInput } from '../../src/domain/state-machine.js';
import { LISTENER_APPLICATION_NAME } from '../../api/live/listener.js';
import type { Batch, Sink } from '../../api/live/hub.js';
import { detectOverstays } from '../../ingest/jobs/overstay.js';
import { appendSpaceEvents } from '../../src/storage/space-state.js';

const EVENT_KEYS = ['at', 'cause', 'code', 'device_id', 'from', 'id', 'reservation_id', 'site_id', 'space_id', 'to'];
const quiet = createLogger('silent', 'test');

interface Tenant {
  token: string;
  tenantId: string;
  siteId: string;
}

async function tenant(api: TestApi, slug: string): Promise<Tenant> {
  const r = await api.register(slug);
  const sites = await api.request('GET', '/api/v6/sites', { token: r.token });
  return { token: r.token, tenantId: r.user.tenant_id, siteId: sites.body.items[0].id };
}

async function space(api: TestApi, who: Tenant, code: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await api.request('POST', '/api/v6/spaces', { token: who.token, json: { code, ...extra } });
  if (r.status !== 201) throw new Error(`space ${code}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id;
}

let fCnt = 0;
/** What a sensor (or the comms-lost job) would do, through the state machine: one event per change. */
async function input(api: TestApi, who: Tenant, spaceId: string, i: SpaceInput | boolean, at?: Date): Promise<void> {
  const frame = { fCnt: ++fCnt, at: at ?? new Date() };
  const inp: SpaceInput = typeof i === 'boolean' ? { type: 'sensor', kind: 'status', occupied: i, frame, lastFrame: null } : i;
  await withTx(api.db.app, { tenantId: who.tenantId }, (c) => applySpaceInput(c, who.tenantId, spaceId, inp, { at }));
}

async function eventIds(api: TestApi, tenantId: string): Promise<number[]> {
  const r = await api.db.owner.query('SELECT id FROM space_events WHERE tenant_id = $1 ORDER BY id', [tenantId]);
  return r.rows.map((x) => Number(x.id));
}

function open(t: Test, c: SseClient): SseClient {
  t.teardown(() => c.close());
  return c;
}

const ids = (c: SseClient) => c.messages.map((m) => Number(m.id));

t.test('live events over SSE and WebSocket', async (t) => {
  const api = await testApi(t, { LIVE_HEARTBEAT_MS: '200' });
  const a = await tenant(api, 'tenant-a');
  const b = await tenant(api, 'tenant-b');
  const a1 = await space(api, a, 'A1');
  const a2 = await space(api, a, 'A2');
  const north = (await api.request('POST', '/api/v6/sites', { token: a.token, json: { name: 'North' } })).body.id;
  const n1 = await space(api, a, 'N1', { site_id: north });
  const b1 = await space(api, b, 'B1');
  const sse = (path: string, opts: Parameters<typeof sseConnect>[2] = {}) => sseConnect(api.url, path, opts);

  await t.test('a state change reaches a connected client, with its table id, type and fields', async (t) => {
    const c = open(t, await sse('/api/v6/events', { token: a.token }));
    t.equal(c.status, 200);
    t.match(c.headers['content-type'], /^text\/event-stream/);
    t.equal(c.headers['cache-control'], 'no-cache, no-transform');
    await input(api, a, a1, true);
    const [m] = await c.waitForMessages(1);
    const [id] = (await eventIds(api, a.tenantId)).slice(-1);
    t.equal(Number(m!.id), id, 'id: is the space_events id');
    t.equal(m!.event, 'space_state');
    t.same(Object.keys(m!.json).sort(), EVENT_KEYS);
    t.match(m!.json, { id, space_id: a1, code: 'A1', site_id: a.siteId, from: 'unknown', to: 'occupied', cause: 'sensor_status', device_id: null, reservation_id: null });
    t.ok(!Number.isNaN(Date.parse(m!.json.at)));
    t.equal(c.retry, 2000, 'tells EventSource how soon to reconnect');
    await waitFor(() => c.comments.includes('heartbeat'), 5_000, 'a heartbeat comment');
  });

  await t.test("tenant B's client receives nothing of A's", async (t) => {
    const cb = open(t, await sse('/api/v6/events', { token: b.token }));
    const ca = open(t, await sse('/api/v6/events', { token: a.token }));
    await input(api, a, a1, false);
    await input(api, a, a2, true);
    await input(api, a, n1, true);
    await input(api, b, b1, true);
    await ca.waitForMessages(3);
    const [mb] = await cb.waitForMessages(1);
    t.match(mb!.json, { space_id: b1, code: 'B1', to: 'occupied' });
    // B's own event came after A's three: had any of A's been sent to B, it would be here first.
    t.equal(cb.messages.length, 1, 'B got only its own event');
    t.same(ca.messages.map((m) => m.json.code), ['A1', 'A2', 'N1'], 'A got its three, and not B1');
    const onTheWire = JSON.stringify(cb.messages);
    for (const s of [a1, a2, n1, a.tenantId, a.siteId]) t.notOk(onTheWire.includes(s), `no trace of A's ${s}`);
    const spoof = open(t, await sse(`/api/v6/events?site_id=${a.siteId}&tenant_id=${a.tenantId}`, { token: b.token }));
    await input(api, a, a1, true);
    await input(api, b, b1, false);
    await cb.waitForMessages(2);
    t.equal(spoof.messages.length, 0, "asking for A's site (or tenant) by parameter gives B nothing");
  });

  await t.test('resume with Last-Event-ID: exactly the missed events, then live ones', async (t) => {
    const c = await sse('/api/v6/events', { token: a.token });
    await input(api, a, a2, false);
    const [first] = await c.waitForMessages(1);
    c.close();
    await input(api, a, a2, true);
    await input(api, a, n1, false);
    await input(api, a, a1, false);
    const missed = (await eventIds(api, a.tenantId)).filter((id) => id > Number(first!.id));
    t.equal(missed.length, 3);

    const r = open(t, await sse('/api/v6/events', { token: a.token, lastEventId: first!.id! }));
    await r.waitForMessages(3);
    t.same(ids(r), missed, 'the three missed events, in order');
    await input(api, a, a1, true);
    await r.waitForMessages(4);
    const all = await eventIds(api, a.tenantId);
    t.same(ids(r), [...missed, all.at(-1)], 'then the live one, with no duplicate');

    const q = open(t, await sse(`/api/v6/events?last_event_id=${first!.id}&space_id=${n1}`, { token: a.token }));
    const [only] = await q.waitForMessages(1);
    t.match(only!.json, { space_id: n1, to: 'free' }, '?last_event_id= resumes too, through the filter');

    const future = open(t, await sse('/api/v6/events', { token: a.token, lastEventId: 999_999_999 }));
    await input(api, a, a2, false);
    await future.waitForMessages(1);
    t.equal(Number(future.messages[0]!.id), (await eventIds(api, a.tenantId)).at(-1), 'an id from the future is not ours: live events flow');
  });

  await t.test('a restart of the listener connection loses nothing', async (t) => {
    const c = open(t, await sse('/api/v6/events', { token: a.token }));
    const before = await eventIds(api, a.tenantId);
    const pid = async () =>
      (await api.db.owner.query(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`, [LISTENER_APPLICATION_NAME])).rows.map((r) => r.pid);
    const [old] = await pid();
    t.ok(old, 'the listener has its own connection');
    const reconnects = api.live.hub.stats.listener.reconnects;
    await api.db.owner.query('SELECT pg_terminate_backend($1)', [old]);
    // Written while the listener is away: their NOTIFYs go nowhere.
    await input(api, a, a1, false);
    await input(api, a, a2, true);
    await input(api, a, n1, true);
    await waitFor(async () => (await pid()).some((p) => p !== old), 10_000, 'a new listener connection');
    await input(api, a, a2, false);
    await c.waitForMessages(4);
    t.same(ids(c), (await eventIds(api, a.tenantId)).filter((id) => id > before.at(-1)!), 'all four, in order, once');
    t.ok(api.live.hub.stats.listener.reconnects > reconnects, 'the reconnect was counted');
    t.equal(api.live.hub.stats.listener.connected, true);
  });

  await t.test('filters: site_id, space_id, types', async (t) => {
    const bySite = open(t, await sse(`/api/v6/events?site_id=${north}`, { token: a.token }));
    const bySpace = open(t, await sse(`/api/v6/events?space_id=${a2}`, { token: a.token }));
    const health = open(t, await sse('/api/v6/events?types=device_health', { token: a.token }));
    const twoTypes = open(t, await sse('/api/v6/events?types=device_health,space_state', { token: a.token }));
    await input(api, a, a1, false); // may or may not change a1; make the next ones certain
    await input(api, a, a1, true);
    await input(api, a, a2, true);
    await input(api, a, n1, false);
    await input(api, a, a2, { type: 'comms_lost' });
    await input(api, a, n1, true);
    await waitFor(() => bySite.messages.length >= 2 && bySpace.messages.length >= 2 && health.messages.length >= 1, 10_000, 'filtered events');
    await twoTypes.waitForMessages(5);
    t.same(bySite.messages.map((m) => [m.json.code, m.json.to]), [['N1', 'free'], ['N1', 'occupied']], 'site_id');
    t.same(bySpace.messages.map((m) => [m.json.code, m.json.to]), [['A2', 'occupied'], ['A2', 'unknown']], 'space_id');
    t.same(health.messages.map((m) => [m.event, m.json.cause, m.json.code]), [['device_health', 'comms_lost', 'A2']], 'types');
    t.same(new Set(twoTypes.messages.map((m) => m.event)), new Set(['space_state', 'device_health']));
  });

  await t.test('refusals: no token, bad token, bad filter; ?access_token= works', async (t) => {
    const none = await sse('/api/v6/events');
    t.equal(none.status, 401);
    t.equal(JSON.parse(none.body).error.code, 'unauthorized');
    const bad = await sse('/api/v6/events', { token: 'not-a-jwt' });
    t.equal(bad.status, 401);
    const types = await sse('/api/v6/events?types=space_state,gossip', { token: a.token });
    t.equal(types.status, 400);
    t.equal(JSON.parse(types.body).error.details[0].field, 'query.types');
    const q = open(t, await sse(`/api/v6/events?access_token=${a.token}`));
    t.equal(q.status, 200);
    await input(api, a, n1, false);
    await q.waitForMessages(1);
    const plain = await api.request('GET', '/api/v6/ws', { token: a.token });
    t.equal(plain.status, 426, 'GET /api/v6/ws without an upgrade');
    t.equal(plain.headers.get('upgrade'), 'websocket');
  });

  await t.test('WebSocket: the same events, filters and auth', async (t) => {
    const wsUrl = api.url.replace(/^http/, 'ws') + '/api/v6/ws';
    const connect = (url: string, protocols?: string[]) =>
      new Promise<{ ws: WebSocket; messages: any[] }>((resolve, reject) => {
        const ws = new WebSocket(url, protocols);
        const messages: any[] = [];
        ws.on('message', (data) => messages.push(JSON.parse(String(data))));
        ws.once('open', () => resolve({ ws, messages }));
        ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error('refused'), { status: res.statusCode })));
        ws.once('error', reject);
        t.teardown(() => ws.terminate());
      });
    const viaProtocol = await connect(wsUrl, ['bearer', a.token]);
    t.equal(viaProtocol.ws.protocol, 'bearer', 'the server picks the bearer subprotocol');
    const viaQuery = await connect(`${wsUrl}?access_token=${a.token}&space_id=${a1}`);
    const sseToo = open(t, await sse('/api/v6/events', { token: a.token }));
    const bWs = await connect(wsUrl, ['bearer', b.token]);
    await input(api, a, a1, false);
    await input(api, a, a2, true);
    await sseToo.waitForMessages(2);
    await waitFor(() => viaProtocol.messages.length >= 2 && viaQuery.messages.length >= 1, 10_000, 'ws messages');
    t.same(
      viaProtocol.messages.map((m) => ({ id: m.id, event: m.event, data: m.data })),
      sseToo.messages.map((m) => ({ id: Number(m.id), event: m.event, data: m.json })),
      'the same ids, types and data as SSE',
    );
    t.same(viaQuery.messages.map((m) => m.data.space_id), [a1], 'space_id filter');
    t.equal(bWs.messages.length, 0, "B's socket got nothing of A's");
    t.equal(api.live.hub.stats.clients.ws, 3);

    const resumed = await connect(`${wsUrl}?last_event_id=${viaProtocol.messages[0].id}`, ['bearer', a.token]);
    await waitFor(() => resumed.messages.length >= 1, 5_000, 'ws resume');
    t.same(resumed.messages.map((m) => m.id), [viaProtocol.messages[1].id], 'resume by ?last_event_id=');

    const refused = await connect(wsUrl, ['bearer', 'nope']).catch((e) => e);
    t.equal(refused.status, 401, 'a bad token is refused before the upgrade');
    const noToken = await connect(wsUrl).catch((e) => e);
    t.equal(noToken.status, 401);
    const badFilter = await connect(`${wsUrl}?types=nope`, ['bearer', a.token]).catch((e) => e);
    t.equal(badFilter.status, 400);
  });

  await t.test('a client that does not keep up is dropped, not buffered without bound', async (t) => {
    // A stand-in for a socket that stopped reading: its backlog never shrinks.
    const closed: string[] = [];
    let backlog = 0;
    const sink: Sink = {
      transport: 'sse',
      send: (batch: Batch) => {
        backlog += batch.sse.length;
        return batch.sse.length;
      },
      heartbeat: () => undefined,
      buffered: () => backlog,
      close: (reason) => closed.push(reason),
    };
    const dropped = api.live.hub.stats.slowClientsDropped;
    await api.live.hub.subscribe({ tenantId: a.tenantId, sink, filter: { siteId: null, spaceId: null, types: null }, lastEventId: null });
    // ~1.5 MB of events, more than LIVE_CLIENT_BUFFER_BYTES (1 MiB), straight through the table and NOTIFY.
    await withTx(api.db.app, { tenantId: a.tenantId }, (c) =>
      appendSpaceEvents(c, a.tenantId, Array.from({ length: 5_000 }, () => ({
        spaceId: a1, siteId: a.siteId, from: 'free' as const, to: 'occupied' as const, cause: 'sensor_status', deviceId: null, reservationId: null, at: new Date(),
      }))),
    );
    await waitFor(() => closed.length > 0, 10_000, 'the slow client is dropped');
    t.ok(backlog > api.config.liveClientBufferBytes);
    t.same(closed, ['slow']);
    t.equal(api.live.hub.stats.slowClientsDropped, dropped + 1);
  });

  await t.test('a real socket that stops reading is cut off', async (t) => {
    const api2 = await testApi(t, { LIVE_CLIENT_BUFFER_BYTES: '65536', LIVE_HEARTBEAT_MS: '200' });
    const x = await tenant(api2, 'slow');
    const s = await space(api2, x, 'S'.repeat(100));
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = request(`${api2.url}/api/v6/events`, { headers: { authorization: `Bearer ${x.token}` } }, resolve);
      req.on('error', reject);
      req.end();
      t.teardown(() => req.destroy());
    });
    t.equal(res.statusCode, 200);
    res.pause(); // and never read again: the kernel buffers fill, then the server's
    let closed = false;
    res.socket.on('close', () => (closed = true));
    for (let round = 0; round < 60 && !closed; round++) {
      await withTx(api2.db.app, { tenantId: x.tenantId }, (c) =>
        appendSpaceEvents(c, x.tenantId, Array.from({ length: 2_000 }, () => ({
          spaceId: s, siteId: x.siteId, from: 'free' as const, to: 'occupied' as const, cause: 'sensor_status', deviceId: null, reservationId: null, at: new Date(),
        }))),
      );
      await new Promise((r) => setTimeout(r, 50));
    }
    await waitFor(() => closed, 10_000, 'the server to close the connection');
    t.equal(api2.live.hub.stats.slowClientsDropped, 1);
    t.equal(api2.live.hub.stats.clients.sse, 0);
  });

  await t.test('overstay: listed by occupied_longer_than, one event per stay on the stream', async (t) => {
    const o = await space(api, a, 'O1', { config: { max_stay_minutes: 30 } });
    const stream = open(t, await sse('/api/v6/events?types=overstay', { token: a.token }));
    const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);
    const arrived = minutesAgo(45);
    await input(api, a, o, true, arrived);
    await input(api, a, a1, false);
    await input(api, a, a1, true, minutesAgo(20));

    const long = await api.request('GET', '/api/v6/spaces?occupied_longer_than=30m', { token: a.token });
    t.equal(long.status, 200);
    t.same(long.body.items.map((s: { code: string }) => s.code), ['O1'], 'occupied 45 min > 30m; A1 (20 min) is not');
    const longer = await api.request('GET', '/api/v6/spaces?occupied_longer_than=1h', { token: a.token });
    t.equal(longer.body.total, 0);
    const secs = await api.request('GET', '/api/v6/spaces?occupied_longer_than=600s', { token: a.token });
    t.ok(secs.body.items.some((s: { code: string }) => s.code === 'A1'), '600s lists A1 too');
    const bad = await api.request('GET', '/api/v6/spaces?occupied_longer_than=soon', { token: a.token });
    t.equal(bad.status, 400);

    const first = await detectOverstays(api.db.ingest, quiet, new Date());
    t.match(first, { overstays: 1 });
    const [m] = await stream.waitForMessages(1);
    t.equal(m!.event, 'overstay');
    t.match(m!.json, { space_id: o, code: 'O1', from: 'occupied', to: 'occupied', cause: 'overstay' });
    t.equal(Date.parse(m!.json.at), arrived.getTime() + 30 * 60_000, 'at: when the stay passed 30 minutes');
    t.match(await detectOverstays(api.db.ingest, quiet, new Date()), { overstays: 0 }, 'once per stay');

    await input(api, a, o, false, minutesAgo(10));
    await input(api, a, o, true, minutesAgo(5));
    t.match(await detectOverstays(api.db.ingest, quiet, new Date()), { overstays: 0 }, 'a new stay of 5 minutes is not one');
    t.match(await detectOverstays(api.db.ingest, quiet, new Date(Date.now() + 30 * 60_000)), { overstays: 1 }, 'until it passes 30');
    await stream.waitForMessages(2);
    t.equal(stream.messages.length, 2);
    const row = await api.db.owner.query(`SELECT count(*)::int AS n FROM space_events WHERE space_id = $1 AND cause = 'overstay'`, [o]);
    t.equal(row.rows[0].n, 2);
  });

  await t.test('counters for /metrics', async (t) => {
    const before = api.live.hub.stats.eventsSent.sse;
    const c = await sse('/api/v6/events', { token: a.token });
    await waitFor(() => api.live.hub.stats.clients.sse >= 1, 5_000, 'client counted');
    const clients = api.live.hub.stats.clients.sse;
    await input(api, a, a2, false);
    await c.waitForMessages(1);
    t.ok(api.live.hub.stats.eventsSent.sse > before, 'events sent are counted');
    c.close();
    await waitFor(() => api.live.hub.stats.clients.sse === clients - 1, 5_000, 'a closed client is no longer counted');
  });
});

t.test('the resume bound (LIVE_REPLAY_MAX_EVENTS)', async (t) => {
  const api = await testApi(t, { LIVE_REPLAY_MAX_EVENTS: '2' });
  const a = await tenant(api, 'bounded');
  const s = await space(api, a, 'S1');
  for (const occupied of [true, false, true, false, true]) await input(api, a, s, occupied);
  const all = await eventIds(api, a.tenantId);
  const r = open(t, await sseConnect(api.url, '/api/v6/events', { token: a.token, lastEventId: all[0]! }));
  await r.waitForMessages(2);
  await new Promise((res) => setTimeout(res, 200));
  t.same(ids(r), all.slice(-2), 'the newest two of the four missed');
});

t.test('end to end: an MQTT uplink arrives on an SSE client', async (t) => {
  const api = await testApi(t);
  const a = await tenant(api, 'mqtt');
  const spaceId = await space(api, a, 'M1');
  const devEui = '70B3D5E75E00AA01';
  const device = await api.request('POST', '/api/v6/devices', { token: a.token, json: { dev_eui: devEui, device_type: 'sensor', decoder: 'nwave-nps405' } });
  await api.request('POST', `/api/v6/devices/${device.body.id}/assign`, { token: a.token, json: { space_id: spaceId } });
  const ingest = await testIngest(t, api.db);
  const c = open(t, await sseConnect(api.url, '/api/v6/events', { token: a.token }));
  const sent = Date.now();
  await ingest.up({ devEui, fCnt: 1, fPort: 1, data: Buffer.from([0x01]) });
  const [m] = await c.waitForMessages(1);
  t.match(m!.json, { space_id: spaceId, code: 'M1', from: 'unknown', to: 'occupied', cause: 'sensor_status', device_id: device.body.id });
  t.comment(`uplink → SSE in ${Date.now() - sent} ms`);
  await ingest.up({ devEui, fCnt: 2, fPort: 1, data: Buffer.from([0x00]) });
  const [, m2] = await c.waitForMessages(2);
  t.match(m2!.json, { to: 'free' });
});
