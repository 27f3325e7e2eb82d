// Spaces: CRUD, filters and pagination, the operator's part of the state, and counts per state.
import t from 'tap';
import { testApi, type TestApi } from '../helpers/api.js';

const SPACE_KEYS = [
  'auto_release_minutes', 'code', 'config', 'created_at', 'current_state', 'display_device_id', 'display_name',
  'display_state', 'enabled', 'id', 'name', 'sensor_device_id', 'sensor_state', 'site_id', 'state_changed_at',
  'tenant_id', 'updated_at',
];

async function defaultSite(api: TestApi, token: string): Promise<string> {
  const sites = await api.request('GET', '/api/v6/sites', { token });
  return sites.body.items.find((s: { is_default: boolean }) => s.is_default).id;
}

/** What a sensor would do (ingest writes these columns): the API never sets them. */
async function sensorSays(api: TestApi, spaceId: string, state: 'free' | 'occupied' | 'unknown'): Promise<void> {
  await api.db.owner.query(
    `UPDATE spaces SET sensor_state = $2,
            current_state = CASE WHEN maintenance OR NOT enabled THEN 'maintenance' ELSE $2 END
      WHERE id = $1`,
    [spaceId, state],
  );
}

t.test('create in the default site, get, patch, put, duplicate code, soft delete', async (t) => {
  const api = await testApi(t);
  const { token, user } = await api.register('acme');
  const home = await defaultSite(api, token);
  const north = (await api.request('POST', '/api/v6/sites', { token, json: { name: 'North' } })).body.id;

  const created = await api.request('POST', '/api/v6/spaces', { token, json: { code: 'A1' } });
  t.equal(created.status, 201);
  const a1 = created.body;
  t.same(Object.keys(a1).sort(), SPACE_KEYS);
  t.match(a1, {
    tenant_id: user.tenant_id, site_id: home, code: 'A1', name: null, display_name: null, enabled: true,
    auto_release_minutes: null, config: {}, current_state: 'unknown', sensor_state: 'unknown', display_state: null,
    sensor_device_id: null, display_device_id: null,
  });
  t.type(a1.state_changed_at, 'string');

  const full = await api.request('POST', '/api/v6/spaces', {
    token,
    json: { site_id: north, code: 'A1', name: 'North A1', display_name: 'A-1', auto_release_minutes: 30, config: { ev: true } },
  });
  t.equal(full.status, 201, 'the same code in another site is fine');
  t.match(full.body, { site_id: north, code: 'A1', name: 'North A1', display_name: 'A-1', auto_release_minutes: 30, config: { ev: true } });

  const dup = await api.request('POST', '/api/v6/spaces', { token, json: { site_id: home, code: 'A1' } });
  t.equal(dup.status, 409);
  t.equal(dup.body.error.code, 'conflict');
  t.match(dup.body.error.message, /code already exists/);

  const got = await api.request('GET', `/api/v6/spaces/${a1.id}`, { token });
  t.equal(got.status, 200);
  t.same(got.body, a1);

  const patched = await api.request('PATCH', `/api/v6/spaces/${full.body.id}`, { token, json: { name: 'N1', display_name: null } });
  t.equal(patched.status, 200);
  t.match(patched.body, { name: 'N1', display_name: null, code: 'A1', auto_release_minutes: 30, config: { ev: true }, site_id: north }, 'PATCH keeps what it leaves out');
  t.equal(patched.body.state_changed_at, full.body.state_changed_at, 'no state change, no new state_changed_at');

  const put = await api.request('PUT', `/api/v6/spaces/${full.body.id}`, { token, json: { code: 'N-1' } });
  t.equal(put.status, 200);
  t.match(put.body, { code: 'N-1', name: null, display_name: null, auto_release_minutes: null, config: {}, enabled: true, site_id: north }, 'PUT resets what it leaves out, but not the site');

  const moveClash = await api.request('PATCH', `/api/v6/spaces/${a1.id}`, { token, json: { site_id: north, code: 'N-1' } });
  t.equal(moveClash.status, 409, 'moving onto a code the target site has');
  const moved = await api.request('PATCH', `/api/v6/spaces/${a1.id}`, { token, json: { site_id: north } });
  t.equal(moved.status, 200);
  t.equal(moved.body.site_id, north);

  const nowhere = '00000000-0000-4000-8000-000000000000';
  for (const [method, path, json] of [
    ['POST', '/api/v6/spaces', { site_id: nowhere, code: 'Z' }],
    ['PATCH', `/api/v6/spaces/${a1.id}`, { site_id: nowhere }],
    ['PUT', `/api/v6/spaces/${a1.id}`, { site_id: nowhere, code: 'A1' }],
  ] as const) {
    const r = await api.request(method, path, { token, json });
    t.equal(r.status, 404, `${method} into an unknown site`);
    t.match(r.body.error, { code: 'not_found', message: /Site not found.*body\.site_id/ });
  }
  const gone = (await api.request('POST', '/api/v6/sites', { token, json: { name: 'Gone' } })).body.id;
  t.equal((await api.request('DELETE', `/api/v6/sites/${gone}`, { token })).status, 200);
  const intoDeleted = await api.request('POST', '/api/v6/spaces', { token, json: { site_id: gone, code: 'Z' } });
  t.equal(intoDeleted.status, 404, 'a deleted site takes no spaces');
  t.match(intoDeleted.body.error.message, /body\.site_id/);

  const del = await api.request('DELETE', `/api/v6/spaces/${a1.id}`, { token });
  t.equal(del.status, 200);
  t.same(del.body, { status: 'deleted', id: a1.id });
  t.equal((await api.request('GET', `/api/v6/spaces/${a1.id}`, { token })).status, 404);
  t.equal((await api.request('PATCH', `/api/v6/spaces/${a1.id}`, { token, json: { name: 'x' } })).status, 404);
  t.equal((await api.request('DELETE', `/api/v6/spaces/${a1.id}`, { token })).status, 404);
  const listed = await api.request('GET', '/api/v6/spaces', { token });
  t.same(listed.body.items.map((s: { id: string }) => s.id), [full.body.id], 'a deleted space no longer lists');
  t.equal(listed.body.total, 1);
  const row = await api.db.owner.query('SELECT deleted_at, code FROM spaces WHERE id = $1', [a1.id]);
  t.ok(row.rows[0].deleted_at, 'soft-deleted: the row stays');
  t.equal((await api.request('POST', '/api/v6/spaces', { token, json: { site_id: north, code: 'A1' } })).status, 201, 'its code is free again');

  t.equal((await api.request('GET', '/api/v6/spaces/not-a-uuid', { token })).status, 404);
});

t.test('no default site: site_id is required', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  t.equal((await api.request('DELETE', `/api/v6/sites/${await defaultSite(api, token)}`, { token })).status, 200);
  const r = await api.request('POST', '/api/v6/spaces', { token, json: { code: 'A1' } });
  t.equal(r.status, 400);
  t.equal(r.body.error.details[0].field, 'body.site_id');
});

t.test('body validation names the field', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const cases: [unknown, string][] = [
    [{}, 'body.code'],
    [{ code: '' }, 'body.code'],
    [{ code: 'A', auto_release_minutes: 0 }, 'body.auto_release_minutes'],
    [{ code: 'A', auto_release_minutes: 1441 }, 'body.auto_release_minutes'],
    [{ code: 'A', enabled: 'yes' }, 'body.enabled'],
    [{ code: 'A', site_id: 'nope' }, 'body.site_id'],
    [{ code: 'A', current_state: 'parked' }, 'body.current_state'],
    [{ code: 'A', config: [] }, 'body.config'],
  ];
  for (const [json, field] of cases) {
    const r = await api.request('POST', '/api/v6/spaces', { token, json });
    t.equal(r.status, 400, JSON.stringify(json));
    t.ok(r.body.error?.details.some((d: { field: string }) => d.field === field), `details name ${field}`);
  }
  t.equal((await api.request('GET', '/api/v6/spaces', { token })).body.total, 0, 'nothing was created');
});

t.test('list: filters, pagination and the trailing slash', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const home = await defaultSite(api, token);
  const north = (await api.request('POST', '/api/v6/sites', { token, json: { name: 'North' } })).body.id;
  const ids: string[] = [];
  const make = async (json: Record<string, unknown>) => {
    const r = await api.request('POST', '/api/v6/spaces', { token, json });
    t.equal(r.status, 201);
    ids.push(r.body.id);
    return r.body.id as string;
  };
  for (let i = 1; i <= 4; i++) await make({ code: `H${i}` });
  const disabled = await make({ code: 'H5', enabled: false });
  for (let i = 1; i <= 2; i++) await make({ site_id: north, code: `N${i}` });
  const flagged = await make({ site_id: north, code: 'N3', current_state: 'maintenance' });
  await sensorSays(api, ids[0]!, 'occupied');
  await sensorSays(api, ids[5]!, 'free');

  const query = async (qs: string) => {
    const r = await api.request('GET', `/api/v6/spaces?${qs}`, { token });
    t.equal(r.status, 200, qs);
    return r.body as { items: { id: string; site_id: string }[]; total: number; page: number; page_size: number };
  };
  const bySite = await query(`site_id=${north}`);
  t.equal(bySite.total, 3);
  t.ok(bySite.items.every((s) => s.site_id === north));
  t.same((await query('current_state=maintenance')).items.map((s) => s.id), [disabled, flagged]);
  t.same((await query('current_state=occupied')).items.map((s) => s.id), [ids[0]]);
  t.same((await query(`current_state=free&site_id=${north}`)).items.map((s) => s.id), [ids[5]]);
  t.same((await query(`current_state=free&site_id=${home}`)).items, [], 'filters combine');
  t.same((await query('enabled=false')).items.map((s) => s.id), [disabled]);
  t.equal((await query('enabled=true')).total, 7);

  const all = await query('');
  t.match(all, { total: 8, page: 1, page_size: 100 });
  t.same(all.items.map((s) => s.id), ids, 'in creation order');
  const pages: string[] = [];
  for (const [page, count] of [[1, 3], [2, 3], [3, 2], [4, 0], [40, 0]] as const) {
    const p = await query(`page=${page}&page_size=3`);
    t.match(p, { total: 8, page, page_size: 3 }, `page ${page} keeps the total`);
    t.equal(p.items.length, count, `page ${page}`);
    pages.push(...p.items.map((s) => s.id));
  }
  t.same(pages, ids, 'pages cover every space once');
  const beyondFiltered = await query(`site_id=${north}&page=2&page_size=3`);
  t.match(beyondFiltered, { total: 3, items: [] });

  const slash = await api.request('GET', '/api/v6/spaces/', { token });
  t.equal(slash.status, 200, 'trailing slash');
  t.equal(slash.body.total, 8);
  const slashQuery = await api.request('GET', `/api/v6/spaces/?site_id=${north}`, { token });
  t.equal(slashQuery.body.total, 3, 'trailing slash keeps the query');
  const slashPost = await api.request('POST', '/api/v6/spaces/', { token, json: { code: 'S1' } });
  t.equal(slashPost.status, 201, 'POST with a trailing slash');

  for (const [qs, field] of [
    ['page_size=501', 'query.page_size'],
    ['page_size=0', 'query.page_size'],
    ['page=0', 'query.page'],
    ['current_state=parked', 'query.current_state'],
    ['site_id=nope', 'query.site_id'],
    ['enabled=maybe', 'query.enabled'],
  ] as const) {
    const r = await api.request('GET', `/api/v6/spaces?${qs}`, { token });
    t.equal(r.status, 400, qs);
    t.equal(r.body.error?.details[0]?.field, field);
  }
  t.equal((await query('page_size=500')).page_size, 500, 'the maximum page size is allowed');
});

t.test('maintenance on and off, enabled, and states that only sensors set', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const space = (await api.request('POST', '/api/v6/spaces', { token, json: { code: 'A1' } })).body;
  const patch = async (json: Record<string, unknown>, status = 200) => {
    const r = await api.request('PATCH', `/api/v6/spaces/${space.id}`, { token, json });
    t.equal(r.status, status, JSON.stringify(json));
    return r.body;
  };
  const flags = async () =>
    (await api.db.owner.query('SELECT maintenance, enabled FROM spaces WHERE id = $1', [space.id])).rows[0];

  for (const state of ['occupied', 'free', 'reserved']) {
    const r = await patch({ current_state: state }, 400);
    t.equal(r.error.details[0].field, 'body.current_state');
    t.match(r.error.message, /only maintenance can be set; other states come from sensors and reservations/);
  }
  t.equal((await api.request('POST', '/api/v6/spaces', { token, json: { code: 'B1', current_state: 'occupied' } })).status, 400);
  t.equal((await patch({ current_state: 'unknown' })).current_state, 'unknown', 'the state it already has is a no-op');

  await sensorSays(api, space.id, 'occupied');
  const before = (await api.request('GET', `/api/v6/spaces/${space.id}`, { token })).body;
  t.equal(before.current_state, 'occupied');

  const on = await patch({ current_state: 'maintenance' });
  t.equal(on.current_state, 'maintenance');
  t.ok(new Date(on.state_changed_at) > new Date(before.state_changed_at), 'state_changed_at moves with the state');
  t.same(await flags(), { maintenance: true, enabled: true });

  const renamed = await patch({ name: 'still down' });
  t.equal(renamed.current_state, 'maintenance', 'unrelated edits keep maintenance');
  t.equal(renamed.state_changed_at, on.state_changed_at);
  const replaced = await api.request('PUT', `/api/v6/spaces/${space.id}`, { token, json: { code: 'A1' } });
  t.equal(replaced.body.current_state, 'maintenance', 'PUT without current_state keeps the flag');

  await sensorSays(api, space.id, 'occupied');
  const off = await patch({ current_state: 'free' });
  t.equal(off.current_state, 'occupied', 'leaving maintenance, the sensor decides');
  t.ok(new Date(off.state_changed_at) > new Date(on.state_changed_at));
  t.same(await flags(), { maintenance: false, enabled: true });

  const disabled = await patch({ enabled: false });
  t.equal(disabled.current_state, 'maintenance', 'a disabled space is in maintenance');
  t.equal(disabled.enabled, false);
  t.same(await flags(), { maintenance: false, enabled: false });
  t.equal((await patch({ current_state: 'free' })).current_state, 'maintenance', 'still disabled');
  await sensorSays(api, space.id, 'free');
  const enabled = await patch({ enabled: true });
  t.equal(enabled.current_state, 'free');

  await patch({ current_state: 'maintenance', enabled: false });
  t.same(await flags(), { maintenance: true, enabled: false });
  t.equal((await patch({ enabled: true })).current_state, 'maintenance', 'enabling keeps the operator flag');
  await sensorSays(api, space.id, 'unknown');
  t.equal((await patch({ current_state: 'unknown' })).current_state, 'unknown', 'no sensor word: unknown');

  await patch({ enabled: false });
  const putBack = await api.request('PUT', `/api/v6/spaces/${space.id}`, { token, json: { code: 'A1' } });
  t.match(putBack.body, { enabled: true, current_state: 'unknown' }, 'PUT without enabled enables');

  const bornDisabled = await api.request('POST', '/api/v6/spaces', { token, json: { code: 'C1', enabled: false } });
  t.match(bornDisabled.body, { current_state: 'maintenance', enabled: false });
  const bornFlagged = await api.request('POST', '/api/v6/spaces', { token, json: { code: 'C2', current_state: 'maintenance' } });
  t.match(bornFlagged.body, { current_state: 'maintenance', enabled: true });
  const consistent = await api.db.owner.query(
    `SELECT count(*)::int AS n FROM spaces WHERE (current_state = 'maintenance') <> (maintenance OR NOT enabled)`,
  );
  t.equal(consistent.rows[0].n, 0, 'maintenance state and flags agree everywhere');

  // Regression: operator changes used to write the state directly, so live clients and
  // webhooks never heard of them. They are state-machine inputs with their own events.
  const events = await api.db.owner.query(
    `SELECT from_state AS "from", to_state AS "to", cause FROM space_events WHERE space_id = $1 ORDER BY id LIMIT 4`,
    [space.id],
  );
  t.same(
    events.rows,
    [
      { from: 'occupied', to: 'maintenance', cause: 'maintenance_on' },
      { from: 'maintenance', to: 'occupied', cause: 'maintenance_off' },
      { from: 'occupied', to: 'maintenance', cause: 'maintenance_on' },
      { from: 'maintenance', to: 'free', cause: 'maintenance_off' },
    ],
    'entering and leaving maintenance are space events',
  );
});

t.test('stats: counts per state, overall and per site', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const home = await defaultSite(api, token);
  const north = (await api.request('POST', '/api/v6/sites', { token, json: { name: 'North' } })).body.id;
  const empty = (await api.request('POST', '/api/v6/sites', { token, json: { name: 'Empty' } })).body.id;
  const make = async (json: Record<string, unknown>) => (await api.request('POST', '/api/v6/spaces', { token, json })).body.id as string;

  await sensorSays(api, await make({ code: 'H1' }), 'occupied');
  await make({ code: 'H2' });
  const reserved = await make({ code: 'H3' });
  await api.db.owner.query(`UPDATE spaces SET current_state = 'reserved' WHERE id = $1`, [reserved]);
  await sensorSays(api, await make({ site_id: north, code: 'N1' }), 'free');
  await sensorSays(api, await make({ site_id: north, code: 'N2' }), 'occupied');
  await make({ site_id: north, code: 'N3', enabled: false });
  const deleted = await make({ site_id: north, code: 'N4' });
  await sensorSays(api, deleted, 'occupied');
  t.equal((await api.request('DELETE', `/api/v6/spaces/${deleted}`, { token })).status, 200);

  const other = await api.register('other');
  await api.request('POST', '/api/v6/spaces', { token: other.token, json: { code: 'X1' } });

  const r = await api.request('GET', '/api/v6/spaces/stats', { token });
  t.equal(r.status, 200, '"stats" is not taken for an id');
  t.same(r.body, {
    total: 6,
    by_state: { free: 1, occupied: 2, reserved: 1, maintenance: 1, unknown: 1 },
    sites: [
      { site_id: home, site_name: 'Default site', total: 3, by_state: { free: 0, occupied: 1, reserved: 1, maintenance: 0, unknown: 1 }, occupancy_percent: 33.3 },
      { site_id: north, site_name: 'North', total: 3, by_state: { free: 1, occupied: 1, reserved: 0, maintenance: 1, unknown: 0 }, occupancy_percent: 50 },
      { site_id: empty, site_name: 'Empty', total: 0, by_state: { free: 0, occupied: 0, reserved: 0, maintenance: 0, unknown: 0 }, occupancy_percent: 0 },
    ],
  });
  t.equal((await api.request('GET', '/api/v6/spaces/stats/', { token })).status, 200, 'trailing slash');
});

t.test('deleting a space cancels the reservations that still hold it', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const space = (await api.request('POST', '/api/v6/spaces', { token, json: { code: 'D1' } })).body;
  const at = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();
  const reserve = async (from: number, to: number) =>
    (await api.request('POST', '/api/v6/reservations', { token, json: { space_id: space.id, start_time: at(from), end_time: at(to) } })).body;
  const pending = await reserve(2, 3);
  const active = await reserve(0, 1);
  t.equal(active.status, 'active', 'a window already begun holds the space');
  t.equal((await api.request('DELETE', `/api/v6/spaces/${space.id}`, { token })).status, 200);
  for (const r of [pending, active]) {
    const now = (await api.request('GET', `/api/v6/reservations/${r.id}`, { token })).body;
    t.match(now, { status: 'cancelled', cancellation_reason: 'space deleted' }, `the ${r.status} one is cancelled`);
  }
});
