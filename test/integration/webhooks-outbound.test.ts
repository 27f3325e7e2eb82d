// Outbound webhooks: a real HTTP receiver gets signed deliveries of the tenant's events, in
// order, retried until it answers 2xx; a subscription that keeps failing is disabled and,
// enabled again, resumes from its oldest undelivered event. URLs into private networks are refused.
import t, { type Test } from 'tap';
import { createServer } from 'node:http';
import { testApi } from '../helpers/api.js';
import { waitFor } from '../helpers/wait.js';
import { webhookReceiver, verifyWebhookSignature } from '../helpers/webhook-receiver.js';
import { startJobs, JOB_NAMES, type JobName } from '../../ingest/jobs/index.js';
import { createLogger } from '../../src/log.js';
import { withTx } from '../../src/db/tx.js';
import { appendSpaceEvents } from '../../src/storage/space-state.js';
import { WEBHOOK_DISABLED_CHANNEL } from '../../src/events.js';
import { sendWebhook } from '../../src/webhooks/target.js';
import { deliverWebhooks } from '../../ingest/jobs/deliver-webhooks.js';
import { sseConnect } from '../helpers/sse.js';

const NEVER = '0 0 0 1 1 *';
const QUIET = Object.fromEntries(JOB_NAMES.map((n) => [n, NEVER])) as Record<JobName, string>;


async function setup(t: Test) {
  const api = await testApi(t, { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_SCHEDULE_SECONDS: '0', WEBHOOK_DISABLE_AFTER_FAILURES: '3' });
  const { token } = await api.register('acme');
  const jobs = startJobs({ pool: api.db.ingest, log: createLogger('silent'), config: api.config, schedules: QUIET, reservationTimer: false, databaseUrl: api.db.url });
  t.teardown(() => jobs.stop());
  const space = (await api.request('POST', '/api/v6/spaces', { token, json: { code: 'O-1' } })).body;
  // A sensor's change of state, written as ingest writes it (space_events + NOTIFY).
  let last = 'unknown';
  const toggle = async (state: 'occupied' | 'free') => {
    await withTx(api.db.ingest, { tenantId: space.tenant_id }, (c) =>
      appendSpaceEvents(c, space.tenant_id, [
        { spaceId: space.id, siteId: space.site_id, from: last as 'free', to: state, cause: 'sensor_status', deviceId: null, reservationId: null, at: new Date() },
      ]),
    );
    last = state;
  };
  return { api, token, space, jobs, toggle };
}

t.test('a site filter names live sites of the tenant, else 400 naming the field', async (t) => {
  const { api, token, space } = await setup(t);
  const rx = await webhookReceiver(t, [200]);
  const unknown = crypto.randomUUID();
  const bad = await api.request('POST', '/api/v6/webhooks', { token, json: { url: rx.url, events: ['space_state'], site_ids: [space.site_id, unknown] } });
  t.equal(bad.status, 400);
  t.match(bad.body.error.details, [{ field: 'body.site_ids', message: new RegExp(unknown) }]);
  const good = await api.request('POST', '/api/v6/webhooks', { token, json: { url: rx.url, events: ['space_state'], site_ids: [space.site_id] } });
  t.equal(good.status, 201);
  const put = await api.request('PUT', `/api/v6/webhooks/${good.body.id}`, { token, json: { url: rx.url, events: ['space_state'], site_ids: [unknown], enabled: true } });
  t.equal(put.status, 400, 'and on replace');
  t.same((await api.request('GET', `/api/v6/webhooks/${good.body.id}`, { token })).body.site_ids, [space.site_id], 'unchanged');
});

t.test('signed deliveries, retried until delivered, in order', async (t) => {
  const { api, token, space, toggle } = await setup(t);
  const rx = await webhookReceiver(t, [500, 502, 200]);
  const created = await api.request('POST', '/api/v6/webhooks', { token, json: { url: rx.url, events: ['space_state'] } });
  t.equal(created.status, 201);
  t.match(created.body, { url: rx.url, events: ['space_state'], enabled: true, site_ids: null, secret: /^whsec_/ });
  const secret = created.body.secret as string;
  const id = created.body.id as string;
  const shown = await api.request('GET', `/api/v6/webhooks/${id}`, { token });
  t.equal(shown.body.secret, undefined, 'the secret is shown once');

  await toggle('occupied');
  await toggle('free');
  await waitFor(() => rx.got.filter((g) => g.status === 200).length >= 2, 15_000, 'both events delivered');

  t.equal(rx.got.length, 4, 'two failures, then each event once');
  t.ok(rx.got.every((g) => verifyWebhookSignature(secret, g.headers['x-baygate-signature'] as string, g.raw)), 'every request verifies with the secret');
  t.ok(rx.got.every((g) => g.headers['x-baygate-delivery'] === g.body.id && g.headers['x-baygate-event'] === 'space_state'));
  const first = rx.got[0]!.body;
  t.same(Object.keys(first).sort(), ['created_at', 'data', 'id', 'type']);
  t.match(first.data, { space_id: space.id, code: 'O-1', to: 'occupied' });
  t.same(rx.got.map((g) => g.body.data.to), ['occupied', 'occupied', 'occupied', 'free'], 'retries of the head come before the next event');
  t.equal(new Set(rx.got.slice(0, 3).map((g) => g.body.id)).size, 1, 'a retry keeps its delivery id');

  const list = await api.request('GET', `/api/v6/webhooks/${id}/deliveries`, { token });
  t.equal(list.status, 200);
  t.match(list.body, { total: 2 });
  const [second, firstRow] = list.body.items;
  t.match(firstRow, { status: 'delivered', attempts: 3, last_status_code: 200, next_attempt_at: null, type: 'space_state' });
  t.match(second, { status: 'delivered', attempts: 1, last_status_code: 200 });
  t.match((await api.request('GET', `/api/v6/webhooks/${id}`, { token })).body, { enabled: true, consecutive_failures: 0 });

  const again = await api.request('POST', `/api/v6/webhooks/${id}/deliveries/${firstRow.id}/redeliver`, { token, json: {} });
  t.equal(again.status, 200);
  t.match(again.body, { status: 'pending' });
  await toggle('occupied'); // wakes the worker
  await waitFor(() => rx.got.filter((g) => g.status === 200).length === 4, 15_000, 'redelivered, and the new event delivered');
  t.equal(rx.got.filter((g) => g.body.id === firstRow.id).length, 4, 'the redelivery keeps its id');
  t.equal(rx.got[4]!.body.id, firstRow.id, 'the redelivery went first');

  const ping = await api.request('POST', `/api/v6/webhooks/${id}/test`, { token, json: {} });
  t.match(ping.body, { delivered: true, status_code: 200, error: null });
  const p = rx.got.at(-1)!;
  t.match(p.body, { type: 'ping', data: { subscription_id: id } });
  t.ok(verifyWebhookSignature(secret, p.headers['x-baygate-signature'] as string, p.raw), 'the ping is signed too');

  const other = await api.register('other');
  t.equal((await api.request('GET', `/api/v6/webhooks/${id}`, { token: other.token })).status, 404, "another tenant cannot see it");
  t.equal((await api.request('GET', `/api/v6/webhooks/${id}/deliveries`, { token: other.token })).status, 404);
  t.same((await api.request('GET', '/api/v6/webhooks', { token: other.token })).body.items, []);

  t.equal((await api.request('DELETE', `/api/v6/webhooks/${id}`, { token })).status, 204);
  t.equal((await api.request('GET', `/api/v6/webhooks/${id}`, { token })).status, 404);
});

t.test('after repeated failures a subscription is disabled; enabled again it resumes from the oldest undelivered', async (t) => {
  const { api, token, space, jobs, toggle } = await setup(t);
  const listener = await api.db.owner.connect();
  const notices: any[] = [];
  listener.on('notification', (n) => notices.push({ channel: n.channel, payload: JSON.parse(n.payload!) }));
  await listener.query(`LISTEN ${WEBHOOK_DISABLED_CHANNEL}`);
  t.teardown(() => listener.release());
  // On the live stream: the owner (an admin) is told, a viewer is not.
  const viewerEmail = 'viewer@acme.example';
  const added = await api.request('POST', '/api/v6/users', { token, json: { email: viewerEmail, password: 'correct horse battery', username: 'viewer', role: 'viewer' } });
  t.equal(added.status, 201);
  const viewerToken = (await api.request('POST', '/api/auth/login', { json: { email: viewerEmail, password: 'correct horse battery' } })).body.access_token as string;
  const adminStream = await sseConnect(api.url, '/api/v6/events', { token });
  const viewerStream = await sseConnect(api.url, '/api/v6/events', { token: viewerToken });
  t.teardown(() => { adminStream.close(); viewerStream.close(); });
  t.equal(adminStream.status, 200);
  t.equal(viewerStream.status, 200);
  const rx = await webhookReceiver(t, [503]);
  const created = await api.request('POST', '/api/v6/webhooks', { token, json: { url: rx.url, events: ['space_state'] } });
  const id = created.body.id as string;
  await toggle('occupied');
  await waitFor(async () => (await api.request('GET', `/api/v6/webhooks/${id}`, { token })).body.enabled === false, 15_000, 'disabled');
  const sub = (await api.request('GET', `/api/v6/webhooks/${id}`, { token })).body;
  t.match(sub, { enabled: false, consecutive_failures: 3, disabled_reason: /3 consecutive failed deliveries; last: HTTP 503/ });
  t.ok(sub.disabled_at);
  t.equal(rx.got.length, 3, 'no attempt after the threshold');
  await waitFor(() => notices.length === 1, 5_000, 'disabled NOTIFY');
  t.same(notices, [{ channel: WEBHOOK_DISABLED_CHANNEL, payload: { tenant_id: space.tenant_id, subscription_id: id, reason: sub.disabled_reason, at: sub.disabled_at } }], 'the disabling is announced');
  await waitFor(() => adminStream.messages.some((m) => m.event === 'webhook_disabled'), 10_000, 'webhook_disabled on the live stream');
  const alert = adminStream.messages.find((m) => m.event === 'webhook_disabled')!;
  t.same(alert.json, { subscription_id: id, reason: sub.disabled_reason, at: sub.disabled_at }, 'the admin is told which, why and when');
  // The space event and the alert race (a read of space_events against a NOTIFY): either may come first.
  const before = adminStream.messages.slice(0, adminStream.messages.indexOf(alert));
  t.equal(alert.id, before.at(-1)?.id ?? null, 'it carries no id of its own: Last-Event-ID stays that of the last space event');

  await toggle('free'); // happens while disabled
  // The stream is ordered: once the viewer has this later event, the alert would have come before it.
  await waitFor(() => viewerStream.messages.some((m) => m.json?.to === 'free'), 10_000, 'the viewer gets the next space event');
  t.notOk(viewerStream.messages.some((m) => m.event === 'webhook_disabled'), 'a viewer is not told');
  await jobs.runOnce('deliver_webhooks');
  t.equal(rx.got.length, 3, 'nothing sent while disabled');
  // In production the head waits out the schedule's last step (6 h) when it is disabled;
  // enabling must not leave it waiting that long (regression: it did).
  await api.db.owner.query(`UPDATE webhook_deliveries SET next_attempt_at = now() + interval '6 hours' WHERE status = 'pending'`);

  rx.plan.splice(0, rx.plan.length, 200);
  const enabled = await api.request('PUT', `/api/v6/webhooks/${id}`, { token, json: { url: rx.url, events: ['space_state'], enabled: true } });
  t.match(enabled.body, { enabled: true, consecutive_failures: 0, disabled_reason: null, disabled_at: null });
  await jobs.runOnce('deliver_webhooks');
  const ok = rx.got.filter((g) => g.status === 200).map((g) => g.body.data.to);
  t.same(ok, ['occupied', 'free'], 'the undelivered event first, then the one from while disabled');
});

/**
 * A receiver that holds every answer until the test releases it, so a send stays under way
 * for exactly as long as a test needs. Records each delivery id it was sent.
 */
async function heldReceiver(t: Test) {
  const got: string[] = [];
  const held: (() => void)[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      got.push(req.headers['x-baygate-delivery'] as string);
      held.push(() => res.writeHead(200).end());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return {
    got,
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/held`,
    /** Answers every request received so far, and every later one at once. */
    release() {
      for (const answer of held.splice(0)) answer();
      held.push = ((answer: () => void) => (answer(), 0)) as typeof held.push;
    },
  };
}

t.test('disabling a subscription takes effect between two sends, not after the whole run', async (t) => {
  const { api, token, jobs, toggle } = await setup(t);
  const rx = await heldReceiver(t);
  // Three events queued while disabled, so one run finds them all.
  const created = await api.request('POST', '/api/v6/webhooks', { token, json: { url: rx.url, events: ['space_state'], enabled: false } });
  await toggle('occupied');
  await toggle('free');
  await toggle('occupied');
  t.equal((await api.request('PUT', `/api/v6/webhooks/${created.body.id}`, { token, json: { url: rx.url, events: ['space_state'], enabled: true } })).status, 200);
  const run = jobs.runOnce('deliver_webhooks');
  await waitFor(() => rx.got.length === 1, 15_000, 'the first send under way');
  // The send is still unanswered: the PUT must not wait for it.
  const off = await api.request('PUT', `/api/v6/webhooks/${created.body.id}`, { token, json: { url: rx.url, events: ['space_state'], enabled: false } });
  t.equal(off.status, 200, 'the PUT commits while a send is under way');
  const head = await api.db.owner.query<{ attempts: number }>(`SELECT attempts FROM webhook_deliveries WHERE id = $1`, [rx.got[0]]);
  t.same(head.rows, [{ attempts: 0 }], 'the send under way is still unanswered: the PUT did not wait it out');
  rx.release();
  await run;
  t.equal(rx.got.length, 1, 'no send after the subscription was disabled');
});

t.test('two workers never send for one subscription at once', async (t) => {
  const { api, token, toggle } = await setup(t);
  const rx = await heldReceiver(t);
  const created = await api.request('POST', '/api/v6/webhooks', { token, json: { url: rx.url, events: ['space_state'], enabled: false } });
  await toggle('occupied');
  await toggle('free');
  t.equal((await api.request('PUT', `/api/v6/webhooks/${created.body.id}`, { token, json: { url: rx.url, events: ['space_state'], enabled: true } })).status, 200);
  const worker = () =>
    deliverWebhooks({ pool: api.db.ingest, log: createLogger('silent'), timeoutMs: 10_000, allowPrivate: true, retryScheduleSeconds: [0], disableAfterFailures: 3 });
  // The first send may come from this worker or from the jobs setup() started (a NOTIFY
  // wakes them): either way one worker's send is now under way and unanswered.
  const first = worker();
  await waitFor(() => rx.got.length === 1, 15_000, 'a worker is sending');
  // Another replica's run meanwhile must skip the subscription.
  const second = await worker();
  t.equal(second.delivered, 0, 'the second worker sent nothing');
  t.equal(rx.got.length, 1, 'one request in flight');
  rx.release();
  await first;
  await waitFor(() => rx.got.length >= 2, 15_000, 'the second delivery sent');
  // Whatever might still be pending is sent now, by this run.
  await worker();
  const ids = (await api.request('GET', `/api/v6/webhooks/${created.body.id}/deliveries`, { token })).body.items.map((d: { id: string }) => d.id);
  t.equal(rx.got.length, 2, 'two requests in all');
  t.same([...rx.got].sort(), [...ids].sort(), 'each delivery sent once');
});

t.test('only the subscribed event types of the subscribed sites are delivered, each with its type', async (t) => {
  const { api, token, space } = await setup(t);
  const rx = await webhookReceiver(t, [200]);
  const otherSite = (await api.request('POST', '/api/v6/sites', { token, json: { name: 'Elsewhere', timezone: 'UTC' } })).body.id as string;
  const away = (await api.request('POST', '/api/v6/spaces', { token, json: { code: 'X-1', site_id: otherSite } })).body;
  t.equal(away.site_id, otherSite);
  const created = await api.request('POST', '/api/v6/webhooks', {
    token, json: { url: rx.url, events: ['device_health', 'overstay', 'reservation'], site_ids: [space.site_id] },
  });
  t.equal(created.status, 201);
  // One event of each cause family, as the producers write them (ingest, device_health, overstay, the state machine), on both sites.
  const ev = (sp: { id: string; site_id: string }, from: string, to: string, cause: string) =>
    ({ spaceId: sp.id, siteId: sp.site_id, from: from as 'free', to: to as 'free', cause, deviceId: null, reservationId: null, at: new Date() });
  await withTx(api.db.ingest, { tenantId: space.tenant_id }, (c) =>
    appendSpaceEvents(c, space.tenant_id, [
      ev(space, 'unknown', 'occupied', 'sensor_status'),
      ev(space, 'occupied', 'unknown', 'comms_lost'),
      ev(away, 'unknown', 'unknown', 'comms_lost'),
      ev(space, 'unknown', 'occupied', 'comms_restored'),
      ev(space, 'occupied', 'occupied', 'overstay'),
      ev(away, 'occupied', 'occupied', 'overstay'),
      ev(space, 'occupied', 'reserved', 'reservation_start'),
      ev(space, 'reserved', 'occupied', 'check_in'),
    ]),
  );
  // Done when the cursor has passed every event and nothing is pending.
  const settled = async () => (await api.db.owner.query(
    `SELECT s.last_event_id = (SELECT max(id) FROM space_events) AND NOT EXISTS
            (SELECT 1 FROM webhook_deliveries d WHERE d.subscription_id = s.id AND d.status = 'pending') AS done
       FROM webhook_subscriptions s WHERE s.id = $1`, [created.body.id])).rows[0].done === true;
  await waitFor(settled, 15_000, 'every event fanned out and delivered');
  t.same(
    rx.got.map((g) => [g.headers['x-baygate-event'], g.body.type, g.body.data.cause, g.body.data.site_id]),
    [
      ['device_health', 'device_health', 'comms_lost', space.site_id],
      ['device_health', 'device_health', 'comms_restored', space.site_id],
      ['overstay', 'overstay', 'overstay', space.site_id],
      ['reservation', 'reservation', 'reservation_start', space.site_id],
      ['reservation', 'reservation', 'check_in', space.site_id],
    ],
    'no space_state, nothing from the other site, in event order',
  );
});

t.test('one send: the timeout, no redirects, and the address connected to is the one checked', async (t) => {
  const message = { id: crypto.randomUUID(), type: 'ping', created_at: new Date().toISOString(), data: {} };
  const secret = 'whsec_0123456789abcdef0123456789abcdef';
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url!);
    if (req.url === '/silent') return; // never answers
    res.writeHead(302, { location: 'http://169.254.169.254/' }).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const port = (server.address() as { port: number }).port;

  const slow = await sendWebhook({ url: `http://127.0.0.1:${port}/silent`, secret, message, timeoutMs: 300, allowPrivate: true });
  t.same(slow, { ok: false, status: null, error: 'no answer within 300 ms' });
  const moved = await sendWebhook({ url: `http://127.0.0.1:${port}/moved`, secret, message, timeoutMs: 2_000, allowPrivate: true });
  t.same(moved, { ok: false, status: 302, error: 'HTTP 302' }, 'a redirect is a failure, not followed');
  t.same(hits, ['/silent', '/moved']);

  // DNS rebinding: the name resolves to a public address when checked, to loopback when connected.
  let lookups = 0;
  const rebinding = async () => (lookups++ === 0 ? [{ address: '93.184.216.34', family: 4 }] : [{ address: '127.0.0.1', family: 4 }]);
  const rebound = await sendWebhook({ url: `http://rebind.example:${port}/rebound`, secret, message, timeoutMs: 2_000, allowPrivate: false, resolve: rebinding });
  t.match(rebound, { ok: false, status: null, error: /loopback, link-local or private/ });
  t.equal(lookups, 2, 'checked, then resolved again by the connecting socket');
  t.same(hits, ['/silent', '/moved'], 'the receiver on loopback got nothing');
});

t.test('SSRF: URLs into loopback, link-local or private networks are refused', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  for (const url of [
    'http://127.0.0.1/hook', 'http://localhost:8080/hook', 'http://10.1.2.3/', 'http://192.168.0.10/', 'http://172.16.5.4/',
    'http://169.254.169.254/latest/meta-data/', 'http://[::1]/', 'http://[fe80::1]/', 'http://[::ffff:127.0.0.1]/', 'http://0.0.0.0/',
    'ftp://93.184.216.34/', 'file:///etc/passwd', 'not a url',
  ]) {
    const r = await api.request('POST', '/api/v6/webhooks', { token, json: { url, events: ['space_state'] } });
    t.equal(r.status, 400, url);
    t.equal(r.body.error.code, 'validation_error');
  }
  const pub = await api.request('POST', '/api/v6/webhooks', { token, json: { url: 'https://93.184.216.34/hook', events: ['overstay'] } });
  t.equal(pub.status, 201, 'a public address is accepted');
  const put = await api.request('PUT', `/api/v6/webhooks/${pub.body.id}`, { token, json: { url: 'http://127.0.0.1/', events: ['overstay'] } });
  t.equal(put.status, 400, 'nor can an existing one be pointed inside');
  t.equal(Number((await api.db.owner.query('SELECT count(*) AS n FROM webhook_subscriptions')).rows[0].n), 1, 'only the public one stored');
});
