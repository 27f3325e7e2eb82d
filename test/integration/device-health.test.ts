// device_health with a controllable clock: silent sensors go offline and their spaces
// unknown (comms_lost), the next uplink restores them (comms_restored), a gateway outage
// yields one gateway_offline event instead of one per sensor, low batteries are flagged.
import t from 'tap';
import { testApi } from '../helpers/api.js';
import { testIngest } from '../helpers/ingest.js';
import { waitFor } from '../helpers/wait.js';
import { startJobs, JOB_NAMES, type JobName } from '../../ingest/jobs/index.js';
import { createLogger } from '../../src/log.js';
import { statusEvent } from '../../src/simulator/events.js';

const log = createLogger(process.env.LOG_LEVEL ?? 'silent', 'test-health');
const NEVER = '0 0 0 1 1 *';
const quiet = Object.fromEntries(JOB_NAMES.map((n) => [n, NEVER])) as Record<JobName, string>;
const OCCUPIED = Buffer.from([0x01]); // nwave-nps405 fPort 1: bit 0 = occupied
const FREE = Buffer.from([0x00]);
const MIN = 60_000;

const GW_UP = 'aa555a00000000a1';
const GW_DOWN = 'aa555a00000000b2';

t.test('device_health: offline, restoration, gateway-offline suppression, low battery', async (t) => {
  const api = await testApi(t, { GATEWAY_OFFLINE_MINUTES: '10' });
  const { token } = await api.register('acme');
  const ingest = await testIngest(t, api.db);
  const db = api.db;
  let clock = new Date();
  const jobs = startJobs({ pool: db.ingest, log, config: api.config, schedules: quiet, reservationTimer: false, now: () => clock });
  t.teardown(() => jobs.stop());

  const base = Date.now();
  const ago = (minutes: number) => new Date(base - minutes * MIN);
  /** A sensor expecting a heartbeat every 10 minutes (offline after 15), assigned to a new space. */
  const sensor = async (n: number) => {
    const space = (await api.request('POST', '/api/v6/spaces', { token, json: { code: `S-${n}` } })).body;
    const devEui = `70B3D5E75E00C0${String(n).padStart(2, '0')}`;
    const dev = (await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: devEui, device_type: 'sensor', decoder: 'nwave-nps405', config: { heartbeat_minutes: 10 } } })).body;
    await api.request('POST', `/api/v6/devices/${dev.id}/assign`, { token, json: { space_id: space.id } });
    return { space, dev, devEui };
  };
  const device = async (id: string) => (await db.owner.query('SELECT status, low_battery, battery FROM devices WHERE id = $1', [id])).rows[0];
  const spaceState = async (id: string) => (await db.owner.query('SELECT current_state, sensor_state FROM spaces WHERE id = $1', [id])).rows[0].current_state;
  const causes = async (spaceId: string) =>
    (await db.owner.query('SELECT cause, to_state FROM space_events WHERE space_id = $1 ORDER BY id', [spaceId])).rows.map((r) => `${r.cause}:${r.to_state}`);

  // s1 is heard 20 minutes ago through a gateway that is still up (s2 keeps it up).
  const s1 = await sensor(1);
  const s2 = await sensor(2);
  // s3 and s4 are heard only through a gateway silent for 20 minutes.
  const s3 = await sensor(3);
  const s4 = await sensor(4);
  await ingest.up({ devEui: s1.devEui, fCnt: 1, fPort: 1, data: OCCUPIED, time: ago(20), gatewayId: GW_UP });
  await ingest.up({ devEui: s2.devEui, fCnt: 1, fPort: 1, data: OCCUPIED, time: ago(1), gatewayId: GW_UP });
  await ingest.up({ devEui: s3.devEui, fCnt: 1, fPort: 1, data: OCCUPIED, time: ago(20), gatewayId: GW_DOWN });
  await ingest.up({ devEui: s4.devEui, fCnt: 1, fPort: 1, data: OCCUPIED, time: ago(21), gatewayId: GW_DOWN });
  await waitFor(async () => (await db.owner.query(`SELECT count(*)::int AS n FROM devices WHERE lifecycle_state = 'operational'`)).rows[0].n === 4, 10_000, 'four operational');

  await t.test('before the deadline nothing changes', async (t) => {
    clock = new Date(base - 10 * MIN); // s1 silent 10 minutes: within 1.5 × 10
    const run = await jobs.runOnce('device_health');
    t.match(run, { status: 'succeeded', counts: { offline: 0, comms_lost: 0, gateway_offline_events: 0 } });
    t.equal((await device(s1.dev.id)).status, 'assigned');
  });

  await t.test('past 1.5 heartbeats: offline, space unknown, one comms_lost event', async (t) => {
    clock = new Date(base);
    const run = await jobs.runOnce('device_health');
    t.match(run, { status: 'succeeded', counts: { offline: 3, comms_lost: 1, gateway_suppressed: 2, gateway_offline_events: 1 } });
    t.equal((await device(s1.dev.id)).status, 'offline');
    t.equal(await spaceState(s1.space.id), 'unknown');
    t.same(await causes(s1.space.id), ['sensor_status:occupied', 'comms_lost:unknown']);
    const ev = await db.owner.query(`SELECT device_id FROM space_events WHERE cause = 'comms_lost'`);
    t.same(ev.rows, [{ device_id: s1.dev.id }], 'the event names the sensor');
    t.equal((await device(s2.dev.id)).status, 'assigned', 'a sensor heard a minute ago stays');
    const api1 = await api.request('GET', `/api/v6/devices?status=offline`, { token });
    t.equal(api1.body.total, 3, 'the API lists the offline sensors');
  });

  await t.test('a gateway outage: one gateway_offline event, no per-sensor events', async (t) => {
    t.equal((await device(s3.dev.id)).status, 'offline');
    t.equal((await device(s4.dev.id)).status, 'offline');
    t.equal(await spaceState(s3.space.id), 'occupied', 'their spaces are left as they were');
    t.same(await causes(s3.space.id), ['sensor_status:occupied']);
    t.same(await causes(s4.space.id), ['sensor_status:occupied']);
    const events = await db.owner.query(`SELECT g.gateway_eui, e.kind, e.device_count FROM gateway_events e JOIN gateways g ON g.id = e.gateway_id`);
    t.same(events.rows, [{ gateway_eui: GW_DOWN.toUpperCase(), kind: 'gateway_offline', device_count: 2 }]);
    const gw = (await api.request('GET', '/api/v6/gateways?status=offline', { token })).body.items.find((g: any) => g.gateway_eui === GW_DOWN.toUpperCase());
    const listed = await api.request('GET', `/api/v6/gateways/${gw.id}/events`, { token });
    t.equal(listed.status, 200);
    t.match(listed.body.items, [{ gateway_id: gw.id, kind: 'gateway_offline', device_count: 2, since: String, at: String }], 'the outage is listed on the gateway');
    t.equal(listed.body.items.length, 1);
    clock = new Date(base + MIN);
    const again = await jobs.runOnce('device_health');
    t.match(again, { counts: { offline: 0, comms_lost: 0, gateway_offline_events: 0 } }, 'a second run adds nothing');
    t.equal((await db.owner.query('SELECT count(*)::int AS n FROM gateway_events')).rows[0].n, 1);
  });

  await t.test('the next uplink restores the state with comms_restored', async (t) => {
    await ingest.up({ devEui: s1.devEui, fCnt: 2, fPort: 1, data: FREE, time: new Date(), gatewayId: GW_UP });
    await waitFor(async () => (await spaceState(s1.space.id)) === 'free', 10_000, 's1 free');
    t.equal((await device(s1.dev.id)).status, 'assigned');
    t.same(await causes(s1.space.id), ['sensor_status:occupied', 'comms_lost:unknown', 'comms_restored:free']);
    await ingest.up({ devEui: s1.devEui, fCnt: 3, fPort: 1, data: OCCUPIED, time: new Date(), gatewayId: GW_UP });
    await waitFor(async () => (await spaceState(s1.space.id)) === 'occupied', 10_000, 's1 occupied');
    t.equal((await causes(s1.space.id)).at(-1), 'sensor_status:occupied', 'later changes have their own cause');

    await ingest.up({ devEui: s3.devEui, fCnt: 2, fPort: 1, data: OCCUPIED, time: new Date(), gatewayId: GW_DOWN });
    await waitFor(async () => (await device(s3.dev.id)).status === 'assigned', 10_000, 's3 back');
    t.equal(await spaceState(s3.space.id), 'occupied');
    const feed = await api.request('GET', `/api/v6/gateways?status=online`, { token });
    t.ok(feed.body.items.some((g: any) => g.gateway_eui === GW_DOWN.toUpperCase()), 'the gateway is online again');
  });

  await t.test('low battery below the decoder threshold is flagged', async (t) => {
    await ingest.raw(s2.devEui, 'status', JSON.stringify(statusEvent({ devEui: s2.devEui, batteryLevel: 12 })));
    await ingest.raw(s4.devEui, 'status', JSON.stringify(statusEvent({ devEui: s4.devEui, batteryLevel: 55 })));
    await waitFor(async () => (await device(s2.dev.id)).battery === 12 && (await device(s4.dev.id)).battery === 55, 10_000, 'batteries');
    const run = await jobs.runOnce('device_health');
    t.match(run, { counts: { low_battery: 1 } });
    t.equal((await device(s2.dev.id)).low_battery, true, '12% < nwave-nps405 threshold 20%');
    t.equal((await device(s4.dev.id)).low_battery, false);
    const d = await api.request('GET', `/api/v6/devices/${s2.dev.id}`, { token });
    t.equal(d.body.low_battery, true, 'shown on the device');
  });
});
