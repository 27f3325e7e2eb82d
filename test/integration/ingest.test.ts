// Ingest end to end: ChirpStack events published on a real broker → decoded occupancy →
// space state machine in Postgres → readings, events, NOTIFY.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { testApi } from '../helpers/api.js';
import { testIngest } from '../helpers/ingest.js';
import { waitFor } from '../helpers/wait.js';
import { SPACE_EVENTS_CHANNEL } from '../../src/events.js';

const OCCUPIED = Buffer.from([0x01]); // nwave-nps405 fPort 1: bit 0 = occupied
const FREE = Buffer.from([0x00]);
const STARTUP = Buffer.from('0204090200', 'hex'); // nps405-codec.yaml "Startup" example

t.test('ingest end to end', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const ingest = await testIngest(t, api.db);
  const db = api.db;

  const space = (await api.request('POST', '/api/v6/spaces', { token, json: { code: 'A-1' } })).body;
  t.equal(space.current_state, 'unknown');
  const devEui = '70B3D5E75E000001';
  const device = await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: devEui.toLowerCase(), device_type: 'sensor', decoder: 'nwave-nps405' } });
  t.equal(device.status, 201);
  t.equal(device.body.dev_eui, devEui, 'stored and shown uppercase');
  const assigned = await api.request('POST', `/api/v6/devices/${device.body.id}/assign`, { token, json: { space_id: space.id } });
  t.equal(assigned.status, 200);
  t.equal(assigned.body.lifecycle_state, 'commissioned');

  const listener = await db.owner.connect();
  const notices: any[] = [];
  listener.on('notification', (n) => notices.push(JSON.parse(n.payload!)));
  await listener.query(`LISTEN ${SPACE_EVENTS_CHANNEL}`);
  t.teardown(() => listener.release());

  const spaceState = async () => (await db.owner.query('SELECT current_state, sensor_state FROM spaces WHERE id = $1', [space.id])).rows[0];
  const count = async (sql: string, params: unknown[] = []) => Number((await db.owner.query(sql, params)).rows[0].n);
  const t0 = Date.now() - 3_600_000;
  const at = (s: number) => new Date(t0 + s * 1000);

  await t.test('a status frame sets occupancy, with reading, event and NOTIFY', async (t) => {
    await ingest.up({ devEui, fCnt: 1, fPort: 1, data: OCCUPIED, time: at(1), rssi: -71, snr: 9 });
    await waitFor(async () => (await spaceState()).current_state === 'occupied', 10_000, 'occupied');
    await waitFor(() => notices.length === 1, 5_000, 'notify');
    t.match(notices[0], { tenant_id: space.tenant_id, space_id: space.id, to: 'occupied', id: Number });
    const ev = await db.owner.query('SELECT from_state, to_state, cause, device_id FROM space_events WHERE space_id = $1', [space.id]);
    t.same(ev.rows, [{ from_state: 'unknown', to_state: 'occupied', cause: 'sensor_status', device_id: device.body.id }]);
    const reading = (await db.owner.query('SELECT f_cnt, f_port, kind, occupied, rssi, snr, raw, gateway_eui FROM sensor_readings')).rows;
    t.match(reading, [{ f_cnt: 1, f_port: 1, kind: 'status', occupied: true, rssi: -71, gateway_eui: '0016C001F153A14C' }]);
    const d = await api.request('GET', `/api/v6/devices/${device.body.id}`, { token });
    t.match(d.body, { uplink_count: 1, rssi: -71, last_gateway_eui: '0016C001F153A14C', lifecycle_state: 'operational' });
    t.ok(d.body.last_seen_at);
    t.equal(await count('SELECT count(*) AS n FROM gateways WHERE tenant_id = $1', [space.tenant_id]), 1, 'the gateway appears for the tenant');
  });

  await t.test('duplicates change nothing twice', async (t) => {
    const dedup = randomUUID();
    await ingest.up({ devEui, fCnt: 2, fPort: 1, data: FREE, time: at(2), deduplicationId: dedup });
    await ingest.up({ devEui, fCnt: 2, fPort: 1, data: FREE, time: at(2), deduplicationId: dedup });
    // Same frame again under a new deduplication id (a skip-fCnt-check retransmission).
    await ingest.up({ devEui, fCnt: 2, fPort: 1, data: FREE, time: at(2) });
    await ingest.up({ devEui, fCnt: 3, fPort: 1, data: OCCUPIED, time: at(3) });
    await waitFor(async () => (await count('SELECT count(*) AS n FROM sensor_readings')) >= 3 && (await spaceState()).current_state === 'occupied', 10_000, 'fCnt 3');
    t.equal(await count('SELECT count(*) AS n FROM sensor_readings WHERE f_cnt = 2'), 1, 'one reading for fCnt 2');
    t.equal(await count(`SELECT count(*) AS n FROM space_events WHERE space_id = $1 AND to_state = 'free'`, [space.id]), 1, 'one free transition');
    const d = await api.request('GET', `/api/v6/devices/${device.body.id}`, { token });
    t.equal(d.body.uplink_count, 3);
  });

  await t.test('a late frame is stored but changes nothing', async (t) => {
    const before = await count('SELECT count(*) AS n FROM space_events');
    await ingest.up({ devEui, fCnt: 5, fPort: 1, data: FREE, time: at(30) });
    await ingest.up({ devEui, fCnt: 4, fPort: 1, data: OCCUPIED, time: at(20) });
    await waitFor(async () => (await count('SELECT count(*) AS n FROM sensor_readings WHERE f_cnt IN (4, 5)')) === 2, 10_000, 'both readings');
    t.equal((await spaceState()).current_state, 'free', 'fCnt 4 arrived after fCnt 5 and did not regress the space');
    t.equal(await count('SELECT count(*) AS n FROM space_events'), before + 1);
  });

  await t.test('a startup frame leaves the space unknown until the next status', async (t) => {
    // The rejoin comes minutes later: fCnt 1 with the same byte as the first frame is a new uplink.
    await ingest.up({ devEui, fCnt: 0, fPort: 3, data: STARTUP, time: at(400) });
    await waitFor(async () => (await spaceState()).current_state === 'unknown', 10_000, 'unknown');
    await ingest.up({ devEui, fCnt: 1, fPort: 1, data: OCCUPIED, time: at(401) });
    await waitFor(async () => (await spaceState()).current_state === 'occupied', 10_000, 'occupied after rejoin');
    t.pass('a rejoined device (fCnt back to 0) applies again');
  });

  await t.test('unknown DevEUI is kept unclaimed, then claimed at registration', async (t) => {
    const stranger = 'A84041000181C0DE';
    await ingest.up({ devEui: stranger, fCnt: 7, fPort: 1, data: OCCUPIED, rssi: -99 });
    await ingest.up({ devEui: stranger, fCnt: 8, fPort: 1, data: FREE, rssi: -98 });
    await waitFor(async () => (await count('SELECT coalesce(sum(uplink_count), 0) AS n FROM unclaimed_devices WHERE dev_eui = $1', [stranger])) === 2, 10_000, 'unclaimed');
    t.equal(await count('SELECT count(*) AS n FROM sensor_readings WHERE dev_eui = $1', [stranger]), 0, 'no tenant got its readings');
    const reg = await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: stranger, device_type: 'sensor', decoder: 'nwave-nps405' } });
    t.equal(reg.status, 201);
    t.match(reg.body, { uplink_count: 2, rssi: -98 });
    t.ok(reg.body.last_seen_at, 'last-seen data shows at once');
    t.equal(await count('SELECT count(*) AS n FROM unclaimed_devices WHERE dev_eui = $1', [stranger]), 0);
  });

  await t.test('poison messages are dead-lettered while good ones around them apply', async (t) => {
    const good = await api.request('POST', '/api/v6/spaces', { token, json: { code: 'A-2' } });
    const goodEui = '70B3D5E75E000002';
    const dev = await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: goodEui, device_type: 'sensor', decoder: 'nwave-nps405' } });
    await api.request('POST', `/api/v6/devices/${dev.body.id}/assign`, { token, json: { space_id: good.body.id } });
    await ingest.raw(goodEui, 'up', '{"deduplicationId": ');
    await ingest.up({ devEui: goodEui, fCnt: 1, fPort: 1, data: FREE, time: at(500) });
    await ingest.raw(goodEui, 'up', Buffer.from([0x0a, 0x24, 0x33, 0x61, 0xff, 0x00, 0x12]));
    await ingest.raw(goodEui, 'up', JSON.stringify({ deduplicationId: randomUUID(), time: 'yesterday', deviceInfo: { devEui: goodEui.toLowerCase() } }));
    await ingest.up({ devEui: goodEui, fCnt: 2, fPort: 42, data: FREE, time: at(501) });
    await ingest.up({ devEui: goodEui, fCnt: 3, fPort: 1, data: OCCUPIED, time: at(502) });
    await waitFor(async () => (await count('SELECT count(*) AS n FROM dead_letters')) === 4, 10_000, 'dead letters');
    await waitFor(async () => (await db.owner.query('SELECT current_state FROM spaces WHERE id = $1', [good.body.id])).rows[0].current_state === 'occupied', 10_000, 'good frames applied');
    const reasons = (await db.owner.query('SELECT reason, decoder, tenant_id IS NOT NULL AS tenanted FROM dead_letters ORDER BY reason')).rows;
    t.same(reasons, [
      // Cut protobuf: neither JSON nor a well-formed UplinkEvent.
      { reason: 'bad_protobuf', decoder: null, tenanted: false },
      { reason: 'bad_time', decoder: null, tenanted: false },
      { reason: 'decode_failed', decoder: 'nwave-nps405', tenanted: true },
      { reason: 'not_json', decoder: null, tenanted: false },
    ]);
    const seen = await api.request('GET', `/api/v6/devices/${dev.body.id}`, { token });
    t.equal(seen.body.uplink_count, 3, 'the undecodable uplink still advanced last_seen and the count');
  });

  await t.test('status events update the battery', async (t) => {
    const { statusEvent } = await import('../../src/simulator/events.js');
    await ingest.raw(devEui, 'status', JSON.stringify(statusEvent({ devEui, batteryLevel: 42.5 })));
    await waitFor(async () => (await api.request('GET', `/api/v6/devices/${device.body.id}`, { token })).body.battery === 42.5, 10_000, 'battery');
    t.pass();
  });
});
