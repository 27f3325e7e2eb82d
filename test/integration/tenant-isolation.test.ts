// Tenant isolation through the API: tenant B walks every site, space, device and gateway
// route with tenant A's ids and hand-written bodies. Every answer is 404 (or an empty list),
// never A's data, and A's rows stay as they were. tenant-walk.test.ts does the same for
// every route in the OpenAPI document, with bodies generated from the route schemas.
import t from 'tap';
import { testApi, type TestApi } from '../helpers/api.js';
import { allRoutes } from '../../api/app.js';
import { createLogger } from '../../src/log.js';

/** A's rows as the owner connection sees them (it bypasses RLS). */
async function snapshot(api: TestApi, tenantId: string) {
  const q = async (table: string) =>
    (await api.db.owner.query(`SELECT to_jsonb(x) AS row FROM ${table} x WHERE tenant_id = $1 ORDER BY id`, [tenantId])).rows.map((r) => r.row);
  return { sites: await q('sites'), spaces: await q('spaces') };
}

t.test("tenant B cannot read, change or use tenant A's sites and spaces", async (t) => {
  const api = await testApi(t);
  const a = await api.register('tenant-a');
  const b = await api.register('tenant-b');

  const aSite = (await api.request('POST', '/api/v6/sites', { token: a.token, json: { name: 'A garage', address: 'A street' } })).body;
  const aSpace = (await api.request('POST', '/api/v6/spaces', { token: a.token, json: { site_id: aSite.id, code: 'A1', name: 'A space' } })).body;
  t.ok(aSite.id && aSpace.id, 'A has a site and a space');
  const bSpace = (await api.request('POST', '/api/v6/spaces', { token: b.token, json: { code: 'B1' } })).body;
  const before = await snapshot(api, a.user.tenant_id);

  // Leaks are checked on the raw text: none of A's ids or names may appear in any answer to B.
  const secrets = [aSite.id, aSpace.id, a.user.tenant_id, 'A garage', 'A street', 'A space'];
  const leaks = (body: unknown) => secrets.filter((s) => JSON.stringify(body ?? '').includes(s));

  // Bodies that pass validation, so the request reaches the database and RLS decides.
  const bodies: Record<string, Record<string, unknown>> = {
    'put sites': { name: 'hijacked' },
    'patch sites': { name: 'hijacked', timezone: 'Europe/Paris' },
    'put spaces': { code: 'hijacked', site_id: aSite.id },
    'patch spaces': { name: 'hijacked', current_state: 'maintenance', enabled: false },
  };
  const ids: Record<string, string> = { sites: aSite.id, spaces: aSpace.id };

  // Every /:id route of sites and spaces, from the route table, so a new one is swept too.
  const routes = allRoutes({ config: api.config, pool: api.db.app, log: createLogger('silent', 'test') }).filter(
    (r) => (r.tag === 'sites' || r.tag === 'spaces') && r.path.includes(':id'),
  );
  t.same(
    routes.map((r) => `${r.method} ${r.path}`).sort(),
    [
      'delete /api/v6/sites/:id', 'delete /api/v6/spaces/:id', 'get /api/v6/sites/:id', 'get /api/v6/spaces/:id',
      'patch /api/v6/sites/:id', 'patch /api/v6/spaces/:id', 'put /api/v6/sites/:id', 'put /api/v6/spaces/:id',
    ],
    'the sweep covers the routes it should',
  );
  for (const r of routes) {
    const path = r.path.replace(':id', ids[r.tag]!);
    const json = bodies[`${r.method} ${r.tag}`];
    const res = await api.request(r.method.toUpperCase(), path, { token: b.token, json });
    t.equal(res.status, 404, `B ${r.method.toUpperCase()} ${path}`);
    t.equal(res.body?.error?.code, 'not_found');
    t.same(leaks(res.body), [], 'no trace of A');
  }

  const filtered = await api.request('GET', `/api/v6/spaces?site_id=${aSite.id}`, { token: b.token });
  t.equal(filtered.status, 200);
  t.match(filtered.body, { items: [], total: 0 }, "filtering by A's site finds nothing");

  const intoA = await api.request('POST', '/api/v6/spaces', { token: b.token, json: { site_id: aSite.id, code: 'SMUGGLED' } });
  t.equal(intoA.status, 404, "B cannot create a space in A's site");
  t.match(intoA.body.error.message, /Site not found/);
  t.same(leaks(intoA.body), []);
  const moveIntoA = await api.request('PATCH', `/api/v6/spaces/${bSpace.id}`, { token: b.token, json: { site_id: aSite.id } });
  t.equal(moveIntoA.status, 404, "B cannot move its space into A's site");

  for (const path of ['/api/v6/sites', '/api/v6/spaces', '/api/v6/spaces/stats', '/api/v6/users']) {
    const res = await api.request('GET', path, { token: b.token });
    t.equal(res.status, 200, `B GET ${path}`);
    t.same(leaks(res.body), [], `${path} shows nothing of A`);
  }
  const stats = await api.request('GET', '/api/v6/spaces/stats', { token: b.token });
  t.equal(stats.body.total, 1, "B's stats count only B's space");

  t.same(await snapshot(api, a.user.tenant_id), before, "A's rows are unchanged");
  const bRows = await api.db.owner.query(`SELECT site_id, code FROM spaces WHERE tenant_id = $1`, [b.user.tenant_id]);
  t.same(bRows.rows, [{ site_id: bSpace.site_id, code: 'B1' }], 'B has only its own space, where it was');

  const aStill = await api.request('GET', `/api/v6/spaces/${aSpace.id}`, { token: a.token });
  t.equal(aStill.status, 200, 'A still sees its space');
  t.same(aStill.body, aSpace);
});

t.test("tenant B cannot read, change or use tenant A's devices and gateways", async (t) => {
  const api = await testApi(t);
  const a = await api.register('tenant-a');
  const b = await api.register('tenant-b');
  const aSpace = (await api.request('POST', '/api/v6/spaces', { token: a.token, json: { code: 'A1' } })).body;
  const aDevice = (await api.request('POST', '/api/v6/devices', { token: a.token, json: { dev_eui: '70B3D5E75E00AA01', device_type: 'sensor', name: 'A sensor' } })).body;
  await api.request('POST', `/api/v6/devices/${aDevice.id}/assign`, { token: a.token, json: { space_id: aSpace.id } });
  const aGateway = (await api.request('POST', '/api/v6/gateways', { token: a.token, json: { gateway_eui: 'AA555A00000000AA', name: 'A roof' } })).body;
  t.ok(aDevice.id && aGateway.id);
  const bDevice = (await api.request('POST', '/api/v6/devices', { token: b.token, json: { dev_eui: '70B3D5E75E00BB01', device_type: 'sensor' } })).body;
  const snap = async () => ({
    devices: (await api.db.owner.query(`SELECT to_jsonb(x) AS row FROM devices x WHERE tenant_id = $1 ORDER BY id`, [a.user.tenant_id])).rows,
    gateways: (await api.db.owner.query(`SELECT to_jsonb(x) AS row FROM gateways x WHERE tenant_id = $1 ORDER BY id`, [a.user.tenant_id])).rows,
    assignments: (await api.db.owner.query(`SELECT to_jsonb(x) AS row FROM device_assignments x WHERE tenant_id = $1 ORDER BY id`, [a.user.tenant_id])).rows,
  });
  const before = await snap();
  const secrets = [aDevice.id, aGateway.id, aSpace.id, a.user.tenant_id, 'A sensor', 'A roof', '70B3D5E75E00AA01'];
  const leaks = (body: unknown) => secrets.filter((s) => JSON.stringify(body ?? '').includes(s));

  // By path where one method and tag have several routes with different bodies.
  const bodyFor: Record<string, unknown> = {
    '/api/v6/devices/:id/chirpstack-application': { chirpstack_application_id: '3d4e5f60-2222-4aaa-8bbb-000000000002' },
  };
  const bodies: Record<string, unknown> = {
    'put devices': { name: 'hijacked' },
    'patch devices': { name: 'hijacked', enabled: false },
    'post devices': { space_id: aSpace.id, reason: 'x' },
    'put gateways': { name: 'hijacked' },
  };
  const ids: Record<string, string> = { devices: aDevice.id, gateways: aGateway.id };
  const routes = allRoutes({ config: api.config, pool: api.db.app, log: createLogger('silent', 'test') }).filter(
    (r) => (r.tag === 'devices' || r.tag === 'gateways') && r.path.includes(':id'),
  );
  // At least the twelve written with this test; routes added later (downlinks, …) are swept
  // too, and tenant-walk.test.ts walks every route of the OpenAPI document.
  t.ok(routes.length >= 12, `every device and gateway route with an id is swept (${routes.length})`);
  for (const r of routes) {
    const path = r.path.replace(':id', ids[r.tag]!);
    const res = await api.request(r.method.toUpperCase(), path, { token: b.token, json: bodyFor[r.path] ?? bodies[`${r.method} ${r.tag}`] });
    t.equal(res.status, 404, `B ${r.method.toUpperCase()} ${path}`);
    t.equal(res.body?.error?.code, 'not_found');
    t.same(leaks(res.body), [], 'no trace of A');
  }
  const byEui = await api.request('GET', '/api/v6/devices/by-eui/70B3D5E75E00AA01', { token: b.token });
  t.equal(byEui.status, 404, "B cannot look up A's DevEUI");
  for (const path of ['/api/v6/devices', '/api/v6/devices/sensors', '/api/v6/devices/displays', '/api/v6/gateways', `/api/v6/devices?site_id=${aSpace.site_id}`, '/api/v6/devices?q=AA01']) {
    const res = await api.request('GET', path, { token: b.token });
    t.equal(res.status, 200, `B GET ${path}`);
    t.same(leaks(res.body), [], `${path} shows nothing of A`);
  }
  const intoA = await api.request('POST', `/api/v6/devices/${bDevice.id}/assign`, { token: b.token, json: { space_id: aSpace.id } });
  t.equal(intoA.status, 400, "B cannot assign its device to A's space");
  t.same(leaks(intoA.body), []);
  const taken = await api.request('POST', '/api/v6/devices', { token: b.token, json: { dev_eui: '70B3D5E75E00AA01', device_type: 'sensor' } });
  t.equal(taken.status, 409, 'a DevEUI belongs to one tenant at a time');
  t.same(leaks(taken.body), [], 'the conflict does not say whose');
  const sameGw = await api.request('POST', '/api/v6/gateways', { token: b.token, json: { gateway_eui: 'AA555A00000000AA', name: 'B view' } });
  t.equal(sameGw.status, 201, "gateways are per tenant: B's view of the same gateway is its own");
  t.same(await snap(), before, "A's devices, gateways and history are unchanged");
});
