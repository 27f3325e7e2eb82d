// Analytics on a hand-built timeline: every metric below is worked out by hand in the
// comments from the events inserted here (explicit `at`, through the owner pool).
//
// Site S, time zone Europe/Amsterdam (UTC+1 in January). Monday 2024-01-15, local times:
//
//   P1  07:00 unknown→free   08:15 free→occupied (A)   08:45 occupied→free
//       09:30 free→occupied (B)   09:55 overstay (occupied→occupied: changes nothing)   10:30 occupied→free
//   P2  07:30 unknown→occupied (C)   08:30 occupied→free   09:00 free→occupied (D, still occupied)
//   P3  07:00 unknown→free   08:10 free→unknown (comms_lost)   08:50 unknown→free
//       09:20 free→occupied (E)   09:50 occupied→unknown   10:20 unknown→free
//   P4  created 10:30, no events, never reported: unknown ever since
//   Q1  (another site) occupied all morning: never in S's figures
//
// Sessions: C 07:30–08:30 (3600 s), A 08:15–08:45 (1800 s), D 09:00– (ongoing),
//           E 09:20–09:50 (1800 s, ended by unknown), B 09:30–10:30 (3600 s).
import t from 'tap';
import { testApi, type TestApi } from '../helpers/api.js';

const L = (hhmm: string, day = '2024-01-15') => new Date(`${day}T${hhmm}:00+01:00`);
const iso = (d: Date) => d.toISOString();

async function setup(api: TestApi) {
  const { token, user } = await api.register('metrics');
  const tenantId = user.tenant_id;
  const site = (await api.request('POST', '/api/v6/sites', { token, json: { name: 'S', timezone: 'Europe/Amsterdam' } })).body.id;
  const other = (await api.request('POST', '/api/v6/sites', { token, json: { name: 'Other', timezone: 'Europe/Amsterdam' } })).body.id;
  const mk = async (code: string, siteId: string, createdAt: Date) => {
    const id = (await api.request('POST', '/api/v6/spaces', { token, json: { code, site_id: siteId } })).body.id;
    await api.db.owner.query('UPDATE spaces SET created_at = $2 WHERE id = $1', [id, createdAt]);
    return id;
  };
  const longAgo = new Date('2024-01-01T00:00:00Z');
  const p = {
    P1: await mk('P1', site, longAgo),
    P2: await mk('P2', site, longAgo),
    P3: await mk('P3', site, longAgo),
    P4: await mk('P4', site, L('10:30')),
    Q1: await mk('Q1', other, longAgo),
  };
  const ev = async (space: keyof typeof p, at: string, from: string, to: string, cause = 'sensor_status') => {
    await api.db.owner.query(
      `INSERT INTO space_events (tenant_id, space_id, site_id, from_state, to_state, cause, at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [tenantId, p[space], space === 'Q1' ? other : site, from, to, cause, L(at)],
    );
  };
  // In time order, as ingest would have written them.
  await ev('Q1', '06:00', 'unknown', 'occupied');
  await ev('P1', '07:00', 'unknown', 'free');
  await ev('P3', '07:00', 'unknown', 'free');
  await ev('P2', '07:30', 'unknown', 'occupied');
  await ev('P3', '08:10', 'free', 'unknown', 'comms_lost');
  await ev('P1', '08:15', 'free', 'occupied');
  await ev('P2', '08:30', 'occupied', 'free');
  await ev('P1', '08:45', 'occupied', 'free');
  await ev('P3', '08:50', 'unknown', 'free');
  await ev('P2', '09:00', 'free', 'occupied');
  await ev('P3', '09:20', 'free', 'occupied');
  await ev('P1', '09:30', 'free', 'occupied');
  await ev('P3', '09:50', 'occupied', 'unknown');
  await ev('P1', '09:55', 'occupied', 'occupied', 'overstay');
  await ev('P3', '10:20', 'unknown', 'free');
  await ev('P1', '10:30', 'occupied', 'free');
  // What the spaces table says now (the events' last word; P4 never reported).
  for (const [code, state] of [['P1', 'free'], ['P2', 'occupied'], ['P3', 'free'], ['Q1', 'occupied']] as const) {
    await api.db.owner.query('UPDATE spaces SET current_state = $2, sensor_state = $2 WHERE id = $1', [p[code], state]);
  }
  return { token, site, other, p };
}

t.test('CDS metrics on a hand-built timeline', async (t) => {
  const api = await testApi(t);
  const { token, site, other, p } = await setup(api);
  const get = async (path: string) => {
    const r = await api.request('GET', path, { token });
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };

  await t.test('sessions', async (t) => {
    const day = await get(`/api/v6/analytics/sessions?site_id=${site}&from=${iso(L('00:00'))}&to=${iso(L('00:00', '2024-01-16'))}`);
    t.equal(day.total, 5);
    t.same(
      day.items.map((s: any) => [s.code, s.started_at, s.ended_at, s.dwell_seconds, s.end_state]),
      [
        ['P2', iso(L('07:30')), iso(L('08:30')), 3600, 'free'], // C
        ['P1', iso(L('08:15')), iso(L('08:45')), 1800, 'free'], // A
        ['P2', iso(L('09:00')), null, null, null], // D: still occupied
        ['P3', iso(L('09:20')), iso(L('09:50')), 1800, 'unknown'], // E: the sensor lost sight of it
        ['P1', iso(L('09:30')), iso(L('10:30')), 3600, 'free'], // B: the overstay row at 09:55 did not end it
      ],
    );
    const p1 = await get(`/api/v6/analytics/sessions?space_id=${p.P1}&from=${iso(L('00:00'))}&to=${iso(L('23:00'))}`);
    t.same(p1.items.map((s: any) => s.started_at), [iso(L('08:15')), iso(L('09:30'))], 'space_id: A and B');
    const hour = await get(`/api/v6/analytics/sessions?site_id=${site}&from=${iso(L('08:00'))}&to=${iso(L('09:00'))}`);
    t.same(hour.items.map((s: any) => s.code), ['P1'], 'only A starts in [08:00, 09:00); C started before, D at 09:00 (exclusive end)');
    const paged = await get(`/api/v6/analytics/sessions?site_id=${site}&from=${iso(L('00:00'))}&to=${iso(L('23:00'))}&page=2&page_size=2`);
    t.match(paged, { total: 5, page: 2, page_size: 2 });
    t.same(paged.items.map((s: any) => s.started_at), [iso(L('09:00')), iso(L('09:20'))]);
    const q1 = await get(`/api/v6/analytics/sessions?site_id=${other}&from=${iso(L('00:00'))}&to=${iso(L('23:00'))}`);
    t.same(q1.items.map((s: any) => s.code), ['Q1']);
  });

  await t.test('hourly buckets 08:00–11:00', async (t) => {
    const r = await get(`/api/v6/analytics/occupancy?site_id=${site}&from=${iso(L('08:00'))}&to=${iso(L('11:00'))}&interval=hour&per_space=true`);
    t.equal(r.interval, 'hour');
    t.equal(r.sites.length, 1);
    t.equal(r.sites[0].site_id, site);
    const [h8, h9, h10] = r.sites[0].buckets;
    t.equal(r.sites[0].buckets.length, 3);

    // 08–09. Each space 3600 s (P4 does not exist yet: not counted).
    //   P1 free, occupied 08:15–08:45 → 1800 s occupied.
    //   P2 occupied since 07:30 until 08:30 → 1800 s occupied.
    //   P3 unknown 08:10–08:50 → 2400 s > half of 3600 → −1, left out of the site's figure.
    //   occupancy = (1800 + 1800) / (2 × 3600) = 50 %; unknown = 2400 / (3 × 3600) = 22.22 %.
    //   Sessions starting: A → 1; turnover 1/3 = 0.33; average dwell 1800.
    t.match(h8, { start: iso(L('08:00')), end: iso(L('09:00')), date: '2024-01-15', hour: 8 });
    t.match(h8, { spaces: 3, total_sessions: 1, turnover: 0.33, average_dwell_time: 1800, occupancy_percent: 50, unknown_percent: 22.22 });
    t.same(h8.per_space, [
      { space_id: p.P1, occupancy_percent: 50, unknown_percent: 0 },
      { space_id: p.P2, occupancy_percent: 50, unknown_percent: 0 },
      { space_id: p.P3, occupancy_percent: -1, unknown_percent: 66.67 },
      { space_id: p.P4, occupancy_percent: null, unknown_percent: null },
    ].sort((x, y) => (x.space_id < y.space_id ? -1 : 1)));

    // 09–10.
    //   P1 occupied 09:30–10:00 → 1800 (the 09:55 overstay changes nothing).
    //   P2 occupied all hour (D from 09:00) → 3600.
    //   P3 occupied 09:20–09:50 → 1800, unknown 09:50–10:00 → 600 (≤ half: counted).
    //   occupancy = 7200 / 10800 = 66.67 %; unknown = 600 / 10800 = 5.56 %.
    //   Sessions starting: D 09:00, E 09:20, B 09:30 → 3; turnover 3/3 = 1;
    //   average dwell of the ended ones: (E 1800 + B 3600) / 2 = 2700 (D is ongoing).
    t.match(h9, { hour: 9, spaces: 3, total_sessions: 3, turnover: 1, average_dwell_time: 2700, occupancy_percent: 66.67, unknown_percent: 5.56 });

    // 10–11. P4 exists from 10:30: 1800 s, all unknown → −1 (left out), but counted as a space.
    //   P1 occupied 10:00–10:30 → 1800; P2 → 3600; P3 unknown 10:00–10:20 → 1200 (counted).
    //   occupancy = (1800 + 3600 + 0) / (3 × 3600) = 50 %;
    //   unknown = (1200 + 1800) / (3 × 3600 + 1800) = 3000 / 12600 = 23.81 %.
    //   No session starts: 0, turnover 0/4 = 0, no average dwell.
    t.match(h10, { hour: 10, spaces: 4, total_sessions: 0, turnover: 0, average_dwell_time: null, occupancy_percent: 50, unknown_percent: 23.81 });
    t.match(h10.per_space.find((x: any) => x.space_id === p.P4), { occupancy_percent: -1, unknown_percent: 100 });
  });

  await t.test('one day bucket, local midnight to midnight', async (t) => {
    const r = await get(`/api/v6/analytics/occupancy?site_id=${site}&from=${iso(L('00:00'))}&to=${iso(L('00:00', '2024-01-16'))}&interval=day`);
    t.equal(r.sites[0].buckets.length, 1);
    const [d] = r.sites[0].buckets;
    // Each of P1–P3: 86400 s; P4 from 10:30: 48600 s.
    //   P1 unknown 00:00–07:00 (25200; before its first event it was in that event's `from`),
    //      occupied 1800 (A) + 3600 (B) = 5400.
    //   P2 unknown 00:00–07:30 (27000), occupied 07:30–08:30 (3600) + 09:00–24:00 (54000) = 57600.
    //   P3 unknown 25200 + 2400 + 1800 = 29400 (< 43200: counted), occupied 1800 (E).
    //   P4 unknown 48600 of 48600 → −1, left out.
    //   occupancy = (5400 + 57600 + 1800) / (3 × 86400) = 64800 / 259200 = 25 %.
    //   unknown = (25200 + 27000 + 29400 + 48600) / (3 × 86400 + 48600) = 130200 / 307800 = 42.30 %.
    //   Sessions starting: C, A, D, E, B = 5; turnover 5/4 = 1.25;
    //   average dwell (C 3600 + A 1800 + E 1800 + B 3600) / 4 = 2700.
    t.match(d, {
      start: iso(L('00:00')), end: iso(L('00:00', '2024-01-16')), date: '2024-01-15', hour: null,
      spaces: 4, total_sessions: 5, turnover: 1.25, average_dwell_time: 2700, occupancy_percent: 25, unknown_percent: 42.3,
    });
    t.equal(d.per_space, null, 'per_space only when asked');
  });

  await t.test('every site without site_id; validation', async (t) => {
    const r = await get(`/api/v6/analytics/occupancy?from=${iso(L('08:00'))}&to=${iso(L('09:00'))}`);
    const q = r.sites.find((s: any) => s.site_id === other);
    // Q1 occupied since 06:00: 100 %, no session starts in 08–09.
    t.match(q.buckets, [{ spaces: 1, occupancy_percent: 100, unknown_percent: 0, total_sessions: 0 }]);
    t.ok(r.sites.some((s: any) => s.site_id === site));
    for (const bad of [
      `from=${iso(L('10:00'))}&to=${iso(L('09:00'))}`,
      `from=2024-01-01T00:00:00Z&to=2024-03-01T00:00:00Z&interval=hour`,
      `interval=week`,
      `from=yesterday`,
    ]) {
      const res = await api.request('GET', `/api/v6/analytics/occupancy?${bad}`, { token });
      t.equal(res.status, 400, bad);
    }
  });

  await t.test('bucket boundaries follow the site time zone across a DST change', async (t) => {
    // Europe/Amsterdam springs forward on 2024-03-31 at 02:00 → 03:00: a 23-hour day.
    const from = '2024-03-30T23:00:00.000Z'; // 00:00 +01:00
    const to = '2024-03-31T22:00:00.000Z'; // 00:00 +02:00 on 2024-04-01
    const day = await get(`/api/v6/analytics/occupancy?site_id=${site}&from=${from}&to=${to}&interval=day`);
    t.match(day.sites[0].buckets, [{ start: from, end: to, date: '2024-03-31', hour: null }]);
    const hours = await get(`/api/v6/analytics/occupancy?site_id=${site}&from=${from}&to=${to}&interval=hour`);
    const b = hours.sites[0].buckets;
    t.equal(b.length, 23);
    t.same(b.slice(0, 4).map((x: any) => x.hour), [0, 1, 3, 4], 'no 02:00 that day');
    t.equal(b.at(-1).end, to);
  });
});
