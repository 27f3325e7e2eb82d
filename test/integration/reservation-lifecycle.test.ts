// Reservations moving spaces through the state machine: activation, check-in and check-out
// from sensor uplinks (the ingest apply path), no-show, completed/expired, cancel, and the
// precise timer. Time is driven by moving reservation windows relative to database now()
// and running the expire_reservations job once; sensors by applyBatch with ChirpStack events.
import t, { type Test } from 'tap';
import { testApi, type TestApi } from '../helpers/api.js';
import { waitFor } from '../helpers/wait.js';
import { applyBatch } from '../../ingest/apply.js';
import { compileTopicTemplate } from '../../ingest/chirpstack.js';
import { JOB_NAMES, startJobs, type Jobs } from '../../ingest/jobs/index.js';
import { eventTopic, upEvent } from '../../src/simulator/events.js';
import { createLogger } from '../../src/log.js';

const OCCUPIED = Buffer.from([0x01]); // nwave-nps405 fPort 1: bit 0 = occupied
const FREE = Buffer.from([0x00]);
/** No cron tick during a test: time is driven by runOnce (and the timer where it is the subject). */
const NEVER = '0 0 0 1 1 *';
/** Every job off its schedule: the tests run them by hand. */
const QUIET = Object.fromEntries(JOB_NAMES.map((name) => [name, NEVER]));

interface Fixture {
  api: TestApi;
  token: string;
  tenantId: string;
  jobs: Jobs;
  newSpace(json?: Record<string, unknown>): Promise<{ id: string; devEui: string; deviceId: string }>;
  /** One uplink from the space's sensor through the ingest apply path, in its own transaction. */
  sensor(devEui: string, occupied: boolean): Promise<void>;
  /** A pending reservation made through the API, then moved to [now + startS, now + endS) (database time). */
  reserve(spaceId: string, startS: number, endS: number): Promise<string>;
  shift(id: string, startS: number, endS: number): Promise<void>;
  expire(): Promise<Record<string, number>>;
  space(id: string): Promise<{ current_state: string; sensor_state: string }>;
  reservation(id: string): Promise<any>;
  events(spaceId: string): Promise<{ from_state: string; to_state: string; cause: string; reservation_id: string | null }[]>;
}

async function fixture(t: Test, opts: { timer?: boolean; env?: Record<string, string> } = {}): Promise<Fixture> {
  const api = await testApi(t, opts.env);
  const { token, user } = await api.register('acme');
  const jobs = startJobs({ pool: api.db.ingest, log: createLogger('silent'), config: api.config, schedules: QUIET, reservationTimer: opts.timer ?? false });
  t.teardown(() => jobs.stop());
  const topics = compileTopicTemplate(api.config.chirpstackEventTopic);
  const fCnt = new Map<string, number>();
  let n = 0;
  const shift = async (id: string, startS: number, endS: number) => {
    await api.db.owner.query(
      `UPDATE reservations SET start_time = now() + make_interval(secs => $2), end_time = now() + make_interval(secs => $3) WHERE id = $1`,
      [id, startS, endS],
    );
  };
  return {
    api,
    token,
    tenantId: user.tenant_id,
    jobs,
    async newSpace(json = {}) {
      const space = (await api.request('POST', '/api/v6/spaces', { token, json: { code: `S${++n}`, ...json } })).body;
      const devEui = `70B3D5E75E${String(n).padStart(6, '0')}`;
      const device = await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: devEui, device_type: 'sensor', decoder: 'nwave-nps405' } });
      await api.request('POST', `/api/v6/devices/${device.body.id}/assign`, { token, json: { space_id: space.id } });
      return { id: space.id, devEui, deviceId: device.body.id };
    },
    async sensor(devEui, occupied) {
      const next = (fCnt.get(devEui) ?? 0) + 1;
      fCnt.set(devEui, next);
      const payload = Buffer.from(JSON.stringify(upEvent({ devEui, fCnt: next, fPort: 1, data: occupied ? OCCUPIED : FREE })));
      const c = await api.db.ingest.connect();
      try {
        await c.query('BEGIN');
        await applyBatch(c, topics, [{ topic: eventTopic(api.config.chirpstackEventTopic, devEui, 'up'), payload }]);
        await c.query('COMMIT');
      } finally {
        c.release();
      }
    },
    async reserve(spaceId, startS, endS) {
      const far = Date.now() + 30 * 86_400_000 + Math.random() * 86_400_000;
      const r = await api.request('POST', '/api/v6/reservations', {
        token,
        json: { space_id: spaceId, start_time: new Date(far).toISOString(), end_time: new Date(far + 3_600_000).toISOString() },
      });
      if (r.status !== 201) throw new Error(`reserve: ${r.status} ${JSON.stringify(r.body)}`);
      await shift(r.body.id, startS, endS);
      return r.body.id;
    },
    shift,
    async expire() {
      const run = await jobs.runOnce('expire_reservations');
      if (run.status !== 'succeeded') throw new Error(`expire_reservations ${run.status}: ${run.error}`);
      return run.counts;
    },
    async space(id) {
      return (await api.request('GET', `/api/v6/spaces/${id}`, { token })).body;
    },
    async reservation(id) {
      return (await api.request('GET', `/api/v6/reservations/${id}`, { token })).body;
    },
    async events(spaceId) {
      const r = await api.db.owner.query(
        'SELECT from_state, to_state, cause, reservation_id FROM space_events WHERE space_id = $1 ORDER BY id',
        [spaceId],
      );
      return r.rows;
    },
  };
}

t.test('activation, check-in by the sensor, check-out, completed', async (t) => {
  const f = await fixture(t);
  const s = await f.newSpace();
  await f.sensor(s.devEui, false);
  t.equal((await f.space(s.id)).current_state, 'free');
  const r = await f.reserve(s.id, 60, 3600);
  t.match(await f.expire(), { activated: 0 }, 'not due yet');
  t.equal((await f.reservation(r)).status, 'pending');

  await f.shift(r, -1, 3600);
  t.match(await f.expire(), { activated: 1, transitions: 1 });
  t.match(await f.reservation(r), { status: 'active', checked_in: false });
  t.equal((await f.space(s.id)).current_state, 'reserved', 'an active reservation holds a free space');
  const listed = await f.api.request('GET', '/api/v6/spaces?current_state=reserved', { token: f.token });
  t.same(listed.body.items.map((x: { id: string }) => x.id), [s.id]);

  await f.sensor(s.devEui, true);
  const checkedIn = await f.reservation(r);
  t.match(checkedIn, { status: 'active', checked_in: true, checked_out_at: null });
  t.type(checkedIn.checked_in_at, 'string');
  t.equal((await f.space(s.id)).current_state, 'occupied');

  await f.sensor(s.devEui, true);
  t.equal((await f.reservation(r)).checked_in_at, checkedIn.checked_in_at, 'a heartbeat does not check in twice');

  await f.sensor(s.devEui, false);
  const out = await f.reservation(r);
  t.type(out.checked_out_at, 'string', 'vacating after check-in sets checked_out_at');
  t.equal(out.status, 'active', 'the reservation lasts until its end');
  t.equal((await f.space(s.id)).current_state, 'free', 'the space returns to what the sensor says');

  await f.shift(r, -3600, -1);
  t.match(await f.expire(), { completed: 1, transitions: 0 });
  t.equal((await f.reservation(r)).status, 'completed');
  t.equal((await f.space(s.id)).current_state, 'free');

  t.same(await f.events(s.id), [
    { from_state: 'unknown', to_state: 'free', cause: 'sensor_status', reservation_id: null },
    { from_state: 'free', to_state: 'reserved', cause: 'reservation_start', reservation_id: r },
    { from_state: 'reserved', to_state: 'occupied', cause: 'check_in', reservation_id: r },
    { from_state: 'occupied', to_state: 'free', cause: 'check_out', reservation_id: r },
  ]);
  const runs = await f.api.db.owner.query(`SELECT job, trigger, status, counts FROM job_runs ORDER BY id`);
  t.equal(runs.rows.length, 3, 'every run is recorded');
  t.match(runs.rows[1], { job: 'expire_reservations', trigger: 'manual', status: 'succeeded', counts: { activated: 1 } });
});

t.test('checked in and still there at the end: completed, the space stays occupied', async (t) => {
  const f = await fixture(t);
  const s = await f.newSpace();
  await f.sensor(s.devEui, true);
  const r = await f.reserve(s.id, -1, 3600);
  await f.expire();
  t.match(await f.reservation(r), { status: 'active', checked_in: true }, 'a vehicle already there when the window opens counts as the arrival');
  t.equal((await f.space(s.id)).current_state, 'occupied');
  await f.shift(r, -3600, -1);
  t.match(await f.expire(), { completed: 1 });
  t.equal((await f.space(s.id)).current_state, 'occupied');
  await f.sensor(s.devEui, false);
  t.equal((await f.space(s.id)).current_state, 'free');
  t.equal((await f.reservation(r)).checked_out_at, null, 'leaving after the end is not a check-out of the finished reservation');
});

t.test('no-show: the space default, then the tenant default, then the configured default', async (t) => {
  const f = await fixture(t, { env: { NO_SHOW_DEFAULT_MINUTES: '15' } });
  const own = await f.newSpace({ auto_release_minutes: 5 });
  const plain = await f.newSpace();
  for (const s of [own, plain]) await f.sensor(s.devEui, false);

  const r1 = await f.reserve(own.id, -1, 3600);
  const r2 = await f.reserve(plain.id, -1, 3600);
  await f.expire();
  t.equal((await f.space(own.id)).current_state, 'reserved');

  await f.shift(r1, -4 * 60, 3600);
  await f.shift(r2, -14 * 60, 3600);
  t.match(await f.expire(), { no_shows: 0 }, 'inside their windows for arrival');

  await f.shift(r1, -5 * 60 - 1, 3600);
  t.match(await f.expire(), { no_shows: 1 });
  t.equal((await f.reservation(r1)).status, 'no_show', "past the space's auto_release_minutes");
  t.equal((await f.space(own.id)).current_state, 'free', 'released');
  t.same((await f.events(own.id)).slice(-2), [
    { from_state: 'free', to_state: 'reserved', cause: 'reservation_start', reservation_id: r1 },
    { from_state: 'reserved', to_state: 'free', cause: 'reservation_end', reservation_id: r1 },
  ]);

  await f.api.db.owner.query(`UPDATE tenants SET settings = settings || '{"auto_release_minutes": 10}' WHERE id = $1`, [f.tenantId]);
  t.match(await f.expire(), { no_shows: 1 }, 'the tenant default (10 min) applies where the space has none');
  t.equal((await f.reservation(r2)).status, 'no_show');

  // A check-in before the deadline keeps it.
  const r3 = await f.reserve(plain.id, -60, 3600);
  await f.expire();
  await f.sensor(plain.devEui, true);
  await f.shift(r3, -3000, 3600);
  t.match(await f.expire(), { no_shows: 0 });
  t.equal((await f.reservation(r3)).status, 'active');

  // The job was not running: a reservation whose deadline passed unseen is activated, then a no-show.
  const other = await f.newSpace();
  await f.sensor(other.devEui, false);
  const r4 = await f.reserve(other.id, -3600, 3600);
  t.match(await f.expire(), { activated: 1, no_shows: 1 });
  t.equal((await f.reservation(r4)).status, 'no_show');
  t.equal((await f.space(other.id)).current_state, 'free');
});

t.test('never checked in, the window ends before the no-show deadline: expired', async (t) => {
  const f = await fixture(t);
  const s = await f.newSpace();
  await f.sensor(s.devEui, false);
  const r = await f.reserve(s.id, -1, 600);
  await f.expire();
  await f.shift(r, -600, -1);
  t.match(await f.expire(), { expired: 1, no_shows: 0 });
  t.equal((await f.reservation(r)).status, 'expired');
  t.equal((await f.space(s.id)).current_state, 'free');
  // A pending reservation whose whole window passed unseen expires without holding the space.
  const missed = await f.reserve(s.id, -7200, -3600);
  t.match(await f.expire(), { expired: 1, activated: 0 });
  t.equal((await f.reservation(missed)).status, 'expired');
  t.equal((await f.events(s.id)).filter((e) => e.reservation_id === missed).length, 0, 'no space event for it');
});

t.test('back-to-back: one ends and the next starts in the same sweep', async (t) => {
  const f = await fixture(t);
  const s = await f.newSpace();
  await f.sensor(s.devEui, false);
  const first = await f.reserve(s.id, -1, 3600);
  const second = await f.reserve(s.id, 3600, 7200);
  await f.expire();
  await f.shift(first, -600, -2); // shorter than the no-show window: it expires
  await f.shift(second, -2, 3600);
  t.match(await f.expire(), { expired: 1, activated: 1 });
  t.match(await f.reservation(first), { status: 'expired' });
  t.match(await f.reservation(second), { status: 'active' });
  t.equal((await f.space(s.id)).current_state, 'reserved', 'held by the second');
  t.same((await f.events(s.id)).slice(-2).map((e) => [e.cause, e.reservation_id]), [
    ['reservation_end', first],
    ['reservation_start', second],
  ]);
  // Now the sensor checks in the second, not the first.
  await f.sensor(s.devEui, true);
  t.match(await f.reservation(second), { checked_in: true });
  t.match(await f.reservation(first), { checked_in: false });
});

t.test('cancel: an active reservation releases its space at once; a checked-in one leaves the vehicle', async (t) => {
  const f = await fixture(t);
  const s = await f.newSpace();
  await f.sensor(s.devEui, false);
  const r = await f.reserve(s.id, -1, 3600);
  await f.expire();
  t.equal((await f.space(s.id)).current_state, 'reserved');
  const c = await f.api.request('PUT', `/api/v6/reservations/${r}/cancel`, { token: f.token, json: {} });
  t.equal(c.status, 200);
  t.equal((await f.space(s.id)).current_state, 'free');
  t.same((await f.events(s.id)).at(-1), { from_state: 'reserved', to_state: 'free', cause: 'reservation_end', reservation_id: r });
  t.match(await f.expire(), { activated: 0, expired: 0 }, 'a cancelled reservation is nothing to the job');

  const r2 = await f.reserve(s.id, -1, 3600);
  await f.expire();
  await f.sensor(s.devEui, true);
  await f.api.request('DELETE', `/api/v6/reservations/${r2}`, { token: f.token });
  t.equal((await f.space(s.id)).current_state, 'occupied', 'the sensor still says occupied');
  await f.sensor(s.devEui, false);
  t.equal((await f.reservation(r2)).checked_out_at, null, 'a cancelled reservation is not checked out');
  t.equal((await f.space(s.id)).current_state, 'free');
});

t.test('precise timer: a reservation reads reserved within a second of its start, without a cron tick', async (t) => {
  const f = await fixture(t, { timer: true });
  const s = await f.newSpace();
  await f.sensor(s.devEui, false);
  const start = new Date(Date.now() + 1_500);
  const r = await f.api.request('POST', '/api/v6/reservations', {
    token: f.token,
    json: { space_id: s.id, start_time: start.toISOString(), end_time: new Date(start.getTime() + 2_500).toISOString() },
  });
  t.equal(r.status, 201);
  t.equal(r.body.status, 'pending');
  await waitFor(async () => (await f.space(s.id)).current_state === 'reserved', 5_000, 'reserved');
  const lag = await f.api.db.owner.query(
    `SELECT extract(epoch FROM (e.at - r.start_time)) * 1000 AS ms FROM space_events e JOIN reservations r ON r.id = e.reservation_id
      WHERE e.reservation_id = $1 AND e.cause = 'reservation_start'`,
    [r.body.id],
  );
  const ms = Number(lag.rows[0].ms);
  t.ok(ms >= 0 && ms < 1_000, `activated ${ms.toFixed(0)} ms after its start`);

  await waitFor(async () => (await f.space(s.id)).current_state === 'free', 5_000, 'free after the end');
  t.equal((await f.reservation(r.body.id)).status, 'expired');
  const runs = await f.api.db.owner.query(`SELECT trigger, counts FROM job_runs WHERE job = 'expire_reservations' ORDER BY id`);
  t.ok(runs.rows.length >= 2 && runs.rows.every((x) => x.trigger === 'timer'), 'recorded as timer runs');
});
