// Devices and gateways through the API, with the field technician's flow end to end:
// register by DevEUI → assign → first uplink through the real broker and ingest →
// operational → readings visible → moved to another space → history shows both.
import t from 'tap';
import { testApi, type TestApi } from '../helpers/api.js';
import { testIngest } from '../helpers/ingest.js';
import { waitFor } from '../helpers/wait.js';

const PASSWORD = 'correct horse battery';
const OCCUPIED = Buffer.from([0x01]); // nwave-nps405 fPort 1: bit 0 = occupied

async function member(api: TestApi, ownerToken: string, role: string): Promise<string> {
  const email = `${role}@acme.example`;
  const r = await api.request('POST', '/api/v6/users', { token: ownerToken, json: { email, password: PASSWORD, username: role, role } });
  if (r.status !== 201) throw new Error(`adding ${role}: ${r.status}`);
  return (await api.request('POST', '/api/auth/login', { json: { email, password: PASSWORD } })).body.access_token;
}

t.test('the technician flow: register, assign, first uplink, readings, move, history', async (t) => {
  const api = await testApi(t);
  const owner = await api.register('acme');
  const tech = await member(api, owner.token, 'technician');
  const viewer = await member(api, owner.token, 'viewer');
  const ingest = await testIngest(t, api.db);

  const siteB = (await api.request('POST', '/api/v6/sites', { token: owner.token, json: { name: 'Garage B' } })).body;
  const spaceA = (await api.request('POST', '/api/v6/spaces', { token: owner.token, json: { code: 'A-1' } })).body;
  const spaceB = (await api.request('POST', '/api/v6/spaces', { token: owner.token, json: { code: 'B-1', site_id: siteB.id } })).body;
  const devEui = '70B3D5E75E00AB01';

  // 1. Register by DevEUI, as typed from the label (lowercase).
  const reg = await api.request('POST', '/api/v6/devices', { token: tech, json: { dev_eui: devEui.toLowerCase(), device_type: 'sensor', decoder: 'nwave-nps405', name: 'Bay sensor' } });
  t.equal(reg.status, 201);
  t.match(reg.body, { dev_eui: devEui, status: 'unassigned', lifecycle_state: 'provisioned', enabled: true, uplink_count: 0, assigned_space_id: null });
  const fields = ['id', 'tenant_id', 'dev_eui', 'name', 'device_type', 'manufacturer', 'model', 'decoder', 'enabled', 'config', 'status',
    'lifecycle_state', 'assigned_space_id', 'assigned_at', 'last_seen_at', 'battery', 'rssi', 'snr', 'last_gateway_eui', 'uplink_count', 'created_at', 'updated_at'];
  for (const f of fields) t.ok(f in reg.body, `a device carries ${f}`);
  const id = reg.body.id as string;
  t.equal((await api.request('POST', '/api/v6/devices', { token: tech, json: { dev_eui: devEui, device_type: 'sensor' } })).status, 409, 'a DevEUI registers once');

  const byEui = await api.request('GET', `/api/v6/devices/by-eui/${devEui.toLowerCase()}`, { token: viewer });
  t.equal(byEui.status, 200);
  t.equal(byEui.body.id, id, 'found by the DevEUI on the label, any case');
  t.equal((await api.request('GET', '/api/v6/devices/by-eui/70B3D5E75E00FFFF', { token: viewer })).status, 404);
  t.equal((await api.request('GET', '/api/v6/devices/by-eui/not-an-eui', { token: viewer })).status, 404);

  // 2. Assign.
  const assigned = await api.request('POST', `/api/v6/devices/${id}/assign`, { token: tech, json: { space_id: spaceA.id, reason: 'installed' } });
  t.equal(assigned.status, 200);
  t.match(assigned.body, { status: 'assigned', lifecycle_state: 'commissioned', assigned_space_id: spaceA.id });

  // 3. First uplink, through the broker.
  await ingest.up({ devEui, fCnt: 1, fPort: 1, data: OCCUPIED, rssi: -77, snr: 8.5 });
  await waitFor(async () => (await api.request('GET', `/api/v6/devices/${id}`, { token: viewer })).body.lifecycle_state === 'operational', 10_000, 'operational');
  const live = (await api.request('GET', `/api/v6/devices/${id}`, { token: viewer })).body;
  t.match(live, { status: 'assigned', uplink_count: 1, rssi: -77, snr: 8.5, last_gateway_eui: '0016C001F153A14C' });
  t.ok(live.last_seen_at);

  // 4. Readings visible.
  const readings = await api.request('GET', `/api/v6/devices/${id}/readings?limit=5`, { token: viewer });
  t.equal(readings.status, 200);
  t.equal(readings.body.items.length, 1);
  t.match(readings.body.items[0], { f_port: 1, f_cnt: 1, kind: 'status', occupied: true, rssi: -77, snr: 8.5, gateway: '0016C001F153A14C' });
  t.ok(readings.body.items[0].time);
  t.equal((await api.request('GET', `/api/v6/devices/${id}/readings?limit=0`, { token: viewer })).status, 400, 'limit is bounded');
  t.equal((await api.request('GET', `/api/v6/spaces/${spaceA.id}`, { token: viewer })).body.current_state, 'occupied');

  // 5. Move to another space.
  const moved = await api.request('POST', `/api/v6/devices/${id}/assign`, { token: tech, json: { space_id: spaceB.id, reason: 'moved' } });
  t.equal(moved.status, 200);
  t.match(moved.body, { assigned_space_id: spaceB.id, status: 'assigned', lifecycle_state: 'commissioned' });
  t.equal((await api.request('GET', `/api/v6/spaces/${spaceA.id}`, { token: viewer })).body.current_state, 'unknown', 'the space it left hears nothing');

  // 6. History shows both.
  const history = await api.request('GET', `/api/v6/devices/${id}/assignments`, { token: viewer });
  t.equal(history.status, 200);
  t.match(history.body.items, [
    { from_space_id: null, to_space_id: spaceA.id, reason: 'installed', by_user_id: String },
    { from_space_id: spaceA.id, to_space_id: spaceB.id, reason: 'moved' },
  ]);
  t.equal(history.body.items.length, 2);

  // Filters and shortcuts.
  const display = (await api.request('POST', '/api/v6/devices', { token: tech, json: { dev_eui: '70B3D5E75E00DD01', device_type: 'display', name: 'Sign 1' } })).body;
  const list = async (qs: string, path = '/api/v6/devices') => (await api.request('GET', `${path}${qs}`, { token: viewer })).body;
  t.match(await list(''), { total: 2, page: 1, page_size: 100 });
  t.same((await list('?device_type=sensor')).items.map((d: any) => d.id), [id]);
  t.same((await list('', '/api/v6/devices/sensors')).items.map((d: any) => d.id), [id], '/devices/sensors');
  t.same((await list('', '/api/v6/devices/displays/')).items.map((d: any) => d.id), [display.id], '/devices/displays/ (trailing slash)');
  t.same((await list('?assigned=true')).items.map((d: any) => d.id), [id]);
  t.same((await list('?assigned=false')).items.map((d: any) => d.id), [display.id]);
  t.same((await list(`?site_id=${siteB.id}`)).items.map((d: any) => d.id), [id], 'by the site of its space');
  t.equal((await list(`?site_id=${spaceA.site_id}`)).total, 0);
  t.same((await list('?q=ab01')).items.map((d: any) => d.id), [id], 'q matches a DevEUI fragment');
  t.same((await list('?q=sign')).items.map((d: any) => d.id), [display.id], 'q matches a name fragment');
  t.equal((await list('?q=%25')).total, 0, 'q wildcards match literally');
  t.same((await list('?status=unassigned&lifecycle_state=provisioned')).items.map((d: any) => d.id), [display.id]);
  t.match(await list('?page=2&page_size=1'), { total: 2, page: 2, page_size: 1, items: [{ id: display.id }] });
  t.equal((await api.request('GET', '/api/v6/devices?status=lost', { token: viewer })).status, 400);

  // Edits: technicians update, viewers only read.
  const patched = await api.request('PATCH', `/api/v6/devices/${id}`, { token: tech, json: { name: 'Bay A', config: { heartbeat_minutes: 30 } } });
  t.equal(patched.status, 200);
  t.match(patched.body, { name: 'Bay A', config: { heartbeat_minutes: 30 }, decoder: 'nwave-nps405' });
  t.equal((await api.request('PATCH', `/api/v6/devices/${id}`, { token: viewer, json: { name: 'x' } })).status, 403);
  const put = await api.request('PUT', `/api/v6/devices/${display.id}`, { token: tech, json: { name: 'Sign', enabled: false } });
  t.match(put.body, { name: 'Sign', enabled: false, lifecycle_state: 'decommissioned', config: {}, decoder: null });
  t.equal((await api.request('PATCH', `/api/v6/devices/${display.id}`, { token: tech, json: { enabled: true } })).body.lifecycle_state, 'provisioned');

  // Delete: unassigned first, then gone; the DevEUI registers again.
  const del = await api.request('DELETE', `/api/v6/devices/${id}`, { token: tech });
  t.equal(del.status, 200);
  t.same(del.body, { status: 'deleted', id });
  t.equal((await api.request('GET', `/api/v6/devices/${id}`, { token: viewer })).status, 404);
  t.equal((await api.request('GET', `/api/v6/spaces/${spaceB.id}`, { token: viewer })).body.sensor_device_id, null, 'the space lost its sensor');
  const last = await api.db.owner.query('SELECT from_space_id, to_space_id, reason FROM device_assignments WHERE device_id = $1 ORDER BY id DESC LIMIT 1', [id]);
  t.same(last.rows, [{ from_space_id: spaceB.id, to_space_id: null, reason: 'deleted' }], 'deleting unassigned it through the history');
  t.equal((await api.request('DELETE', `/api/v6/devices/${id}`, { token: tech })).status, 404);
  const again = await api.request('POST', '/api/v6/devices', { token: tech, json: { dev_eui: devEui, device_type: 'sensor' } });
  t.equal(again.status, 201, 'the DevEUI can be registered again');
  t.not(again.body.id, id);
});

t.test('gateways: seen by ingest, added, edited, deleted; online by silence', async (t) => {
  const api = await testApi(t, { GATEWAY_OFFLINE_MINUTES: '10' });
  const owner = await api.register('acme');
  const tech = await member(api, owner.token, 'technician');
  const viewer = await member(api, owner.token, 'viewer');
  const ingest = await testIngest(t, api.db);
  const dev = (await api.request('POST', '/api/v6/devices', { token: tech, json: { dev_eui: '70B3D5E75E00AB02', device_type: 'sensor', decoder: 'nwave-nps405' } })).body;
  await ingest.up({ devEui: dev.dev_eui, fCnt: 1, fPort: 1, data: OCCUPIED, gatewayId: 'aa555a0000000001' });
  await ingest.up({ devEui: dev.dev_eui, fCnt: 2, fPort: 1, data: OCCUPIED, gatewayId: 'aa555a0000000002', time: new Date(Date.now() - 3_600_000) });
  await waitFor(async () => (await api.request('GET', '/api/v6/gateways', { token: viewer })).body.total === 2, 10_000, 'gateways seen');

  const seen = (await api.request('GET', '/api/v6/gateways', { token: viewer })).body;
  t.match(seen.items, [
    { gateway_eui: 'AA555A0000000001', name: null, status: 'online', location: null, metadata: {} },
    { gateway_eui: 'AA555A0000000002', status: 'offline' },
  ]);
  t.same((await api.request('GET', '/api/v6/gateways?status=offline', { token: viewer })).body.items.map((g: any) => g.gateway_eui), ['AA555A0000000002']);

  const taken = await api.request('POST', '/api/v6/gateways', { token: tech, json: { gateway_eui: 'aa555a0000000001', name: 'Roof', location: { lat: 48.85, lon: 2.35 }, metadata: { mast: 'north' } } });
  t.equal(taken.status, 201, 'adding a gateway ingest recorded takes it over');
  t.match(taken.body, { id: seen.items[0].id, name: 'Roof', location: { lat: 48.85, lon: 2.35 }, metadata: { mast: 'north' }, status: 'online' });
  t.equal((await api.request('POST', '/api/v6/gateways', { token: tech, json: { gateway_eui: 'AA555A0000000001', name: 'Again' } })).status, 409);
  t.equal((await api.request('POST', '/api/v6/gateways', { token: viewer, json: { gateway_eui: 'AA555A0000000009', name: 'V' } })).status, 403);

  const fresh = await api.request('POST', '/api/v6/gateways', { token: tech, json: { gateway_eui: 'AA555A0000000003', name: 'Pole' } });
  t.match(fresh.body, { status: 'offline', last_seen_at: null, location: null });
  const put = await api.request('PUT', `/api/v6/gateways/${fresh.body.id}`, { token: tech, json: { name: 'Pole 3', location: { lat: 1, lon: 2 } } });
  t.match(put.body, { name: 'Pole 3', location: { lat: 1, lon: 2 }, metadata: {}, gateway_eui: 'AA555A0000000003' });
  t.equal((await api.request('GET', `/api/v6/gateways/${fresh.body.id}`, { token: viewer })).body.name, 'Pole 3');
  t.equal((await api.request('DELETE', `/api/v6/gateways/${fresh.body.id}`, { token: tech })).status, 200);
  t.equal((await api.request('GET', `/api/v6/gateways/${fresh.body.id}`, { token: viewer })).status, 404);
  t.equal((await api.request('DELETE', `/api/v6/gateways/${fresh.body.id}`, { token: tech })).status, 404);
  const back = await api.request('POST', '/api/v6/gateways', { token: tech, json: { gateway_eui: 'AA555A0000000003', name: 'Pole again' } });
  t.equal(back.status, 201, 'a deleted gateway can be added again');
});
