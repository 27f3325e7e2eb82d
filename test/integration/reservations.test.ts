// Reservations through the API: CRUD, validation naming the field, cancel, availability,
// idempotency, and no double booking under concurrency (checked in SQL).
import t from 'tap';
import { testApi, type TestApi } from '../helpers/api.js';

const RESERVATION_KEYS = [
  'cancellation_reason', 'cancelled_at', 'cancelled_by', 'checked_in', 'checked_in_at', 'checked_out_at', 'created_at',
  'end_time', 'id', 'metadata', 'notes', 'request_id', 'space_id', 'start_time', 'status', 'tenant_id', 'updated_at',
  'user_email', 'user_id', 'user_name',
];
const PASSWORD = 'correct horse battery';
const HOUR = 3_600_000;

/** A time this many hours from now, on a whole minute (windows in tests are readable). */
function inHours(h: number): string {
  const d = new Date(Date.now() + h * HOUR);
  d.setUTCSeconds(0, 0);
  return d.toISOString();
}
const plus = (iso: string, minutes: number) => new Date(new Date(iso).getTime() + minutes * 60_000).toISOString();

async function space(api: TestApi, token: string, json: Record<string, unknown> = {}): Promise<any> {
  const r = await api.request('POST', '/api/v6/spaces', { token, json: { code: `S-${Math.random().toString(36).slice(2, 8)}`, ...json } });
  if (r.status !== 201) throw new Error(`space: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function member(api: TestApi, ownerToken: string, role: string, email: string): Promise<string> {
  const r = await api.request('POST', '/api/v6/users', { token: ownerToken, json: { email, password: PASSWORD, username: role, role } });
  if (r.status !== 201) throw new Error(`adding ${role}: ${r.status}`);
  const login = await api.request('POST', '/api/auth/login', { json: { email, password: PASSWORD } });
  return login.body.access_token;
}

/** A small seeded PRNG (mulberry32): random windows, the same on every run. */
function mulberry32(seed: number): (n: number) => number {
  let a = seed;
  return (n) => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return Math.floor((((x ^ (x >>> 14)) >>> 0) / 4_294_967_296) * n);
  };
}

/** Pairs of reservations on one space whose windows overlap while both hold it: must be 0. */
async function overlaps(api: TestApi): Promise<number> {
  const r = await api.db.owner.query(
    `SELECT count(*)::int AS n FROM reservations a JOIN reservations b
        ON a.space_id = b.space_id AND a.id < b.id
       AND tstzrange(a.start_time, a.end_time, '[)') && tstzrange(b.start_time, b.end_time, '[)')
     WHERE a.status IN ('pending', 'active') AND b.status IN ('pending', 'active')`,
  );
  return r.rows[0].n;
}

t.test('create, get, list with filters, cancel twice, delete', async (t) => {
  const api = await testApi(t);
  const { token, user } = await api.register('acme');
  const a = await space(api, token, { code: 'A1' });
  const north = (await api.request('POST', '/api/v6/sites', { token, json: { name: 'North' } })).body.id;
  const b = await space(api, token, { code: 'B1', site_id: north });

  const start = inHours(2);
  const created = await api.request('POST', '/api/v6/reservations', {
    token,
    json: { space_id: a.id, start_time: start, end_time: plus(start, 60), user_email: 'driver@example.com', user_name: 'Dee', notes: 'blue van', metadata: { plate: 'AB-123' } },
  });
  t.equal(created.status, 201);
  const r1 = created.body;
  t.same(Object.keys(r1).sort(), RESERVATION_KEYS);
  t.match(r1, {
    tenant_id: user.tenant_id, space_id: a.id, user_id: user.id, user_email: 'driver@example.com', user_name: 'Dee',
    start_time: start, end_time: plus(start, 60), status: 'pending', checked_in: false, checked_in_at: null,
    checked_out_at: null, cancelled_at: null, cancelled_by: null, cancellation_reason: null, notes: 'blue van',
    metadata: { plate: 'AB-123' }, request_id: null,
  });
  t.equal((await api.request('GET', `/api/v6/spaces/${a.id}`, { token })).body.current_state, 'unknown', 'a future reservation does not hold the space yet');

  const got = await api.request('GET', `/api/v6/reservations/${r1.id}`, { token });
  t.equal(got.status, 200);
  t.same(got.body, r1);
  t.equal((await api.request('GET', '/api/v6/reservations/00000000-0000-4000-8000-000000000000', { token })).status, 404);
  t.equal((await api.request('GET', '/api/v6/reservations/nope', { token })).status, 404);

  const r2 = (await api.request('POST', '/api/v6/reservations', { token, json: { space_id: b.id, start_time: inHours(5), end_time: inHours(6) } })).body;
  const r3 = (await api.request('POST', '/api/v6/reservations', { token, json: { space_id: a.id, start_time: inHours(10), end_time: inHours(11) } })).body;

  const ids = async (query: string) => {
    const r = await api.request('GET', `/api/v6/reservations${query}`, { token });
    t.equal(r.status, 200, query);
    return r.body.items.map((x: { id: string }) => x.id);
  };
  t.same(await ids(''), [r1.id, r2.id, r3.id], 'ordered by start');
  t.same(await ids(`?space_id=${a.id}`), [r1.id, r3.id]);
  t.same(await ids(`?site_id=${north}`), [r2.id]);
  t.same(await ids(`?from=${encodeURIComponent(inHours(4))}&to=${encodeURIComponent(inHours(7))}`), [r2.id], 'windows overlapping from..to');
  t.same(await ids(`?from=${encodeURIComponent(inHours(5.5))}`), [r2.id, r3.id]);
  const page = await api.request('GET', '/api/v6/reservations?page=2&page_size=2', { token });
  t.match(page.body, { total: 3, page: 2, page_size: 2 });
  t.same(page.body.items.map((x: { id: string }) => x.id), [r3.id]);
  const bad = await api.request('GET', `/api/v6/reservations?from=${encodeURIComponent(inHours(7))}&to=${encodeURIComponent(inHours(4))}`, { token });
  t.equal(bad.status, 400);
  t.equal(bad.body.error.details[0].field, 'query.to');
  t.equal((await api.request('GET', '/api/v6/reservations?status=parked', { token })).status, 400);

  const cancelled = await api.request('PUT', `/api/v6/reservations/${r1.id}/cancel`, { token, json: { cancellation_reason: 'plans changed' } });
  t.equal(cancelled.status, 200);
  t.match(cancelled.body, { id: r1.id, status: 'cancelled', cancelled_by: user.id, cancellation_reason: 'plans changed' });
  t.type(cancelled.body.cancelled_at, 'string');
  const again = await api.request('PUT', `/api/v6/reservations/${r1.id}/cancel`, { token, json: { cancellation_reason: 'other' } });
  t.equal(again.status, 200, 'cancelling twice is a no-op');
  t.same(again.body, cancelled.body, 'that answers the same');
  t.same(await ids('?status=cancelled'), [r1.id]);

  const deleted = await api.request('DELETE', `/api/v6/reservations/${r2.id}`, { token });
  t.equal(deleted.status, 200);
  t.match(deleted.body, { id: r2.id, status: 'cancelled', cancellation_reason: null });
  t.same((await api.request('DELETE', `/api/v6/reservations/${r2.id}`, { token })).body, deleted.body);
  t.equal((await api.request('DELETE', '/api/v6/reservations/00000000-0000-4000-8000-000000000000', { token })).status, 404);

  await api.db.owner.query(`UPDATE reservations SET status = 'completed' WHERE id = $1`, [r3.id]);
  const final = await api.request('PUT', `/api/v6/reservations/${r3.id}/cancel`, { token, json: {} });
  t.equal(final.status, 409, 'a completed reservation cannot be cancelled');
  t.match(final.body.error, { code: 'conflict', message: /already completed/ });

  // The window of a cancelled reservation is free again.
  const rebook = await api.request('POST', '/api/v6/reservations', { token, json: { space_id: a.id, start_time: start, end_time: plus(start, 60) } });
  t.equal(rebook.status, 201);
});

t.test('validation names the field', async (t) => {
  const api = await testApi(t, { RESERVATION_MAX_HOURS: '4', RESERVATION_PAST_SKEW_SECONDS: '60' });
  const { token } = await api.register('acme');
  const a = await space(api, token);
  const start = inHours(1);
  const ok = { space_id: a.id, start_time: start, end_time: plus(start, 30) };
  const cases: [string, unknown, number, string][] = [
    ['missing space_id', { start_time: start, end_time: plus(start, 30) }, 400, 'body.space_id'],
    ['missing start_time', { space_id: a.id, end_time: start }, 400, 'body.start_time'],
    ['missing end_time', { space_id: a.id, start_time: start }, 400, 'body.end_time'],
    ['space_id not a uuid', { ...ok, space_id: 'A1' }, 400, 'body.space_id'],
    ['start_time not a date-time', { ...ok, start_time: 'tomorrow' }, 400, 'body.start_time'],
    ['start_time without a zone', { ...ok, start_time: '2031-01-01T10:00:00' }, 400, 'body.start_time'],
    ['end before start', { ...ok, end_time: plus(start, -5) }, 400, 'body.end_time'],
    ['end equals start', { ...ok, end_time: start }, 400, 'body.end_time'],
    ['longer than RESERVATION_MAX_HOURS', { ...ok, end_time: plus(start, 4 * 60 + 1) }, 400, 'body.end_time'],
    ['start too far in the past', { ...ok, start_time: plus(new Date().toISOString(), -5), end_time: plus(start, 0) }, 400, 'body.start_time'],
    ['user_email malformed', { ...ok, user_email: 'nope' }, 400, 'body.user_email'],
    ['notes too long', { ...ok, notes: 'x'.repeat(2001) }, 400, 'body.notes'],
    ['metadata not an object', { ...ok, metadata: [1] }, 400, 'body.metadata'],
    ['request_id empty', { ...ok, request_id: '' }, 400, 'body.request_id'],
    ['unknown space', { ...ok, space_id: '00000000-0000-4000-8000-000000000000' }, 404, 'body.space_id'],
  ];
  for (const [name, json, status, field] of cases) {
    const r = await api.request('POST', '/api/v6/reservations', { token, json });
    t.equal(r.status, status, name);
    t.ok(r.body.error?.details?.some((d: { field: string }) => d.field === field), `${name}: details name ${field} (${JSON.stringify(r.body.error)})`);
  }
  const exactMax = await api.request('POST', '/api/v6/reservations', { token, json: { ...ok, end_time: plus(start, 4 * 60) } });
  t.equal(exactMax.status, 201, 'exactly the maximum duration is fine');
  const skew = await api.request('POST', '/api/v6/reservations', {
    token,
    json: { space_id: (await space(api, token)).id, start_time: plus(new Date().toISOString(), -0.5), end_time: plus(start, 0) },
  });
  t.equal(skew.status, 201, 'a start within the skew is accepted');
  t.equal(skew.body.status, 'active', 'and holds the space at once');

  const keyClash = await api.request('POST', '/api/v6/reservations', { token, json: { ...ok, request_id: 'k1' }, headers: { 'Idempotency-Key': 'k2' } });
  t.equal(keyClash.status, 400);
  t.equal(keyClash.body.error.details[0].field, 'body.request_id');
  const longKey = await api.request('POST', '/api/v6/reservations', { token, json: ok, headers: { 'Idempotency-Key': 'k'.repeat(256) } });
  t.equal(longKey.status, 400);
  t.equal(longKey.body.error.details[0].field, 'header.idempotency-key');

  // The space: deleted, in maintenance, disabled, another tenant's.
  const gone = await space(api, token);
  await api.request('DELETE', `/api/v6/spaces/${gone.id}`, { token });
  const r1 = await api.request('POST', '/api/v6/reservations', { token, json: { ...ok, space_id: gone.id } });
  t.equal(r1.status, 404, 'a deleted space');
  t.match(r1.body.error, { code: 'not_found', message: /Space not found.*body\.space_id/ });
  const maint = await space(api, token);
  await api.request('PATCH', `/api/v6/spaces/${maint.id}`, { token, json: { current_state: 'maintenance' } });
  const r2 = await api.request('POST', '/api/v6/reservations', { token, json: { ...ok, space_id: maint.id } });
  t.equal(r2.status, 409, 'a space in maintenance');
  t.match(r2.body.error, { message: /maintenance/, details: [{ field: 'body.space_id' }] });
  const disabled = await space(api, token, { enabled: false });
  t.equal((await api.request('POST', '/api/v6/reservations', { token, json: { ...ok, space_id: disabled.id } })).status, 409, 'a disabled space');
  const other = await api.register('other');
  const theirs = await space(api, other.token);
  const r3 = await api.request('POST', '/api/v6/reservations', { token, json: { ...ok, space_id: theirs.id } });
  t.equal(r3.status, 404, "another tenant's space does not exist here");

  const count = await api.db.owner.query('SELECT count(*)::int AS n FROM reservations');
  t.equal(count.rows[0].n, 2, 'only the two valid requests created anything');
});

t.test('overlap: 409 naming the conflicting reservations; back-to-back is fine', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const a = await space(api, token);
  const b = await space(api, token);
  const s = inHours(3);
  const first = (await api.request('POST', '/api/v6/reservations', { token, json: { space_id: a.id, start_time: s, end_time: plus(s, 60) } })).body;
  const second = (await api.request('POST', '/api/v6/reservations', { token, json: { space_id: a.id, start_time: plus(s, 60), end_time: plus(s, 120) } }));
  t.equal(second.status, 201, 'back-to-back: one ends as the next starts');
  const before = (await api.request('POST', '/api/v6/reservations', { token, json: { space_id: a.id, start_time: plus(s, -30), end_time: s } }));
  t.equal(before.status, 201, 'back-to-back on the other side');

  const clash = await api.request('POST', '/api/v6/reservations', { token, json: { space_id: a.id, start_time: plus(s, 30), end_time: plus(s, 90) } });
  t.equal(clash.status, 409);
  t.equal(clash.body.error.code, 'conflict');
  t.match(clash.body.error.message, /overlapping/);
  t.same(clash.body.error.details.map((d: { reservation_id: string }) => d.reservation_id), [first.id, second.body.id], 'both conflicting ids');
  const inside = await api.request('POST', '/api/v6/reservations', { token, json: { space_id: a.id, start_time: plus(s, 10), end_time: plus(s, 20) } });
  t.equal(inside.status, 409);
  t.same(inside.body.error.details.map((d: { reservation_id: string }) => d.reservation_id), [first.id]);
  t.equal((await api.request('POST', '/api/v6/reservations', { token, json: { space_id: b.id, start_time: plus(s, 30), end_time: plus(s, 90) } })).status, 201, 'the same window on another space');
  t.equal(await overlaps(api), 0);
});

t.test('availability of a space for a window', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const a = await space(api, token);
  const s = inHours(3);
  const r = (await api.request('POST', '/api/v6/reservations', { token, json: { space_id: a.id, start_time: s, end_time: plus(s, 60) } })).body;
  const avail = (from: string, to: string) =>
    api.request('GET', `/api/v6/spaces/${a.id}/availability?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`, { token });

  const busy = await avail(plus(s, 30), plus(s, 90));
  t.equal(busy.status, 200);
  t.match(busy.body, { space_id: a.id, is_available: false, current_state: 'unknown' });
  t.same(busy.body.conflicting_reservations.map((x: { id: string }) => x.id), [r.id]);
  t.same(Object.keys(busy.body.conflicting_reservations[0]).sort(), RESERVATION_KEYS);
  const free = await avail(plus(s, 60), plus(s, 120));
  t.match(free.body, { is_available: true, conflicting_reservations: [] }, 'right after it ends');
  const now = await api.request('GET', `/api/v6/spaces/${a.id}/availability`, { token });
  t.match(now.body, { is_available: true }, 'defaults: the next hour');
  const bad = await avail(plus(s, 60), s);
  t.equal(bad.status, 400);
  t.equal(bad.body.error.details[0].field, 'query.to');

  await api.request('PATCH', `/api/v6/spaces/${a.id}`, { token, json: { current_state: 'maintenance' } });
  t.match((await avail(plus(s, 60), plus(s, 120))).body, { is_available: false, current_state: 'maintenance', conflicting_reservations: [] }, 'maintenance is not available');
  t.equal((await api.request('GET', `/api/v6/spaces/00000000-0000-4000-8000-000000000000/availability`, { token })).status, 404);
  const other = await api.register('other');
  t.equal((await api.request('GET', `/api/v6/spaces/${a.id}/availability`, { token: other.token })).status, 404, "another tenant's space");
});

t.test('idempotency: replay, header key, different body, per tenant', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const a = await space(api, token);
  const s = inHours(4);
  const body = { space_id: a.id, start_time: s, end_time: plus(s, 45), metadata: { a: 1, b: [1, 2] }, request_id: 'order-17' };
  const first = await api.request('POST', '/api/v6/reservations', { token, json: body });
  t.equal(first.status, 201);
  t.equal(first.body.request_id, 'order-17');

  // The same request: keys in another order, times spelled differently.
  const same = { request_id: 'order-17', metadata: { b: [1, 2], a: 1 }, end_time: plus(s, 45).replace('Z', '+00:00'), start_time: s, space_id: a.id.toUpperCase() };
  const replay = await api.request('POST', '/api/v6/reservations', { token, json: same });
  t.equal(replay.status, 200, 'a replay answers 200');
  t.equal(replay.headers.get('idempotent-replayed'), 'true');
  t.same(replay.body, first.body, 'with the original reservation');

  const changed = await api.request('POST', '/api/v6/reservations', { token, json: { ...body, end_time: plus(s, 50) } });
  t.equal(changed.status, 422, 'the same key with a different body');
  t.match(changed.body.error, { code: 'unprocessable', details: [{ field: 'body.request_id' }] });

  const viaHeader = { space_id: a.id, start_time: plus(s, 60), end_time: plus(s, 90) };
  const h1 = await api.request('POST', '/api/v6/reservations', { token, json: viaHeader, headers: { 'Idempotency-Key': 'hdr-1' } });
  t.equal(h1.status, 201);
  t.equal(h1.body.request_id, 'hdr-1');
  const h2 = await api.request('POST', '/api/v6/reservations', { token, json: viaHeader, headers: { 'Idempotency-Key': 'hdr-1' } });
  t.equal(h2.status, 200);
  t.equal(h2.body.id, h1.body.id);
  const h3 = await api.request('POST', '/api/v6/reservations', { token, json: { ...viaHeader, notes: 'x' }, headers: { 'Idempotency-Key': 'hdr-1' } });
  t.equal(h3.status, 422);
  t.equal(h3.body.error.details[0].field, 'header.idempotency-key');
  const both = await api.request('POST', '/api/v6/reservations', { token, json: { ...viaHeader, request_id: 'hdr-1' }, headers: { 'Idempotency-Key': 'hdr-1' } });
  t.equal(both.status, 200, 'the same key in both places is one key');

  // A replay after cancellation still returns the original (now cancelled) reservation, and creates nothing.
  await api.request('PUT', `/api/v6/reservations/${first.body.id}/cancel`, { token, json: {} });
  const late = await api.request('POST', '/api/v6/reservations', { token, json: body });
  t.equal(late.status, 200);
  t.match(late.body, { id: first.body.id, status: 'cancelled' });

  // A failed request does not burn its key: fixed, it goes through.
  const clash = { space_id: a.id, start_time: plus(s, 70), end_time: plus(s, 80), request_id: 'retry-me' };
  t.equal((await api.request('POST', '/api/v6/reservations', { token, json: clash })).status, 409);
  t.equal((await api.request('POST', '/api/v6/reservations', { token, json: { ...clash, start_time: plus(s, 100), end_time: plus(s, 110) } })).status, 201);

  // Keys are per tenant.
  const other = await api.register('other');
  const b = await space(api, other.token);
  const theirs = await api.request('POST', '/api/v6/reservations', { token: other.token, json: { ...body, space_id: b.id } });
  t.equal(theirs.status, 201, "another tenant's request_id does not collide");

  const keys = await api.db.owner.query('SELECT tenant_id, key FROM idempotency_keys ORDER BY created_at');
  t.equal(keys.rows.length, 4);
  const rows = await api.db.owner.query(`SELECT count(*)::int AS n FROM reservations WHERE request_id = 'order-17'`);
  t.equal(rows.rows[0].n, 2, 'one per tenant');
});

t.test('100 concurrent replays of one key: one reservation', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const a = await space(api, token);
  const s = inHours(2);
  const json = { space_id: a.id, start_time: s, end_time: plus(s, 30), request_id: 'burst-1' };
  const replies = await Promise.all(Array.from({ length: 100 }, () => api.request('POST', '/api/v6/reservations', { token, json })));
  const statuses = replies.map((r) => r.status);
  t.equal(statuses.filter((x) => x === 201).length, 1, 'one 201');
  t.equal(statuses.filter((x) => x === 200).length, 99, '99 replays');
  t.equal(new Set(replies.map((r) => r.body.id)).size, 1, 'all with the same id');
  const rows = await api.db.owner.query('SELECT count(*)::int AS n FROM reservations');
  t.equal(rows.rows[0].n, 1, 'one row');
});

t.test('100 concurrent overlapping POSTs on one space: one 201, 99 × 409, one row', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const a = await space(api, token);
  const s = inHours(6);
  const replies = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      api.request('POST', '/api/v6/reservations', { token, json: { space_id: a.id, start_time: plus(s, i % 7), end_time: plus(s, 60 + (i % 5)) } }),
    ),
  );
  const statuses = replies.map((r) => r.status);
  t.equal(statuses.filter((x) => x === 201).length, 1, 'exactly one 201');
  t.equal(statuses.filter((x) => x === 409).length, 99, '99 × 409');
  const winner = replies.find((r) => r.status === 201)!.body.id;
  t.ok(
    replies.filter((r) => r.status === 409).every((r) => r.body.error.details.some((d: { reservation_id: string }) => d.reservation_id === winner)),
    'every 409 names the winner',
  );
  const rows = await api.db.owner.query('SELECT count(*)::int AS n FROM reservations');
  t.equal(rows.rows[0].n, 1, 'one row');
});

t.test('100 concurrent requests over 10 spaces with random windows: no overlap', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const spaces = await Promise.all(Array.from({ length: 10 }, () => space(api, token)));
  const base = new Date(inHours(1)).getTime();
  // Quarter-hour grid over 3 hours, so exact back-to-back pairs occur as well as overlaps.
  const rand = mulberry32(42);
  const requests = Array.from({ length: 100 }, () => {
    const startQ = rand(12);
    const lengthQ = 1 + rand(3);
    return {
      space_id: spaces[rand(10)].id,
      start_time: new Date(base + startQ * 15 * 60_000).toISOString(),
      end_time: new Date(base + (startQ + lengthQ) * 15 * 60_000).toISOString(),
    };
  });
  const replies = await Promise.all(requests.map((json) => api.request('POST', '/api/v6/reservations', { token, json })));
  const accepted = replies.filter((r) => r.status === 201).length;
  const refused = replies.filter((r) => r.status === 409).length;
  t.equal(accepted + refused, 100, 'every request is accepted or refused as a conflict');
  t.ok(accepted >= 10, `${accepted} accepted`);
  const rows = await api.db.owner.query('SELECT count(*)::int AS n FROM reservations');
  t.equal(rows.rows[0].n, accepted, 'one row per 201');
  t.equal(await overlaps(api), 0, 'no two accepted reservations overlap (SQL)');
  const backToBack = await api.db.owner.query(
    `SELECT count(*)::int AS n FROM reservations a JOIN reservations b ON a.space_id = b.space_id AND a.end_time = b.start_time`,
  );
  t.ok(backToBack.rows[0].n > 0, `back-to-back windows were accepted (${backToBack.rows[0].n} pairs)`);
});

t.test('roles: viewers and technicians read; operators and up create and cancel', async (t) => {
  const api = await testApi(t);
  const owner = await api.register('acme');
  const a = await space(api, owner.token);
  const tokens: Record<string, string> = { owner: owner.token };
  for (const role of ['viewer', 'technician', 'operator', 'admin']) tokens[role] = await member(api, owner.token, role, `${role}@acme.example`);
  let h = 1;
  for (const [role, canWrite] of [['viewer', false], ['technician', false], ['operator', true], ['admin', true], ['owner', true]] as const) {
    const token = tokens[role]!;
    const s = inHours(h++);
    const made = await api.request('POST', '/api/v6/reservations', { token, json: { space_id: a.id, start_time: s, end_time: plus(s, 30) } });
    t.equal(made.status, canWrite ? 201 : 403, `${role} creates`);
    const existing = (await api.request('POST', '/api/v6/reservations', { token: owner.token, json: { space_id: a.id, start_time: plus(s, 30), end_time: plus(s, 60) } })).body;
    t.equal((await api.request('GET', '/api/v6/reservations', { token })).status, 200, `${role} lists`);
    t.equal((await api.request('GET', `/api/v6/reservations/${existing.id}`, { token })).status, 200, `${role} gets`);
    t.equal((await api.request('GET', `/api/v6/spaces/${a.id}/availability`, { token })).status, 200, `${role} asks availability`);
    t.equal((await api.request('PUT', `/api/v6/reservations/${existing.id}/cancel`, { token, json: {} })).status, canWrite ? 200 : 403, `${role} cancels`);
    t.equal((await api.request('DELETE', `/api/v6/reservations/${existing.id}`, { token })).status, canWrite ? 200 : 403, `${role} deletes`);
    if (!canWrite) t.equal((await api.request('GET', `/api/v6/reservations/${existing.id}`, { token })).body.status, 'pending', 'a refused cancel changed nothing');
  }
});

t.test("tenant B cannot see, cancel or book against tenant A's reservations", async (t) => {
  const api = await testApi(t);
  const a = await api.register('tenant-a');
  const b = await api.register('tenant-b');
  const aSpace = await space(api, a.token);
  const s = inHours(2);
  const aRes = (await api.request('POST', '/api/v6/reservations', { token: a.token, json: { space_id: aSpace.id, start_time: s, end_time: plus(s, 60), notes: 'A secret' } })).body;
  for (const [method, path] of [
    ['GET', `/api/v6/reservations/${aRes.id}`],
    ['PUT', `/api/v6/reservations/${aRes.id}/cancel`],
    ['DELETE', `/api/v6/reservations/${aRes.id}`],
    ['GET', `/api/v6/spaces/${aSpace.id}/availability`],
  ] as const) {
    const r = await api.request(method, path, { token: b.token, json: method === 'PUT' ? {} : undefined });
    t.equal(r.status, 404, `B ${method} ${path}`);
    t.notMatch(JSON.stringify(r.body), /A secret|tenant-a/);
  }
  const list = await api.request('GET', `/api/v6/reservations?space_id=${aSpace.id}`, { token: b.token });
  t.match(list.body, { items: [], total: 0 });
  t.equal((await api.request('GET', `/api/v6/reservations/${aRes.id}`, { token: a.token })).body.status, 'pending', "A's reservation is untouched");
});

t.test('a reservation whose window has begun holds the space at once; cancelling releases it', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const a = await space(api, token);
  await api.db.owner.query(`UPDATE spaces SET sensor_state = 'free', current_state = 'free' WHERE id = $1`, [a.id]);
  const r = await api.request('POST', '/api/v6/reservations', { token, json: { space_id: a.id, start_time: new Date().toISOString(), end_time: inHours(1) } });
  t.equal(r.status, 201);
  t.equal(r.body.status, 'active');
  t.equal((await api.request('GET', `/api/v6/spaces/${a.id}`, { token })).body.current_state, 'reserved');
  const listed = await api.request('GET', '/api/v6/spaces?current_state=reserved', { token });
  t.same(listed.body.items.map((x: { id: string }) => x.id), [a.id], 'the list filter sees it too');

  const c = await api.request('PUT', `/api/v6/reservations/${r.body.id}/cancel`, { token, json: { cancellation_reason: 'left early' } });
  t.equal(c.status, 200);
  t.equal((await api.request('GET', `/api/v6/spaces/${a.id}`, { token })).body.current_state, 'free', 'released at once');
  const events = await api.db.owner.query('SELECT from_state, to_state, cause, reservation_id FROM space_events WHERE space_id = $1 ORDER BY id', [a.id]);
  t.same(events.rows, [
    { from_state: 'free', to_state: 'reserved', cause: 'reservation_start', reservation_id: r.body.id },
    { from_state: 'reserved', to_state: 'free', cause: 'reservation_end', reservation_id: r.body.id },
  ]);
});
