// Display signs end to end: a sensor uplink changes a space, ingest publishes a ChirpStack
// command/down for the space's display on a real broker, and txack/ack/log events published
// back (as ChirpStack would) are applied to the downlink by its queue item id.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { planDisplayDownlinks } from '../../ingest/displays.js';
import { createLogger } from '../../src/log.js';
import { testApi, testConfig } from '../helpers/api.js';
import { testIngest } from '../helpers/ingest.js';
import { waitFor } from '../helpers/wait.js';

const OCCUPIED = Buffer.from([0x01]); // nwave-nps405 fPort 1: bit 0 = occupied
const APP = '6c0a2b8e-2c4a-4d2e-9a51-0f6c7e3d1a11';
const PASSWORD = 'correct horse battery';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Command {
  topic: string;
  body: { id: string; devEui: string; confirmed: boolean; fPort: number; data: string; expiresAt: string };
}

t.test('display downlinks', async (t) => {
  const api = await testApi(t);
  const owner = await api.register('acme');
  const token = owner.token;
  // The broker's per-file prefix keeps this file's commands apart on a shared external
  // broker, and is what the embedded broker's ACL allows (test/helpers/mqtt.ts commandTemplate).
  const ingest = await testIngest(t, api.db);
  const prefix = `bgt-${ingest.broker.id}`;
  const jobs = ingest.ingest.jobs;

  // Plays ChirpStack's side: subscribes to the command topic as ChirpStack does (+ wildcards).
  const commands: Command[] = [];
  const sub = await mqtt.connectAsync(ingest.broker.chirpstackUrl, { clientId: `bgt-cs-${randomBytes(4).toString('hex')}` });
  t.teardown(() => sub.endAsync());
  sub.on('message', (topic, payload) => commands.push({ topic, body: JSON.parse(payload.toString()) }));
  await sub.subscribeAsync(`${prefix}/application/+/device/+/command/+`, { qos: 1 });
  const commandsFor = (devEui: string) => commands.filter((c) => c.body.devEui === devEui.toLowerCase());

  const deviceInfo = (devEui: string) => ({ applicationId: APP, devEui: devEui.toLowerCase(), deviceName: 'display', tags: {} });
  const chirpstack = {
    txack: (devEui: string, queueItemId: string) =>
      ingest.raw(devEui, 'txack', JSON.stringify({ downlinkId: 123, time: new Date().toISOString(), deviceInfo: deviceInfo(devEui), queueItemId, fCntDown: 7, gatewayId: '0016c001f153a14c' }), APP),
    ack: (devEui: string, queueItemId: string, acknowledged: boolean) =>
      ingest.raw(devEui, 'ack', JSON.stringify({ deduplicationId: crypto.randomUUID(), time: new Date().toISOString(), deviceInfo: deviceInfo(devEui), queueItemId, acknowledged, fCntDown: 7 }), APP),
  };
  const downlinks = async (deviceId: string) => {
    const r = await api.request('GET', `/api/v6/devices/${deviceId}/downlinks`, { token });
    t.equal(r.status, 200);
    return r.body.items as any[];
  };
  /** Makes the open downlink's outcome overdue, as if DISPLAY_ACK_TIMEOUT_SECONDS had passed (judged on database time). */
  const overdue = (deviceId: string) =>
    api.db.owner.query(`UPDATE display_downlinks SET next_attempt_at = now() - interval '1 second' WHERE device_id = $1 AND status IN ('published', 'transmitted')`, [deviceId]);

  const register = async (json: object) => {
    const r = await api.request('POST', '/api/v6/devices', { token, json });
    t.equal(r.status, 201);
    return r.body;
  };
  const newSpace = async (code: string) => (await api.request('POST', '/api/v6/spaces', { token, json: { code } })).body;
  const assign = async (deviceId: string, spaceId: string) => {
    const r = await api.request('POST', `/api/v6/devices/${deviceId}/assign`, { token, json: { space_id: spaceId } });
    t.equal(r.status, 200);
  };

  /** A generic display on a new space, once its first state is published. */
  const displayToldItsSpace = async (code: string, eui: string) => {
    const space = await newSpace(code);
    const display = await register({ dev_eui: eui, device_type: 'display', config: { application_id: APP, display_encoding: 'generic' } });
    await assign(display.id, space.id);
    await jobs.runOnce('display_downlinks');
    await waitFor(async () => (await downlinks(display.id))[0]?.status === 'published', 10_000, `${code}: first state published`);
    return { display, space };
  };

  const space = await newSpace('A-1');
  const sensorEui = '70B3D5E75E0000A1';
  const busylightEui = '2020203705250102';
  const sensor = await register({ dev_eui: sensorEui, device_type: 'sensor', decoder: 'nwave-nps405' });
  // The display has sent no uplink yet: its ChirpStack application comes from its config.
  const busylight = await register({ dev_eui: busylightEui, device_type: 'display', model: 'Kuando Busylight IoT Omega', config: { application_id: APP } });
  await assign(sensor.id, space.id);
  await assign(busylight.id, space.id);

  await t.test('assigning a display sets the space display_device_id; the sign is told the space is unknown', async (t) => {
    const s = await api.request('GET', `/api/v6/spaces/${space.id}`, { token });
    t.equal(s.body.display_device_id, busylight.id);
    // Assignment makes no space event: the reconciliation job (or the sender's poll) tells the new sign.
    await jobs.runOnce('display_downlinks');
    await waitFor(() => commandsFor(busylightEui).length === 1, 10_000, 'first command');
    // Unknown: blinking white, Kuando layout [r, b, g, on, off] on fPort 15.
    t.match(commandsFor(busylightEui)[0]!.body, { devEui: busylightEui.toLowerCase(), confirmed: true, fPort: 15, data: Buffer.from('ffffff0a0a', 'hex').toString('base64') });
  });

  await t.test('a sensor uplink that occupies the space sends the display red, on the right topic', async (t) => {
    await ingest.up({ devEui: sensorEui, fCnt: 1, fPort: 1, data: OCCUPIED, time: new Date() });
    const red = Buffer.from('ff00006400', 'hex').toString('base64'); // steady red, as the Busylight reference's FF00006400
    await waitFor(() => commandsFor(busylightEui).some((c) => c.body.data === red), 10_000, 'red command');
    const cmd = commandsFor(busylightEui).find((c) => c.body.data === red)!;
    t.equal(cmd.topic, `${prefix}/application/${APP}/device/${busylightEui.toLowerCase()}/command/down`, 'application from config, DevEUI lowercase');
    t.match(cmd.body, { id: UUID, devEui: busylightEui.toLowerCase(), confirmed: true, fPort: 15, data: red });
    const s = await api.request('GET', `/api/v6/spaces/${space.id}`, { token });
    t.equal(s.body.display_state, 'occupied');
    await waitFor(async () => (await downlinks(busylight.id))[0]?.status === 'published', 10_000, 'published');
    const [latest, previous] = await downlinks(busylight.id);
    t.match(latest, { display_state: 'occupied', colour: '#ff0000', blink: false, encoding: 'kuando-busylight', f_port: 15, data: red, queue_item_id: cmd.body.id, attempts: 1, status: 'published' });
    t.match(previous, { display_state: 'unknown', status: 'superseded' }, 'the unknown state still on its way was superseded');
  });

  await t.test('txack then ack with the queue item id: transmitted, then acknowledged', async (t) => {
    const red = Buffer.from('ff00006400', 'hex').toString('base64');
    const cmd = commandsFor(busylightEui).find((c) => c.body.data === red)!;
    await chirpstack.txack(busylightEui, cmd.body.id);
    await waitFor(async () => (await downlinks(busylight.id))[0].status === 'transmitted', 10_000, 'transmitted');
    await chirpstack.ack(busylightEui, cmd.body.id, true);
    await waitFor(async () => (await downlinks(busylight.id))[0].status === 'acknowledged', 10_000, 'acknowledged');
    const [d] = await downlinks(busylight.id);
    t.ok(d.transmitted_at && d.acknowledged_at);
    t.equal(d.last_error, null);
    const before = commandsFor(busylightEui).length;
    const run = await jobs.runOnce('display_downlinks');
    t.match(run.counts, { displays: 1, queued: 0 }, 'an acknowledged state is not sent again');
    t.equal(commandsFor(busylightEui).length, before);
  });

  await t.test('the policy: any member reads it, only admins change it, and a change reaches the sign', async (t) => {
    const viewerEmail = 'viewer@acme.example';
    t.equal((await api.request('POST', '/api/v6/users', { token, json: { email: viewerEmail, password: PASSWORD, username: 'v', role: 'viewer' } })).status, 201);
    const viewer = (await api.request('POST', '/api/auth/login', { json: { email: viewerEmail, password: PASSWORD } })).body.access_token;
    const got = await api.request('GET', '/api/v6/display-policy', { token: viewer });
    t.equal(got.status, 200);
    t.same(got.body.priority, ['maintenance', 'reserved', 'occupied', 'free', 'unknown']);
    t.same(got.body.rules.occupied, { colour: '#ff0000', blink: false });

    const denied = await api.request('PUT', '/api/v6/display-policy', { token: viewer, json: { rules: { occupied: { colour: '#00ffff' } } } });
    t.equal(denied.status, 403);
    t.equal(denied.body.error.code, 'forbidden');
    const bad = await api.request('PUT', '/api/v6/display-policy', { token, json: { rules: { occupied: { colour: 'red' } } } });
    t.equal(bad.status, 400, 'a colour must be #rrggbb');
    const badState = await api.request('PUT', '/api/v6/display-policy', { token, json: { rules: { parked: { colour: '#000000' } } } });
    t.equal(badState.status, 400, 'only display states have rules');

    const put = await api.request('PUT', '/api/v6/display-policy', { token, json: { rules: { occupied: { colour: '#FF00FF', blink: true } } } });
    t.equal(put.status, 200);
    t.same(put.body.rules.occupied, { colour: '#ff00ff', blink: true });
    t.same(put.body.rules.free, { colour: '#00ff00', blink: false }, 'other states keep their defaults');
    t.same((await api.request('GET', '/api/v6/display-policy', { token: viewer })).body.overrides, { occupied: { colour: '#ff00ff', blink: true } });

    await jobs.runOnce('display_downlinks');
    const magenta = Buffer.from('ffff000a0a', 'hex').toString('base64'); // r=ff, b=ff, g=00, blinking
    await waitFor(() => commandsFor(busylightEui).some((c) => c.body.data === magenta), 10_000, 'magenta command');
    t.match((await downlinks(busylight.id))[0], { display_state: 'occupied', colour: '#ff00ff', blink: true });
  });

  await t.test('a log event naming the queue item: a payload ChirpStack can never send fails without retries', async (t) => {
    await waitFor(async () => (await downlinks(busylight.id))[0].status === 'published', 10_000, 'magenta published');
    const id = (await downlinks(busylight.id))[0].queue_item_id;
    const before = commandsFor(busylightEui).length;
    // As chirpstack/src/downlink/data.rs get_next_device_queue_item reports a discarded item.
    await ingest.raw(busylightEui, 'log', JSON.stringify({
      time: new Date().toISOString(), deviceInfo: deviceInfo(busylightEui), level: 'ERROR', code: 'DOWNLINK_PAYLOAD_SIZE',
      description: 'Device queue-item discarded because it exceeds the max. payload size',
      context: { max_payload_size: '3', item_size: '5', queue_item_id: id },
    }), APP);
    await waitFor(async () => (await downlinks(busylight.id))[0].status === 'failed', 10_000, 'failed');
    t.match((await downlinks(busylight.id))[0], { attempts: 1, last_error: /^DOWNLINK_PAYLOAD_SIZE: Device queue-item discarded/ });
    t.equal(commandsFor(busylightEui).length, before, 'not published again');
  });

  await t.test('a display that does not acknowledge is retried, then fails after DISPLAY_MAX_ATTEMPTS (3)', async (t) => {
    const other = await newSpace('B-1');
    const eui = '70B3D5E75E0000D2';
    const display = await register({ dev_eui: eui, device_type: 'display', config: { application_id: APP, display_encoding: 'generic' } });
    await assign(display.id, other.id);
    t.equal((await api.request('PATCH', `/api/v6/spaces/${other.id}`, { token, json: { current_state: 'maintenance' } })).status, 200);
    // The job plans it (and NOTIFYs the sender) whether or not a space event woke the sender first.
    await jobs.runOnce('display_downlinks');
    const blue = Buffer.from([0x00, 0x00, 0xff, 0x00]).toString('base64'); // generic [r, g, b, blink]
    await waitFor(() => commandsFor(eui).some((c) => c.body.data === blue), 10_000, 'maintenance command');
    t.match(commandsFor(eui).at(-1)!.body, { fPort: 10, data: blue, confirmed: true });
    await waitFor(async () => (await downlinks(display.id))[0]?.status === 'published', 10_000, 'published');

    // ChirpStack reports the confirmed downlink timed out (ack, acknowledged=false): sent again at once.
    const first = commandsFor(eui).at(-1)!.body.id;
    await chirpstack.ack(eui, first, false);
    await waitFor(() => commandsFor(eui).filter((c) => c.body.data === blue).length === 2, 10_000, 'second attempt');
    const second = commandsFor(eui).at(-1)!.body.id;
    t.not(second, first, 'each attempt has its own queue item id');
    await waitFor(async () => (await downlinks(display.id))[0].attempts === 2, 10_000, 'attempt 2 recorded');
    t.match((await downlinks(display.id))[0], { status: 'published', queue_item_id: second, last_error: /not acknowledged/ });

    // No outcome at all within DISPLAY_ACK_TIMEOUT_SECONDS: the job sends it again.
    // (A scheduled tick of the job may do this first; the outcome is the same.)
    await overdue(display.id);
    await jobs.runOnce('display_downlinks');
    await waitFor(() => commandsFor(eui).filter((c) => c.body.data === blue).length === 3, 10_000, 'third attempt');
    await waitFor(async () => (await downlinks(display.id))[0].attempts === 3, 10_000, 'attempt 3 recorded');
    // Counted from here: a sender run woken by an earlier subtest's events may have told the
    // display its new space's first state between the assignment and the PATCH.
    const sent = commandsFor(eui).length;

    await overdue(display.id);
    await jobs.runOnce('display_downlinks');
    const [d] = await downlinks(display.id);
    t.match(d, { status: 'failed', attempts: 3, max_attempts: 3, last_error: /no acknowledgement/ });
    t.equal(commandsFor(eui).filter((c) => c.body.data === blue).length, 3, 'three attempts of the maintenance frame');
    t.equal(commandsFor(eui).length, sent, 'nothing after the last attempt');
    const again = await jobs.runOnce('display_downlinks');
    t.match(again.counts, { queued: 0 }, 'a failed state is not re-sent until the space changes');

    // A late ack of an earlier attempt still counts for a downlink on its way; not for a failed one.
    await chirpstack.ack(eui, first, true);
    await waitFor(async () => Number((await api.db.owner.query(`SELECT count(*) AS n FROM device_events WHERE queue_item_id = $1 AND code = 'ACK'`, [first])).rows[0].n) === 1, 10_000, 'ack recorded');
    t.equal((await downlinks(display.id))[0].status, 'failed');
  });

  await t.test('unassigning a display supersedes its downlink on the way: no retries for a space it left', async (t) => {
    const eui = '70B3D5E75E0000D3';
    const { display } = await displayToldItsSpace('C-1', eui);
    t.equal((await api.request('POST', `/api/v6/devices/${display.id}/unassign`, { token, json: {} })).status, 200);
    t.match((await downlinks(display.id))[0], { status: 'superseded', last_error: /moved or unassigned/ });
    const sent = commandsFor(eui).length;
    await overdue(display.id);
    await jobs.runOnce('display_downlinks');
    t.equal(commandsFor(eui).length, sent, 'nothing more is sent to it');
  });

  await t.test('a planner decides on the facts it reads at its turn, not on those it found the display by', async (t) => {
    const { display, space: bay } = await displayToldItsSpace('E-1', '70B3D5E75E0000D4');
    const told = (await downlinks(display.id))[0];

    // Another planner has the display's turn (ingest/displays.ts planDisplayDownlinks).
    const holder = await api.db.owner.connect();
    t.teardown(() => holder.release());
    await holder.query('BEGIN');
    await holder.query(`SELECT pg_advisory_xact_lock(hashtext('baygate:display_plan:' || $1::text))`, [display.id]);
    const patch = (json: object) => api.request('PATCH', `/api/v6/spaces/${bay.id}`, { token, json });
    t.equal((await patch({ current_state: 'maintenance' })).status, 200);
    // A planner on its own pool, so its wait can be told from the ingest sender's: it finds the
    // display changed (maintenance) and waits for its turn.
    const config = testConfig({ CHIRPSTACK_COMMAND_TOPIC: `${prefix}/application/{application_id}/device/{dev_eui}/command/{command}` });
    const planning = planDisplayDownlinks({ pool: api.db.ingest, log: createLogger('error', 'test-planner'), config });
    let settled = false;
    void planning.finally(() => (settled = true));
    await waitFor(async () => {
      if (settled) return true; // it did not wait: the assertions below say what it did instead
      const r = await api.db.owner.query(
        `SELECT count(*) AS n FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'baygate-test-ingest' AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
      );
      return Number(r.rows[0].n) === 1;
    }, 10_000, 'the planner waiting for its turn');
    // Maintenance ends while it waits: what the sign was told is true again.
    t.equal((await patch({ current_state: 'free' })).status, 200);
    await holder.query('COMMIT');

    t.match(await planning, { queued: 0, failed: 0 }, 'nothing queued on the facts it first read');
    t.match((await downlinks(display.id))[0], { id: told.id, data: told.data, status: 'published' }, 'the sign keeps the state it was told');
  });

  await t.test('expiresAt is the ack timeout from the publish; EXPIRED retries the attempt on its way, never a superseded state', async (t) => {
    const eui = '70B3D5E75E0000D5';
    const before = Date.now();
    const { display, space: bay } = await displayToldItsSpace('F-1', eui);
    const first = commandsFor(eui).at(-1)!.body;
    const told = (await downlinks(display.id))[0];
    t.match(told, { queue_item_id: first.id, expires_at: first.expiresAt, sent_via: 'mqtt' }, 'the row keeps the expiresAt it was sent with');
    const ahead = new Date(first.expiresAt).getTime() - before;
    t.ok(ahead >= 600_000 && ahead < 630_000, `expiresAt is DISPLAY_ACK_TIMEOUT_SECONDS (600) from the publish (${ahead} ms)`);
    // As chirpstack/src/downlink/data.rs reports an item not sent by its expires_at.
    const expired = (queueItemId: string) => ingest.raw(eui, 'log', JSON.stringify({
      time: new Date().toISOString(), deviceInfo: deviceInfo(eui), level: 'ERROR', code: 'EXPIRED',
      description: 'Device queue-item discarded because it has expired', context: { queue_item_id: queueItemId },
    }), APP);

    const sent = commandsFor(eui).length;
    await expired(first.id);
    await waitFor(() => commandsFor(eui).length === sent + 1, 10_000, 'sent again');
    const second = commandsFor(eui).at(-1)!.body;
    t.not(second.id, first.id, 'under a new queue item id');
    t.equal(second.data, first.data, 'the same state: it is still the one the sign should show');
    t.ok(second.expiresAt > first.expiresAt, 'with a new expiresAt');
    await waitFor(async () => (await downlinks(display.id))[0].attempts === 2, 10_000, 'attempt 2 recorded');
    t.match((await downlinks(display.id))[0], { id: told.id, status: 'published', queue_item_id: second.id, last_error: /^EXPIRED: / });

    // A newer state supersedes it; ChirpStack's EXPIRED for the superseded attempt brings nothing back.
    t.equal((await api.request('PATCH', `/api/v6/spaces/${bay.id}`, { token, json: { current_state: 'maintenance' } })).status, 200);
    await jobs.runOnce('display_downlinks');
    const blue = Buffer.from([0x00, 0x00, 0xff, 0x00]).toString('base64');
    await waitFor(() => commandsFor(eui).some((c) => c.body.data === blue), 10_000, 'maintenance command');
    await waitFor(async () => (await downlinks(display.id))[0]?.status === 'published', 10_000, 'maintenance published');
    const after = commandsFor(eui).length;
    await expired(second.id);
    await waitFor(async () => Number((await api.db.owner.query(`SELECT count(*) AS n FROM device_events WHERE code = 'EXPIRED' AND data -> 'context' ->> 'queue_item_id' = $1`, [second.id])).rows[0].n) === 1, 10_000, 'EXPIRED recorded');
    const [now, old] = await downlinks(display.id);
    t.match(old, { id: told.id, status: 'superseded' });
    t.match(now, { display_state: 'maintenance', status: 'published', attempts: 1 });
    await jobs.runOnce('display_downlinks');
    t.equal(commandsFor(eui).length, after, 'nothing sent for the superseded state');
  });

  await t.test('downlinks of an unknown device: 404', async (t) => {
    const r = await api.request('GET', `/api/v6/devices/${crypto.randomUUID()}/downlinks`, { token });
    t.equal(r.status, 404);
  });
});
