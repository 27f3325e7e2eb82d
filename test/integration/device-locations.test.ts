// Device locations (issue 18 §4): writeDeviceLocations as ingest's `location` event calls it,
// under the device's tenant on the ingest role, and the device JSON that shows the result.
import t from 'tap';
import { testApi } from '../helpers/api.js';
import { withTx } from '../../src/db/tx.js';
import { writeDeviceLocations, type DeviceLocationWrite } from '../../src/storage/device-locations.js';

t.test('device locations', async (t) => {
  const api = await testApi(t);
  const acme = await api.register('acme');
  const other = await api.register('other');
  const device = async (token: string, devEui: string) => {
    const r = await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: devEui, device_type: 'sensor' } });
    t.equal(r.status, 201);
    return r.body as { id: string; tenant_id: string; location: unknown };
  };
  const tracker = await device(acme.token, '70B3D5E75E00F001');
  const fixed = await device(acme.token, '70B3D5E75E00F002');
  const foreign = await device(other.token, '70B3D5E75E00F003');
  const get = async (id: string, token = acme.token) => (await api.request('GET', `/api/v6/devices/${id}`, { token })).body;
  /** As ingest's batch calls it: the ingest role, under the device's tenant. */
  const write = (tenantId: string, rows: DeviceLocationWrite[]) => withTx(api.db.ingest, { tenantId }, (c) => writeDeviceLocations(c, rows));
  const at = (s: string) => new Date(`2026-12-01T10:00:${s}.000Z`);
  const fix = (deviceId: string, s: string, latitude: number, more: Partial<DeviceLocationWrite> = {}): DeviceLocationWrite =>
    ({ deviceId, latitude, longitude: 11.575, altitude: 520.5, source: 'GPS', accuracy: 3.5, at: at(s), ...more });

  await t.test('a device never located shows location: null', async (t) => {
    t.equal(tracker.location, null, 'on registration');
    t.equal((await get(tracker.id)).location, null);
  });

  await t.test('a batch stores each device once, its latest row', async (t) => {
    await write(tracker.tenant_id, [
      fix(tracker.id, '05', 48.1),
      fix(tracker.id, '20', 48.3),
      fix(tracker.id, '10', 48.2),
      fix(fixed.id, '01', 52.52, { source: 'CONFIG', altitude: null, accuracy: null }),
    ]);
    t.same((await get(tracker.id)).location, { latitude: 48.3, longitude: 11.575, altitude: 520.5, source: 'GPS', accuracy: 3.5, at: at('20').toISOString() });
    t.same((await get(fixed.id)).location, { latitude: 52.52, longitude: 11.575, altitude: null, source: 'CONFIG', accuracy: null, at: at('01').toISOString() });
    const listed = (await api.request('GET', '/api/v6/devices', { token: acme.token })).body.items;
    t.equal(listed.find((d: any) => d.id === tracker.id).location.latitude, 48.3, 'the list shows it too');
  });

  await t.test('only forward in time: an older or equally old location changes nothing', async (t) => {
    await write(tracker.tenant_id, [fix(tracker.id, '15', 10), fix(tracker.id, '20', 11)]);
    t.equal((await get(tracker.id)).location.latitude, 48.3, 'a late (redelivered) event does not move it back');
    await write(tracker.tenant_id, [fix(tracker.id, '30', 48.4, { source: 'GEO_RESOLVER_TDOA', accuracy: 40, altitude: null })]);
    t.same((await get(tracker.id)).location, { latitude: 48.4, longitude: 11.575, altitude: null, source: 'GEO_RESOLVER_TDOA', accuracy: 40, at: at('30').toISOString() });
  });

  await t.test('coordinates that are nowhere are dropped; a source that is no enum name is UNKNOWN', async (t) => {
    await write(tracker.tenant_id, [
      fix(tracker.id, '40', 91),
      fix(tracker.id, '41', Number.NaN),
      fix(tracker.id, '42', 48, { longitude: -181 }),
    ]);
    t.equal((await get(tracker.id)).location.latitude, 48.4, 'none of them stored, and the batch did not fail');
    await write(tracker.tenant_id, [fix(tracker.id, '50', 48.5, { source: 'gps; DROP TABLE', accuracy: -1 })]);
    t.match((await get(tracker.id)).location, { latitude: 48.5, source: 'UNKNOWN', accuracy: null });
    await write(tracker.tenant_id, [fix(tracker.id, '51', 48.6, { accuracy: Number.NaN })]);
    t.match((await get(tracker.id)).location, { latitude: 48.6, source: 'GPS', accuracy: null }, 'NaN accuracy is none');
  });

  await t.test('tenants: another tenant sees none of it, and a write under the wrong tenant is refused', async (t) => {
    t.equal((await api.request('GET', `/api/v6/devices/${tracker.id}`, { token: other.token })).status, 404);
    await t.rejects(write(tracker.tenant_id, [fix(foreign.id, '10', 1)]), 'row-level security refuses a row of another tenant');
    t.equal((await get(foreign.id, other.token)).location, null);
    const rows = await api.db.owner.query(`SELECT tenant_id FROM device_locations ORDER BY device_id`);
    t.same(rows.rows.map((r) => r.tenant_id), [tracker.tenant_id, tracker.tenant_id], 'each row carries its device\'s tenant');
  });

  await t.test('the API role reads locations but cannot write them', async (t) => {
    await t.rejects(
      withTx(api.db.app, { tenantId: tracker.tenant_id }, (c) => c.query(`UPDATE device_locations SET latitude = 0`)),
      /permission denied/,
    );
  });
});
