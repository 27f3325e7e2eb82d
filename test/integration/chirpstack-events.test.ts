// ChirpStack's events as ChirpStack really publishes them, end to end through the broker
// (test/helpers/ingest.ts publishes as the ChirpStack identity): protobuf (`[integration.mqtt]
// json=false`) as well as JSON, and every kind its documentation shows
// (test/fixtures/chirpstack/), each accepted for a registered device and applied once.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { testApi } from '../helpers/api.js';
import { testIngest } from '../helpers/ingest.js';
import { waitFor } from '../helpers/wait.js';
import { eventPayload, upEvent } from '../../src/simulator/events.js';
import { PROTOBUF_KINDS } from '../../src/simulator/protobuf.js';
import { fixtureJson, fixtureProtobuf, FIXTURE_KINDS } from '../fixtures/chirpstack/make-protobuf.js';

const OCCUPIED = Buffer.from([0x01]); // nwave-nps405 fPort 1: bit 0 = occupied
/** The DevEUI of every documented example but `integration`'s (events.md). */
const DOCS_EUI = '0101010101010101';
const INTEGRATION_EUI = '0016C001F000175A';

t.test('ChirpStack events as ChirpStack sends them', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const ingest = await testIngest(t, api.db);
  const db = api.db;
  const count = async (sql: string, params: unknown[] = []) => Number((await db.owner.query(sql, params)).rows[0].n);
  const register = async (devEui: string) => {
    const r = await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: devEui, device_type: 'sensor', decoder: 'nwave-nps405' } });
    t.equal(r.status, 201, `register ${devEui}`);
    return r.body as { id: string };
  };

  await t.test('a protobuf up is applied: state change and reading', async (t) => {
    const space = (await api.request('POST', '/api/v6/spaces', { token, json: { code: 'P-1' } })).body;
    const devEui = '70B3D5E75E000101';
    const device = await register(devEui);
    await api.request('POST', `/api/v6/devices/${device.id}/assign`, { token, json: { space_id: space.id } });
    await ingest.up({ devEui, fCnt: 7, fPort: 1, data: OCCUPIED, time: new Date(Date.now() - 1_000), rssi: -71, snr: 9.25 }, 'protobuf');
    await waitFor(async () => (await db.owner.query('SELECT current_state FROM spaces WHERE id = $1', [space.id])).rows[0].current_state === 'occupied', 10_000, 'occupied');
    const readings = (await db.owner.query('SELECT f_cnt, f_port, kind, occupied, rssi, snr, raw, gateway_eui FROM sensor_readings WHERE dev_eui = $1', [devEui])).rows;
    t.match(readings, [{ f_cnt: 7, f_port: 1, kind: 'status', occupied: true, rssi: -71, snr: 9.25, gateway_eui: '0016C001F153A14C' }]);
    t.same(readings[0].raw, OCCUPIED, 'the frame bytes');
    const ev = await db.owner.query('SELECT from_state, to_state FROM space_events WHERE space_id = $1', [space.id]);
    t.same(ev.rows, [{ from_state: 'unknown', to_state: 'occupied' }]);
    t.equal(await count('SELECT count(*) AS n FROM dead_letters'), 0, 'no dead letter');
  });

  await t.test('every documented kind, protobuf then JSON, is accepted and applied once', async (t) => {
    const device = await register(DOCS_EUI);
    await register(INTEGRATION_EUI);
    // The documented examples in protobuf, as json=false publishes them.
    for (const kind of PROTOBUF_KINDS) await ingest.raw(DOCS_EUI, kind, fixtureProtobuf(kind));
    const kinds = async () => (await db.owner.query('SELECT kind FROM device_events WHERE device_id = $1 ORDER BY kind', [device.id])).rows.map((r) => r.kind);
    await waitFor(async () => (await kinds()).length === 5 && (await count('SELECT count(*) AS n FROM device_locations')) === 1, 10_000, 'protobuf events applied');
    t.same(await kinds(), ['ack', 'join', 'log', 'status', 'txack'], 'one device event per kind');
    t.equal(await count('SELECT count(*) AS n FROM sensor_readings WHERE dev_eui = $1', [DOCS_EUI]), 1, 'the up is a reading');
    const loc = (await db.owner.query('SELECT latitude, longitude, altitude, source, accuracy, at FROM device_locations WHERE device_id = $1', [device.id])).rows;
    t.same(loc, [{ latitude: 37.344214, longitude: -8.839375, altitude: 2, source: 'UNKNOWN', accuracy: null, at: new Date('2022-07-18T09:55:11.059Z') }], 'the location is stored');
    const shown = (await api.request('GET', `/api/v6/devices/${device.id}`, { token })).body;
    t.match(shown, { battery: 88.3 }, 'status: the battery level, as its JSON says it');
    const row = (await db.owner.query('SELECT margin, dev_addr FROM devices WHERE id = $1', [device.id])).rows[0];
    t.same(row, { margin: 10, dev_addr: '00189440' }, 'status margin and join DevAddr');

    // The same examples in JSON: the same events, so each is a duplicate of its protobuf twin.
    for (const kind of FIXTURE_KINDS) await ingest.raw(kind === 'integration' ? INTEGRATION_EUI : DOCS_EUI, kind, fixtureJson(kind));
    // Each device's events apply in order (ingest/pipeline.ts lanes by DevEUI): once these
    // newer uplinks are readings, everything published before them on their device is applied.
    for (const devEui of [DOCS_EUI, INTEGRATION_EUI]) {
      await ingest.raw(devEui, 'up', eventPayload('up', upEvent({ devEui, fCnt: 100, fPort: 1, data: OCCUPIED, deduplicationId: randomUUID() })));
    }
    await waitFor(async () => (await count('SELECT count(*) AS n FROM sensor_readings WHERE dev_eui = ANY($1)', [[DOCS_EUI, INTEGRATION_EUI]])) === 3, 10_000, 'sentinels');
    t.same(await kinds(), ['ack', 'join', 'log', 'status', 'txack'], 'JSON twins add no device event');
    t.equal(await count('SELECT count(*) AS n FROM sensor_readings WHERE dev_eui = $1', [DOCS_EUI]), 2, 'nor a reading (the sentinel aside)');
    t.equal(await count('SELECT count(*) AS n FROM device_locations'), 1);
    t.same((await db.owner.query('SELECT reason, topic FROM dead_letters')).rows, [], 'no kind, in either encoding, is dead-lettered');
  });
});
