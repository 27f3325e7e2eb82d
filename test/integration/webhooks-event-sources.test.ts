// Outbound webhooks for the events that are not a space's change of state (tenant_events,
// migrations/0012): a reservation's lifecycle (created, cancelled, started, no-show) and
// device health (a battery turning low, a gateway outage), each delivered once, signed, in
// order, to the subscriptions of that type and site only. Reservations and devices are
// driven as production drives them: the API, the ingest apply path, the jobs.
import t, { type Test } from 'tap';
import { testApi, type TestApi } from '../helpers/api.js';
import { waitFor } from '../helpers/wait.js';
import { webhookReceiver, verifyWebhookSignature, type Received } from '../helpers/webhook-receiver.js';
import { applyBatch } from '../../ingest/apply.js';
import { compileTopicTemplate } from '../../ingest/chirpstack.js';
import { startJobs, JOB_NAMES, type JobName, type Jobs } from '../../ingest/jobs/index.js';
import { createLogger } from '../../src/log.js';
import { eventTopic, statusEvent, upEvent } from '../../src/simulator/events.js';

const NEVER = '0 0 0 1 1 *';
const QUIET = Object.fromEntries(JOB_NAMES.map((n) => [n, NEVER])) as Record<JobName, string>;
const OCCUPIED = Buffer.from([0x01]); // nwave-nps405 fPort 1: bit 0 = occupied
const MIN = 60_000;


interface Fixture {
  api: TestApi;
  token: string;
  tenantId: string;
  jobs: Jobs;
  clock: { now: Date };
  subscribe(events: string[], siteIds?: string[]): Promise<{ id: string; secret: string; got: Received[] }>;
  /** Runs deliver_webhooks until every subscription's cursors are at the newest events and nothing is pending. */
  settle(): Promise<void>;
  /** One ChirpStack event through the ingest apply path, in its own transaction (as a batch of one). */
  ingest(devEui: string, event: 'up' | 'status', body: unknown): Promise<void>;
}

async function fixture(t: Test, env: Record<string, string> = {}): Promise<Fixture> {
  const api = await testApi(t, { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_SCHEDULE_SECONDS: '0', ...env });
  const { token, user } = await api.register('acme');
  const clock = { now: new Date() };
  const jobs = startJobs({
    pool: api.db.ingest, log: createLogger('silent'), config: api.config, schedules: QUIET, reservationTimer: false,
    databaseUrl: api.db.url, now: () => clock.now,
  });
  t.teardown(() => jobs.stop());
  const topics = compileTopicTemplate(api.config.chirpstackEventTopic);
  return {
    api,
    token,
    tenantId: user.tenant_id,
    jobs,
    clock,
    async subscribe(events, siteIds) {
      const rx = await webhookReceiver(t);
      const r = await api.request('POST', '/api/v6/webhooks', { token, json: { url: rx.url, events, site_ids: siteIds } });
      if (r.status !== 201) throw new Error(`subscribe: ${r.status} ${JSON.stringify(r.body)}`);
      return { id: r.body.id, secret: r.body.secret, got: rx.got };
    },
    async settle() {
      await waitFor(async () => {
        await jobs.runOnce('deliver_webhooks');
        const r = await api.db.owner.query(
          `SELECT bool_and(s.last_event_id = coalesce((SELECT max(id) FROM space_events), 0)
                       AND s.last_tenant_event_id = coalesce((SELECT max(seq) FROM tenant_events), 0)
                       AND NOT EXISTS (SELECT 1 FROM tenant_events WHERE seq IS NULL)
                       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.subscription_id = s.id AND d.status = 'pending')) AS done
             FROM webhook_subscriptions s`);
        return r.rows[0].done === true;
      }, 15_000, 'every event fanned out and delivered');
    },
    async ingest(devEui, event, body) {
      const payload = Buffer.from(JSON.stringify(body));
      const c = await api.db.ingest.connect();
      try {
        await c.query('BEGIN');
        await applyBatch(c, topics, [{ topic: eventTopic(api.config.chirpstackEventTopic, devEui, event), payload }]);
        await c.query('COMMIT');
      } finally {
        c.release();
      }
    },
  };
}

/** The lifecycle deliveries (tenant_events) a receiver got: [reservation, event]. */
const lifecycle = (got: Received[]) => got.filter((g) => g.body.data.event !== undefined).map((g) => [g.body.data.reservation_id, g.body.data.event]);

t.test('reservation subscribers get created, cancelled, started and no_show, once each, signed, in order', async (t) => {
  const f = await fixture(t);
  const { api, token } = f;
  const here = (await api.request('POST', '/api/v6/spaces', { token, json: { code: 'R-1', auto_release_minutes: 5 } })).body;
  const otherSite = (await api.request('POST', '/api/v6/sites', { token, json: { name: 'Elsewhere', timezone: 'UTC' } })).body.id as string;
  const away = (await api.request('POST', '/api/v6/spaces', { token, json: { code: 'X-1', site_id: otherSite } })).body;

  const all = await f.subscribe(['reservation']);
  const onlyAway = await f.subscribe(['reservation'], [otherSite]);
  const health = await f.subscribe(['device_health', 'space_state', 'overstay']);

  const reserve = async (spaceId: string) => {
    const start = Date.now() + 30 * 86_400_000 + Math.random() * 86_400_000;
    const r = await api.request('POST', '/api/v6/reservations', {
      token, json: { space_id: spaceId, start_time: new Date(start).toISOString(), end_time: new Date(start + 3_600_000).toISOString() },
    });
    if (r.status !== 201) throw new Error(`reserve: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.id as string;
  };

  const r1 = await reserve(here.id);
  t.equal((await api.request('PUT', `/api/v6/reservations/${r1}/cancel`, { token, json: { cancellation_reason: 'plans changed' } })).status, 200);
  const r2 = await reserve(here.id);
  // Its window began 6 minutes ago and nobody came: the job activates it, then releases it (auto_release_minutes 5).
  await api.db.owner.query(
    `UPDATE reservations SET start_time = now() - interval '6 minutes', end_time = now() + interval '1 hour' WHERE id = $1`, [r2]);
  const run = await f.jobs.runOnce('expire_reservations');
  t.match(run, { status: 'succeeded', counts: { activated: 1, no_shows: 1 } });
  const r3 = await reserve(away.id);
  await f.settle();

  t.same(lifecycle(all.got), [[r1, 'created'], [r1, 'cancelled'], [r2, 'created'], [r2, 'started'], [r2, 'no_show'], [r3, 'created']],
    'every lifecycle event of every site, each once, in order');
  t.ok(all.got.every((g) => verifyWebhookSignature(all.secret, g.headers['x-baygate-signature'] as string, g.raw)), 'every request verifies');
  t.ok(all.got.every((g) => g.headers['x-baygate-event'] === 'reservation' && g.body.type === 'reservation'));
  t.equal(new Set(all.got.map((g) => g.body.id)).size, all.got.length, 'one delivery id each');
  const cancelled = all.got.find((g) => g.body.data.event === 'cancelled')!.body;
  t.same(Object.keys(cancelled).sort(), ['created_at', 'data', 'id', 'type']);
  t.match(cancelled.data, {
    reservation_id: r1, space_id: here.id, site_id: here.site_id, status: 'cancelled', cancellation_reason: 'plans changed',
    start_time: String, end_time: String, at: String, id: Number,
  });
  t.match(all.got.find((g) => g.body.data.event === 'no_show')!.body.data, { reservation_id: r2, status: 'no_show', checked_in_at: null });
  // The space changes the reservation caused still come as space events of type reservation.
  t.same(all.got.filter((g) => g.body.data.event === undefined).map((g) => g.body.data.cause), ['reservation_start', 'reservation_end']);

  t.same(lifecycle(onlyAway.got), [[r3, 'created']], 'a site filter keeps only its sites');
  t.equal(onlyAway.got.length, 1);
  t.same(lifecycle(health.got), [], 'other types get none of them');

  const deliveries = await api.request('GET', `/api/v6/webhooks/${all.id}/deliveries?limit=100`, { token });
  t.same([...new Set(deliveries.body.items.map((d: { source: string }) => d.source))].sort(), ['space', 'tenant'], 'deliveries name their source');

  // A new subscription starts after the newest events of both sources.
  const late = await f.subscribe(['reservation']);
  await f.settle();
  t.same(late.got, [], 'nothing from before it existed');
});

t.test('device_health subscribers get low_battery and gateway_offline; gateways reach only unfiltered subscriptions', async (t) => {
  const f = await fixture(t, { GATEWAY_OFFLINE_MINUTES: '10' });
  const { api, token } = f;
  const GW_UP = 'aa555a00000000a1';
  const GW_DOWN = 'aa555a00000000b2';
  let n = 0;
  const sensor = async () => {
    const space = (await api.request('POST', '/api/v6/spaces', { token, json: { code: `S-${++n}` } })).body;
    const devEui = `70B3D5E75E00D0${String(n).padStart(2, '0')}`;
    const dev = (await api.request('POST', '/api/v6/devices', {
      token, json: { dev_eui: devEui, device_type: 'sensor', decoder: 'nwave-nps405', config: { heartbeat_minutes: 10 } },
    })).body;
    await api.request('POST', `/api/v6/devices/${dev.id}/assign`, { token, json: { space_id: space.id } });
    return { space, dev, devEui };
  };
  const s1 = await sensor();
  const s2 = await sensor();
  const otherSite = (await api.request('POST', '/api/v6/sites', { token, json: { name: 'Elsewhere', timezone: 'UTC' } })).body.id as string;

  const all = await f.subscribe(['device_health']);
  const siteOnly = await f.subscribe(['device_health'], [s1.space.site_id]);
  const away = await f.subscribe(['device_health'], [otherSite]);
  const reservations = await f.subscribe(['reservation', 'space_state']);

  // s1 is heard now through a gateway that is up; s2 was last heard 20 minutes ago through one that fell silent then.
  const now = Date.now();
  await f.ingest(s1.devEui, 'up', upEvent({ devEui: s1.devEui, fCnt: 1, fPort: 1, data: OCCUPIED, time: new Date(now), gatewayId: GW_UP }));
  await f.ingest(s2.devEui, 'up', upEvent({ devEui: s2.devEui, fCnt: 1, fPort: 1, data: OCCUPIED, time: new Date(now - 20 * MIN), gatewayId: GW_DOWN }));
  // A DevStatusAns reports 12 %: below the decoder's 20 %, flagged by the device_health job.
  await f.ingest(s1.devEui, 'status', statusEvent({ devEui: s1.devEui, batteryLevel: 12 }));
  f.clock.now = new Date(now);
  const run = await f.jobs.runOnce('device_health');
  t.match(run, { status: 'succeeded', counts: { low_battery: 1, gateway_offline_events: 1, comms_lost: 0 } });
  await f.settle();
  const again = await f.jobs.runOnce('device_health');
  t.match(again, { counts: { low_battery: 0, gateway_offline_events: 0 } });
  await f.settle();

  const events = (got: Received[]) => got.map((g) => [g.body.type, g.body.data.event]);
  // The job records outages before it flags batteries: that is the events' order.
  t.same(events(all.got), [['device_health', 'gateway_offline'], ['device_health', 'low_battery']], 'each once, in order');
  t.ok(all.got.every((g) => verifyWebhookSignature(all.secret, g.headers['x-baygate-signature'] as string, g.raw)), 'every request verifies');
  t.ok(all.got.every((g) => g.headers['x-baygate-event'] === 'device_health'));
  t.match(all.got[1]!.body.data, { device_id: s1.dev.id, dev_eui: s1.devEui, space_id: s1.space.id, site_id: s1.space.site_id, battery: 12 });
  t.match(all.got[0]!.body.data, { gateway_eui: GW_DOWN.toUpperCase(), gateway_id: String, device_count: 1, since: String, site_id: null });

  t.same(events(siteOnly.got), [['device_health', 'low_battery']], 'a gateway has no site: not for a site-filtered subscription');
  t.same(away.got, [], 'nothing for another site');
  t.same(events(reservations.got).filter(([, e]) => e !== undefined), [], 'other types get none of them');
});

t.test('an event that commits after a later-numbered one is still delivered', async (t) => {
  // Ids are taken when the rows are written; the fan-out's cursor must follow commit order,
  // or an event whose transaction commits after a later id's (and after a fan-out) is lost.
  const f = await fixture(t);
  const { api, token } = f;
  const sub = await f.subscribe(['reservation']);
  const spaces = await Promise.all(['O-1', 'O-2'].map(async (code) => (await api.request('POST', '/api/v6/spaces', { token, json: { code } })).body.id as string));
  const start = new Date(Date.now() + 86_400_000);
  const insert = `INSERT INTO reservations (tenant_id, space_id, start_time, end_time) VALUES ($1, $2, $3, $4) RETURNING id`;
  const window = [start, new Date(start.getTime() + 3_600_000)];

  // The first reservation's event is written (its id taken) and its commit held back...
  const slow = await api.db.owner.connect();
  t.teardown(() => slow.release());
  await slow.query('BEGIN');
  const first = (await slow.query(insert, [f.tenantId, spaces[0], ...window])).rows[0].id as string;
  await slow.query('SET CONSTRAINTS ALL IMMEDIATE'); // run the deferred trigger now: the event row exists, uncommitted
  // ...while a second one commits, and is fanned out and delivered.
  const second = (await api.db.owner.query(insert, [f.tenantId, spaces[1], ...window])).rows[0].id as string;
  const visible = (await api.db.owner.query(`SELECT data->>'reservation_id' AS r FROM tenant_events`)).rows.map((x) => x.r);
  t.same(visible, [second], 'only the committed event is visible');
  await f.settle();
  t.same(lifecycle(sub.got), [[second, 'created']]);

  await slow.query('COMMIT');
  const order = async (by: string) => (await api.db.owner.query(`SELECT data->>'reservation_id' AS r FROM tenant_events ORDER BY ${by}`)).rows.map((x) => x.r);
  t.same(await order('id'), [first, second], 'the held event had taken the smaller id');
  await f.settle();
  t.same(await order('seq'), [second, first], 'and is numbered after the one that committed first');
  t.same(lifecycle(sub.got), [[second, 'created'], [first, 'created']], 'the late commit is delivered too, after the one before it');
});

t.test('events no subscription takes are not recorded', async (t) => {
  const f = await fixture(t);
  const { api, token } = f;
  const space = (await api.request('POST', '/api/v6/spaces', { token, json: { code: 'N-1' } })).body.id as string;
  const book = async (days: number) => {
    const start = Date.now() + days * 86_400_000;
    const r = await api.request('POST', '/api/v6/reservations', {
      token, json: { space_id: space, start_time: new Date(start).toISOString(), end_time: new Date(start + 3_600_000).toISOString() },
    });
    t.equal(r.status, 201);
  };
  const recorded = async () => Number((await api.db.owner.query(`SELECT count(*) AS n FROM tenant_events`)).rows[0].n);
  await f.subscribe(['space_state', 'device_health']);
  await book(10);
  t.equal(await recorded(), 0, 'no subscription takes reservations: nothing written');
  await f.subscribe(['reservation']);
  await book(11);
  t.equal(await recorded(), 1, 'once one does, they are');
});
