// Sites: a tenant's parking locations, each with its own time zone.
import t from 'tap';
import { testApi } from '../helpers/api.js';

t.test('registration creates the default site', async (t) => {
  const api = await testApi(t);
  const { token, user } = await api.register('acme');
  const list = await api.request('GET', '/api/v6/sites', { token });
  t.equal(list.status, 200);
  t.match(list.body, { total: 1, page: 1, page_size: 100 });
  t.match(list.body.items[0], { tenant_id: user.tenant_id, name: 'Default site', timezone: 'UTC', is_default: true, location: null, config: {} });
});

t.test('create, get, patch, put, delete', async (t) => {
  const api = await testApi(t);
  const { token, user } = await api.register('acme');

  const created = await api.request('POST', '/api/v6/sites', {
    token,
    json: { name: 'North garage', address: '1 Main St', timezone: 'Europe/Paris', location: { lat: 48.85, lon: 2.35 }, config: { levels: 3 } },
  });
  t.equal(created.status, 201);
  const site = created.body;
  t.match(site, {
    tenant_id: user.tenant_id, name: 'North garage', address: '1 Main St', timezone: 'Europe/Paris',
    location: { lat: 48.85, lon: 2.35 }, config: { levels: 3 }, is_default: false,
  });
  t.same(Object.keys(site).sort(), ['address', 'config', 'created_at', 'id', 'is_default', 'location', 'name', 'tenant_id', 'timezone', 'updated_at']);

  const got = await api.request('GET', `/api/v6/sites/${site.id}`, { token });
  t.equal(got.status, 200);
  t.same(got.body, site);

  const patched = await api.request('PATCH', `/api/v6/sites/${site.id}`, { token, json: { address: null, name: 'North' } });
  t.equal(patched.status, 200);
  t.match(patched.body, { name: 'North', address: null, timezone: 'Europe/Paris', location: { lat: 48.85, lon: 2.35 }, config: { levels: 3 } }, 'PATCH keeps what it leaves out');

  const put = await api.request('PUT', `/api/v6/sites/${site.id}`, { token, json: { name: 'North again' } });
  t.equal(put.status, 200);
  t.match(put.body, { name: 'North again', address: null, timezone: 'UTC', location: null, config: {} }, 'PUT resets what it leaves out');

  const del = await api.request('DELETE', `/api/v6/sites/${site.id}`, { token });
  t.equal(del.status, 200);
  t.same(del.body, { status: 'deleted', id: site.id });
  t.equal((await api.request('GET', `/api/v6/sites/${site.id}`, { token })).status, 404);
  t.equal((await api.request('DELETE', `/api/v6/sites/${site.id}`, { token })).status, 404);
  t.equal((await api.request('PATCH', `/api/v6/sites/${site.id}`, { token, json: { name: 'x' } })).status, 404);
  t.equal((await api.request('GET', '/api/v6/sites', { token })).body.total, 1, 'a deleted site no longer lists');
  const row = await api.db.owner.query('SELECT deleted_at FROM sites WHERE id = $1', [site.id]);
  t.ok(row.rows[0].deleted_at, 'soft-deleted: the row stays');

  t.equal((await api.request('GET', '/api/v6/sites/not-a-uuid', { token })).status, 404);
});

t.test('validation names the field', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const site = (await api.request('POST', '/api/v6/sites', { token, json: { name: 'S' } })).body;
  const cases: [string, string, unknown, string][] = [
    ['POST', '/api/v6/sites', { name: 'S', timezone: 'Mars/Olympus_Mons' }, 'body.timezone'],
    ['PATCH', `/api/v6/sites/${site.id}`, { timezone: 'Not/AZone' }, 'body.timezone'],
    ['PUT', `/api/v6/sites/${site.id}`, { name: 'S', timezone: 'utc+25' }, 'body.timezone'],
    ['POST', '/api/v6/sites', { name: 'S', location: { lat: 91, lon: 0 } }, 'body.location.lat'],
    ['POST', '/api/v6/sites', { name: 'S', location: { lat: 1 } }, 'body.location.lon'],
    ['POST', '/api/v6/sites', { name: '' }, 'body.name'],
    ['POST', '/api/v6/sites', {}, 'body.name'],
    ['PUT', `/api/v6/sites/${site.id}`, { address: 'x' }, 'body.name'],
  ];
  for (const [method, path, json, field] of cases) {
    const r = await api.request(method, path, { token, json });
    t.equal(r.status, 400, `${method} ${JSON.stringify(json)}`);
    t.equal(r.body.error?.code, 'validation_error');
    t.ok(r.body.error?.details.some((d: { field: string }) => d.field === field), `details name ${field}`);
  }
  t.equal((await api.request('GET', `/api/v6/sites/${site.id}`, { token })).body.timezone, 'UTC', 'refused writes changed nothing');
});

t.test('pagination keeps the total, default site first', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  for (let i = 1; i <= 5; i++) {
    t.equal((await api.request('POST', '/api/v6/sites', { token, json: { name: `Site ${i}` } })).status, 201);
  }
  const seen: string[] = [];
  for (const [page, count] of [[1, 4], [2, 2], [3, 0]] as const) {
    const r = await api.request('GET', `/api/v6/sites?page=${page}&page_size=4`, { token });
    t.equal(r.status, 200);
    t.match(r.body, { total: 6, page, page_size: 4 });
    t.equal(r.body.items.length, count, `page ${page}`);
    seen.push(...r.body.items.map((s: { name: string }) => s.name));
  }
  t.same(seen, ['Default site', 'Site 1', 'Site 2', 'Site 3', 'Site 4', 'Site 5'], 'every site once, in creation order after the default');
  const tooBig = await api.request('GET', '/api/v6/sites?page_size=501', { token });
  t.equal(tooBig.status, 400);
  t.equal(tooBig.body.error.details[0].field, 'query.page_size');
  t.equal((await api.request('GET', '/api/v6/sites?page=0', { token })).status, 400);
});

t.test('a site that holds spaces cannot be deleted', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const site = (await api.request('POST', '/api/v6/sites', { token, json: { name: 'S' } })).body;
  const space = (await api.request('POST', '/api/v6/spaces', { token, json: { site_id: site.id, code: 'A1' } })).body;
  const refused = await api.request('DELETE', `/api/v6/sites/${site.id}`, { token });
  t.equal(refused.status, 409);
  t.equal(refused.body.error.code, 'conflict');
  t.equal((await api.request('GET', `/api/v6/sites/${site.id}`, { token })).status, 200, 'still there');

  t.equal((await api.request('DELETE', `/api/v6/spaces/${space.id}`, { token })).status, 200);
  t.equal((await api.request('DELETE', `/api/v6/sites/${site.id}`, { token })).status, 200, 'deleted spaces do not hold the site');
});
