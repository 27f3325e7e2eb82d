// Dashboard and signage: the overview's counts and health, a site's occupancy for signs
// (with zones), and that neither shows anything of another tenant.
import t from 'tap';
import { testApi, type TestApi } from '../helpers/api.js';
import { sseConnect } from '../helpers/sse.js';
import { withTx } from '../../src/db/tx.js';
import { applySpaceInput } from '../../src/space-transitions.js';

const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000);

async function setupTenant(api: TestApi, slug: string) {
  const { token, user } = await api.register(slug);
  const tenantId: string = user.tenant_id;
  const home = (await api.request('GET', '/api/v6/sites', { token })).body.items[0].id;
  const space = async (code: string, json: Record<string, unknown> = {}) =>
    (await api.request('POST', '/api/v6/spaces', { token, json: { code, ...json } })).body.id as string;
  let fCnt = 0;
  const sensor = (spaceId: string, occupied: boolean, at?: Date) =>
    withTx(api.db.app, { tenantId }, (c) =>
      applySpaceInput(c, tenantId, spaceId, { type: 'sensor', kind: 'status', occupied, frame: { fCnt: ++fCnt, at: at ?? new Date() }, lastFrame: null }, { at }),
    );
  return { token, tenantId, home, space, sensor };
}

t.test('dashboard data', async (t) => {
  const api = await testApi(t);
  const a = await setupTenant(api, 'dash-a');
  const b = await setupTenant(api, 'dash-b');
  const north = (await api.request('POST', '/api/v6/sites', { token: a.token, json: { name: 'North' } })).body.id;

  // Spaces: home A1 occupied, A2 free, A3 unknown, A4 maintenance; north N1 occupied.
  const a1 = await a.space('A1');
  const a2 = await a.space('A2');
  await a.space('A3');
  await a.space('A4', { current_state: 'maintenance' });
  const n1 = await a.space('N1', { site_id: north });
  // 25 events on A1/A2 so recent_activity has to pick the newest 20.
  for (let i = 0; i < 12; i++) {
    await a.sensor(a1, i % 2 === 0);
    await a.sensor(a2, i % 2 === 1);
  }
  await a.sensor(a1, true);
  await a.sensor(a2, false);
  await a.sensor(n1, true);
  await withTx(api.db.app, { tenantId: a.tenantId }, (c) => applySpaceInput(c, a.tenantId, n1, { type: 'comms_lost' }));
  await a.sensor(n1, true);
  // B: one space, occupied, plus devices, gateways and dead letters that must not count for A.
  const b1 = await b.space('B1');
  await b.sensor(b1, true);

  // Devices of A: online (seen 5 min ago), stale (seen 2 days ago), never seen, flagged offline,
  // low battery by level (10 %) and by flag.
  const device = async (who: typeof a, eui: string, set: Record<string, unknown>) => {
    const r = await api.request('POST', '/api/v6/devices', { token: who.token, json: { dev_eui: eui, device_type: 'sensor' } });
    const cols = Object.keys(set);
    if (cols.length) {
      await api.db.owner.query(`UPDATE devices SET ${cols.map((c, i) => `${c} = $${i + 2}`).join(', ')} WHERE id = $1`, [r.body.id, ...Object.values(set)]);
    }
    return r.body.id as string;
  };
  await device(a, '0000000000000A01', { last_seen_at: ago(5), battery: 80 });
  await device(a, '0000000000000A02', { last_seen_at: ago(2 * 24 * 60), battery: 10 });
  await device(a, '0000000000000A03', {});
  await device(a, '0000000000000A04', { last_seen_at: ago(1), status: 'offline', low_battery: true });
  const assigned = await device(a, '0000000000000A05', { last_seen_at: ago(3) });
  await api.request('POST', `/api/v6/devices/${assigned}/assign`, { token: a.token, json: { space_id: a2 } });
  await device(b, '0000000000000B01', { last_seen_at: ago(1), battery: 5 });

  // Gateways: A has one heard 2 minutes ago and one 30 minutes ago (offline after 10); B one.
  const gw = (tenantId: string, eui: string, seen: Date) =>
    api.db.owner.query('INSERT INTO gateways (tenant_id, gateway_eui, last_seen_at) VALUES ($1, $2, $3)', [tenantId, eui, seen]);
  await gw(a.tenantId, '00000000000000A1', ago(2));
  await gw(a.tenantId, '00000000000000A2', ago(30));
  await gw(b.tenantId, '00000000000000B1', ago(1));

  // Dead letters: A one 10 minutes ago and one 2 hours ago; B one; one untenanted.
  const dl = (tenantId: string | null, at: Date) =>
    api.db.owner.query(`INSERT INTO dead_letters (tenant_id, topic, payload, payload_size, reason, error, received_at) VALUES ($1, 't', '\\x00', 1, 'r', 'e', $2)`, [tenantId, at]);
  await dl(a.tenantId, ago(10));
  await dl(a.tenantId, ago(120));
  await dl(b.tenantId, ago(5));
  await dl(null, ago(5));

  const stream = await sseConnect(api.url, '/api/v6/events', { token: a.token });
  t.teardown(() => stream.close());
  const r = await api.request('GET', '/api/v6/dashboard/data', { token: a.token });
  t.equal(r.status, 200);
  const d = r.body;
  t.same(Object.keys(d).sort(), ['devices', 'gateways', 'generated_at', 'recent_activity', 'spaces', 'system_health']);
  t.same(d.devices, {
    total: 5,
    by_status: { unassigned: 3, assigned: 1, offline: 1, maintenance: 0 },
    // A01 (5 min) and A05 (3 min) are online; A04 was heard a minute ago but is marked offline.
    online: 2,
    offline: 2, // A02 (2 days, beyond DEVICE_OFFLINE_MINUTES = 1500) and A04
    never_seen: 1, // A03
    low_battery: 2, // A02 at 10 % ≤ 20 %, A04 by its flag
  }, 'devices');
  t.same(d.gateways, { total: 2, online: 1, offline: 1 });
  t.match(d.spaces, {
    total: 5,
    by_state: { occupied: 2, free: 1, unknown: 1, maintenance: 1, reserved: 0 },
    // occupied 2 of the 4 in service (A4 is in maintenance)
    occupancy_percent: 50,
  });
  const homeStats = d.spaces.sites.find((s: any) => s.site_id === a.home);
  t.match(homeStats, { total: 4, by_state: { occupied: 1, free: 1, unknown: 1, maintenance: 1 }, occupancy_percent: 33.3 });
  t.match(d.spaces.sites.find((s: any) => s.site_id === north), { total: 1, occupancy_percent: 100 });

  const events = (await api.db.owner.query('SELECT id, cause FROM space_events WHERE tenant_id = $1 ORDER BY id DESC LIMIT 20', [a.tenantId])).rows;
  t.equal(d.recent_activity.length, 20);
  t.same(d.recent_activity.map((e: any) => e.id), events.map((e) => Number(e.id)), 'the 20 newest, newest first');
  t.match(d.recent_activity[0], { space_id: n1, code: 'N1', to: 'occupied', type: 'space_state' });
  t.match(d.recent_activity[1], { space_id: n1, cause: 'comms_lost', type: 'device_health' });

  t.equal(d.system_health.dead_letters_last_hour, 1, "only A's dead letter of the last hour");
  const newest = (await api.db.owner.query('SELECT max(last_seen_at) AS m FROM devices WHERE tenant_id = $1', [a.tenantId])).rows[0].m;
  t.equal(Date.parse(d.system_health.last_uplink_at), newest.getTime(), 'the newest device uplink');
  t.same(d.system_health.live, { listener_connected: true, clients: 1 }, "A's one live client");
  t.ok(Math.abs(Date.parse(d.generated_at) - Date.now()) < 60_000);

  const bView = (await api.request('GET', '/api/v6/dashboard/data', { token: b.token })).body;
  t.match(bView, {
    devices: { total: 1, low_battery: 1 }, gateways: { total: 1 }, spaces: { total: 1 },
    system_health: { dead_letters_last_hour: 1, live: { clients: 0 } },
  });
  t.same(bView.recent_activity.map((e: any) => e.space_id), [b1], 'B sees only its own activity');
});

t.test('site occupancy for signs', async (t) => {
  const api = await testApi(t);
  const a = await setupTenant(api, 'sign-a');
  const b = await setupTenant(api, 'sign-b');
  const site = (await api.request('POST', '/api/v6/sites', { token: a.token, json: { name: 'Garage' } })).body.id;
  const empty = (await api.request('POST', '/api/v6/sites', { token: a.token, json: { name: 'Empty' } })).body.id;
  const ids: Record<string, string> = {};
  for (const [code, zone] of [['L1', 'level-1'], ['L2', 'level-1'], ['L3', 'level-1'], ['U1', 'level-2'], ['U2', 'level-2'], ['X1', null]] as const) {
    ids[code] = await a.space(code, { site_id: site, ...(zone ? { config: { zone } } : {}) });
  }
  await a.space('M1', { site_id: site, current_state: 'maintenance', config: { zone: 'level-2' } });
  await a.space('H1'); // another site of A
  await a.sensor(ids.L1!, true);
  await a.sensor(ids.L2!, true);
  await a.sensor(ids.L3!, false);
  const last = new Date(Date.now() - 1_000);
  await a.sensor(ids.U1!, true, last);
  await api.db.owner.query(`UPDATE spaces SET current_state = 'reserved' WHERE id = $1`, [ids.U2]);
  await api.db.owner.query(`UPDATE spaces SET state_changed_at = now() - interval '1 hour' WHERE site_id = $1 AND id <> $2`, [site, ids.U1]);

  const r = await api.request('GET', `/api/v6/sites/${site}/occupancy`, { token: a.token });
  t.equal(r.status, 200);
  t.equal(r.headers.get('cache-control'), 'no-store');
  t.same(Object.keys(r.body).sort(), ['free', 'maintenance', 'occupancy_percent', 'occupied', 'reserved', 'site_id', 'total', 'unknown', 'updated_at']);
  // 7 spaces: occupied L1 L2 U1, free L3, reserved U2, unknown X1, maintenance M1.
  // occupancy: 3 occupied of the 6 in service = 50 %.
  t.match(r.body, { site_id: site, total: 7, free: 1, occupied: 3, reserved: 1, maintenance: 1, unknown: 1, occupancy_percent: 50 });
  t.equal(Date.parse(r.body.updated_at), last.getTime(), "updated_at: the site's latest change of state");

  const z = await api.request('GET', `/api/v6/sites/${site}/occupancy?group=zone`, { token: a.token });
  t.equal(z.status, 200);
  t.match(z.body, { total: 7, occupied: 3 }, 'the site totals are still there');
  t.same(z.body.zones, [
    // level-1: L1, L2 occupied, L3 free → 2/3 = 66.7 %
    { zone: 'level-1', total: 3, free: 1, occupied: 2, reserved: 0, maintenance: 0, unknown: 0, occupancy_percent: 66.7 },
    // level-2: U1 occupied, U2 reserved, M1 maintenance → 1/2 = 50 %
    { zone: 'level-2', total: 3, free: 0, occupied: 1, reserved: 1, maintenance: 1, unknown: 0, occupancy_percent: 50 },
    // no zone: X1 unknown → 0 %
    { zone: null, total: 1, free: 0, occupied: 0, reserved: 0, maintenance: 0, unknown: 1, occupancy_percent: 0 },
  ]);

  const none = await api.request('GET', `/api/v6/sites/${empty}/occupancy?group=zone`, { token: a.token });
  t.match(none.body, { total: 0, occupied: 0, occupancy_percent: 0, zones: [] }, 'a site without spaces');
  t.ok(none.body.updated_at);

  const theirs = await api.request('GET', `/api/v6/sites/${site}/occupancy`, { token: b.token });
  t.equal(theirs.status, 404, "B asking for A's site");
  t.equal(theirs.body.error.code, 'not_found');
  t.notOk(JSON.stringify(theirs.body).includes(site));
  const bad = await api.request('GET', `/api/v6/sites/${site}/occupancy?group=floor`, { token: a.token });
  t.equal(bad.status, 400);

  // One indexed query: the plan reads spaces through an index (spaces_tenant_state_idx on a real table), not a scan.
  const plan = await withTx(api.db.app, { tenantId: a.tenantId }, async (c) => {
    await c.query('SET LOCAL enable_seqscan = off'); // a handful of rows would otherwise always be scanned
    const r = await c.query(
      `EXPLAIN SELECT count(*) FROM sites st LEFT JOIN spaces s ON s.site_id = st.id AND s.tenant_id = st.tenant_id AND s.deleted_at IS NULL
        WHERE st.id = $1 AND st.deleted_at IS NULL GROUP BY st.id`,
      [site],
    );
    return r.rows.map((x) => x['QUERY PLAN']).join('\n');
  });
  t.match(plan, /Index (Only )?Scan using spaces_\w+ on spaces/);
});
