// Issue 17 §2 and §4 end to end, through a real broker: an event counts for a device only when
// it came through the device's own ChirpStack application, and no event time can freeze a
// space or put last_seen_at in the future.
import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { testApi } from '../helpers/api.js';
import { testServerUrl } from '../helpers/db.js';
import { withDatabase } from '../helpers/pg-url.js';
import { listMigrations, migrate } from '../../src/db/migrate.js';
import { createOwnerPool } from '../../src/db/pool.js';
import { createLogger } from '../../src/log.js';
import { testIngest } from '../helpers/ingest.js';
import { waitFor } from '../helpers/wait.js';
import { eventTopic, statusEvent, upEvent } from '../../src/simulator/events.js';

const OCCUPIED = Buffer.from([0x01]); // nwave-nps405 fPort 1: bit 0 = occupied
const FREE = Buffer.from([0x00]);
const APP_OWN = '3d4e5f60-1111-4aaa-8bbb-000000000001';
const APP_FORGED = '3d4e5f60-2222-4aaa-8bbb-000000000002';
const APP_MAPPED = '3d4e5f60-3333-4aaa-8bbb-000000000003';

t.test('field trust: application binding and frame times', async (t) => {
  const api = await testApi(t);
  const db = api.db;
  const acme = await api.register('acme');
  const ingest = await testIngest(t, db);

  const sensor = async (token: string, devEui: string, code: string) => {
    const space = (await api.request('POST', '/api/v6/spaces', { token, json: { code } })).body;
    const device = (await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: devEui, device_type: 'sensor', decoder: 'nwave-nps405' } })).body;
    t.equal((await api.request('POST', `/api/v6/devices/${device.id}/assign`, { token, json: { space_id: space.id } })).status, 200);
    return { space, device };
  };
  const state = async (spaceId: string) => (await db.owner.query('SELECT current_state FROM spaces WHERE id = $1', [spaceId])).rows[0].current_state;
  const count = async (sql: string, params: unknown[]) => Number((await db.owner.query(sql, params)).rows[0].n);
  const deadLetters = async (token: string) => (await api.request('GET', '/api/v6/dead-letters?reason=application_mismatch', { token })).body.items;
  const now = () => new Date();

  await t.test('the first accepted event binds the device; a forged one under another application changes nothing', async (t) => {
    const devEui = '70B3D5E75E00F001';
    const { space, device } = await sensor(acme.token, devEui, 'T-1');
    t.equal(device.chirpstack_application_id, null, 'unbound at registration (never heard)');

    await ingest.up({ devEui, applicationId: APP_OWN, fCnt: 1, fPort: 1, data: OCCUPIED, time: now() });
    await waitFor(async () => (await state(space.id)) === 'occupied', 10_000, 'occupied');
    const bound = (await api.request('GET', `/api/v6/devices/${device.id}`, { token: acme.token })).body;
    t.match(bound, { chirpstack_application_id: APP_OWN, chirpstack_application_bound_by: 'first_event', uplink_count: 1 });

    const eventsBefore = await count('SELECT count(*) AS n FROM space_events WHERE space_id = $1', [space.id]);
    // An attacker's (or a misrouted) application speaks for the same DevEUI: a newer frame, free.
    await ingest.up({ devEui, applicationId: APP_FORGED, fCnt: 2, fPort: 1, data: FREE, time: now() });
    await ingest.raw(devEui, 'status', JSON.stringify({ ...statusEvent({ devEui, batteryLevel: 3 }), deviceInfo: { applicationId: APP_FORGED, devEui: devEui.toLowerCase(), tags: {} } }), APP_FORGED);
    await waitFor(async () => (await deadLetters(acme.token)).length === 2, 10_000, 'two dead letters');
    const dead = await deadLetters(acme.token);
    t.match(dead, [{ reason: 'application_mismatch', dev_eui: devEui, error: new RegExp(`application ${APP_FORGED}; device ${devEui} is bound to application ${APP_OWN}`) }, { reason: 'application_mismatch' }]);
    t.equal(await state(space.id), 'occupied', 'no state change');
    t.equal(await count('SELECT count(*) AS n FROM sensor_readings WHERE device_id = $1', [device.id]), 1, 'no reading');
    t.equal(await count('SELECT count(*) AS n FROM space_events WHERE space_id = $1', [space.id]), eventsBefore, 'no space event');
    t.equal(await count(`SELECT count(*) AS n FROM device_events WHERE device_id = $1 AND kind = 'status'`, [device.id]), 0, 'no device event');
    const after = (await api.request('GET', `/api/v6/devices/${device.id}`, { token: acme.token })).body;
    t.match(after, { uplink_count: 1, battery: null, chirpstack_application_id: APP_OWN }, 'no health change, binding kept');

    // The device's own application still speaks for it.
    await ingest.up({ devEui, applicationId: APP_OWN, fCnt: 3, fPort: 1, data: FREE, time: now() });
    await waitFor(async () => (await state(space.id)) === 'free', 10_000, 'free from its own application');

    await t.test('moving it to another application is an explicit, recorded act', async (t) => {
      const moved = await api.request('PUT', `/api/v6/devices/${device.id}/chirpstack-application`, { token: acme.token, json: { chirpstack_application_id: APP_FORGED } });
      t.equal(moved.status, 200);
      t.match(moved.body, { chirpstack_application_id: APP_FORGED, chirpstack_application_bound_by: 'user' });
      const rec = (await db.owner.query(`SELECT data FROM device_events WHERE device_id = $1 AND kind = 'application_binding'`, [device.id])).rows;
      t.same(rec, [{ data: { from: APP_OWN, to: APP_FORGED, by_user_id: acme.user.id } }]);
      await ingest.up({ devEui, applicationId: APP_FORGED, fCnt: 4, fPort: 1, data: OCCUPIED, time: now() });
      await waitFor(async () => (await state(space.id)) === 'occupied', 10_000, 'the new application speaks for it');
      const bad = await api.request('PUT', `/api/v6/devices/${device.id}/chirpstack-application`, { token: acme.token, json: { chirpstack_application_id: 'not-a-uuid/#' } });
      t.equal(bad.status, 400);
      t.match(bad.body.error.details, [{ field: 'body.chirpstack_application_id' }]);
    });
  });

  await t.test('a tenant that mapped its applications accepts events only from them', async (t) => {
    const city = await api.register('city');
    t.equal((await api.request('PUT', '/api/v6/tenants/current/chirpstack', { token: city.token, json: { application_ids: [APP_MAPPED] } })).status, 200);
    const devEui = '70B3D5E75E00F002';
    const { space, device } = await sensor(city.token, devEui, 'M-1');
    await ingest.up({ devEui, applicationId: APP_OWN, fCnt: 1, fPort: 1, data: OCCUPIED, time: now() });
    await waitFor(async () => (await deadLetters(city.token)).length === 1, 10_000, 'refused');
    t.match(await deadLetters(city.token), [{ reason: 'application_mismatch', error: /which its tenant has not mapped/ }]);
    t.equal((await api.request('GET', `/api/v6/devices/${device.id}`, { token: city.token })).body.chirpstack_application_id, null, 'not bound by a refused event');
    t.equal(await state(space.id), 'unknown');
    await ingest.up({ devEui, applicationId: APP_MAPPED, fCnt: 2, fPort: 1, data: OCCUPIED, time: now() });
    await waitFor(async () => (await state(space.id)) === 'occupied', 10_000, 'its mapped application');
    t.equal((await api.request('GET', `/api/v6/devices/${device.id}`, { token: city.token })).body.chirpstack_application_id, APP_MAPPED);
    const unmapped = await api.request('PUT', `/api/v6/devices/${device.id}/chirpstack-application`, { token: city.token, json: { chirpstack_application_id: APP_OWN } });
    t.equal(unmapped.status, 422, 'a person cannot bind it to an application the tenant did not map');
    // acme may not bind its device to city's application either.
    const acmeDevice = (await api.request('POST', '/api/v6/devices', { token: acme.token, json: { dev_eui: '70B3D5E75E00F003', device_type: 'sensor' } })).body;
    const foreign = await api.request('PUT', `/api/v6/devices/${acmeDevice.id}/chirpstack-application`, { token: acme.token, json: { chirpstack_application_id: APP_MAPPED } });
    t.equal(foreign.status, 409);
    t.notMatch(JSON.stringify(foreign.body), /city/, 'names no tenant');
  });

  await t.test('one far-future frame cannot freeze a space; last_seen_at never lies ahead', async (t) => {
    const devEui = '70B3D5E75E00F004';
    const { space, device } = await sensor(acme.token, devEui, 'T-9');
    await ingest.up({ devEui, applicationId: APP_OWN, fCnt: 10, fPort: 1, data: OCCUPIED, time: new Date('9999-12-31T00:00:00Z') });
    await waitFor(async () => (await state(space.id)) === 'occupied', 10_000, 'applied at its receive time');
    const r1 = (await db.owner.query(`SELECT received_at, time_source, event_time FROM sensor_readings WHERE device_id = $1`, [device.id])).rows[0];
    t.equal(r1.time_source, 'received');
    t.same(r1.event_time, new Date('9999-12-31T00:00:00Z'), 'what the frame claimed is kept');
    t.ok(r1.received_at.getTime() <= Date.now(), 'the reading is at its receive time');
    const d1 = (await db.owner.query('SELECT last_seen_at, last_frame_at FROM devices WHERE id = $1', [device.id])).rows[0];
    t.ok(d1.last_seen_at.getTime() <= Date.now() && d1.last_frame_at.getTime() <= Date.now(), 'no stored time in the future');

    // A genuine frame after it: higher fCnt, real time.
    await ingest.up({ devEui, applicationId: APP_OWN, fCnt: 11, fPort: 1, data: FREE, time: now() });
    await waitFor(async () => (await state(space.id)) === 'free', 10_000, 'the genuine frame applies');

    // A clock within the skew (4 minutes fast): applied at its time, yet the next genuine frame still counts.
    await ingest.up({ devEui, applicationId: APP_OWN, fCnt: 12, fPort: 1, data: OCCUPIED, time: new Date(Date.now() + 240_000) });
    await waitFor(async () => (await state(space.id)) === 'occupied', 10_000, 'fast clock applied');
    const d2 = (await db.owner.query('SELECT last_seen_at FROM devices WHERE id = $1', [device.id])).rows[0];
    t.ok(d2.last_seen_at.getTime() <= Date.now(), 'last_seen_at is not 4 minutes ahead');
    await ingest.up({ devEui, applicationId: APP_OWN, fCnt: 13, fPort: 1, data: FREE, time: now() });
    await waitFor(async () => (await state(space.id)) === 'free', 10_000, 'a higher fCnt after a fast clock applies');

    // A GPS-less gateway's 1980.
    await ingest.up({ devEui, applicationId: APP_OWN, fCnt: 14, fPort: 1, data: OCCUPIED, time: new Date('1980-01-06T00:00:00Z') });
    await waitFor(async () => (await state(space.id)) === 'occupied', 10_000, 'a too-old time is applied at receive time');
    const sources = (await db.owner.query(`SELECT f_cnt, time_source FROM sensor_readings WHERE device_id = $1 ORDER BY f_cnt`, [device.id])).rows;
    t.same(sources.map((r) => `${r.f_cnt}:${r.time_source}`), ['10:received', '11:event', '12:event', '13:event', '14:received']);
  });

  await t.test('malformed application ids in topics are dead-lettered, not applied', async (t) => {
    const devEui = '70B3D5E75E00F005';
    const payload = JSON.stringify(upEvent({ devEui, fCnt: 1, fPort: 1, data: OCCUPIED }));
    // The topic names an application the payload does not: as if a client published under a topic it was allowed, claiming another.
    await ingest.pub.publishAsync(eventTopic(ingest.broker.template, devEui, 'up', randomUUID()), payload, { qos: 1 });
    await waitFor(async () => (await count(`SELECT count(*) AS n FROM dead_letters WHERE reason = 'topic_application_mismatch'`, [])) === 1, 10_000, 'dead-lettered');
  });
});

t.test('migration 0018: existing devices keep the application they sent under, and no time stays in the future', async (t) => {
  const log = createLogger('silent', 'test-0018');
  const admin = createOwnerPool(testServerUrl(), { max: 1, log, applicationName: 'baygate-test-0018' });
  const name = `baygate_t_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const owner = createOwnerPool(withDatabase(testServerUrl(), name), { max: 1, log, applicationName: 'baygate-test-0018' });
  t.teardown(async () => {
    await owner.end();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });
  await migrate(owner, listMigrations().filter((m) => m.version < 18));
  const tenant = (await owner.query(`INSERT INTO tenants (id, name, slug) VALUES ($1, 'acme', 'acme') RETURNING id`, [randomUUID()])).rows[0].id;
  const future = new Date('9999-12-31T00:00:00Z');
  const rows: [eui: string, app: string | null][] = [
    ['70B3D5E75E00A001', APP_OWN],
    ['70B3D5E75E00A002', APP_OWN.toUpperCase()],
    ['70B3D5E75E00A003', 'not-an-application'],
    ['70B3D5E75E00A004', null],
  ];
  for (const [eui, app] of rows) {
    await owner.query(
      `INSERT INTO devices (tenant_id, dev_eui, device_type, application_id, last_seen_at, last_f_cnt, last_frame_at) VALUES ($1, $2, 'sensor', $3, $4, 7, $4)`,
      [tenant, eui, app, future],
    );
  }
  const device = (await owner.query(`SELECT id FROM devices WHERE dev_eui = '70B3D5E75E00A001'`)).rows[0].id;
  await owner.query(
    `INSERT INTO sensor_readings (tenant_id, device_id, dev_eui, deduplication_id, f_cnt, f_port, received_at, raw, kind)
     VALUES ($1, $2, '70B3D5E75E00A001', $3, 7, 1, $4, '\\x01', 'status')`,
    [tenant, device, randomUUID(), future],
  );

  await migrate(owner);
  const after = (await owner.query(`SELECT dev_eui, application_id, application_bound_by, last_seen_at <= now() AS seen_ok, last_frame_at <= now() AS frame_ok FROM devices ORDER BY dev_eui`)).rows;
  t.same(after, [
    { dev_eui: '70B3D5E75E00A001', application_id: APP_OWN, application_bound_by: 'migration', seen_ok: true, frame_ok: true },
    { dev_eui: '70B3D5E75E00A002', application_id: APP_OWN, application_bound_by: 'migration', seen_ok: true, frame_ok: true },
    { dev_eui: '70B3D5E75E00A003', application_id: null, application_bound_by: null, seen_ok: true, frame_ok: true },
    { dev_eui: '70B3D5E75E00A004', application_id: null, application_bound_by: null, seen_ok: true, frame_ok: true },
  ], 'a UUID binds (lowercased), anything else is dropped, and every time is clamped to the migration');
  const reading = (await owner.query(`SELECT received_at <= now() AS ok, time_source, event_time FROM sensor_readings`)).rows[0];
  t.same(reading, { ok: true, time_source: 'received', event_time: future }, 'a future reading is moved to now and keeps what it claimed');
});
