// Jobs: two schedulers (two ingest replicas) on one database run each tick once; every run
// is recorded in job_runs; unconfigured jobs report skipped; the cleanup jobs delete what
// is past retention, per tenant, and nothing else.
import t from 'tap';
import { testApi } from '../helpers/api.js';
import { testDb } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { startJobs, JOB_NAMES, type JobName } from '../../ingest/jobs/index.js';
import { createRuntimePool } from '../../src/db/pool.js';
import { createLogger } from '../../src/log.js';
import { testConfig } from '../helpers/api.js';
import { sequenceTenantEvents } from '../../src/storage/tenant-events.js';

const log = createLogger(process.env.LOG_LEVEL ?? 'silent', 'test-jobs');
const NEVER = '0 0 0 1 1 *';
const quiet = (over: Partial<Record<JobName, string>> = {}) =>
  ({ ...Object.fromEntries(JOB_NAMES.map((n) => [n, NEVER])), ...over }) as Record<JobName, string>;

t.test('two schedulers: each tick runs once', async (t) => {
  const db = await testDb(t);
  const config = testConfig();
  const second = createRuntimePool(db.url, 'baygate_ingest', { max: 3, log, applicationName: 'baygate-test-ingest-2' });
  t.teardown(() => second.end());
  // Every two seconds: the election tolerates a tick arriving up to one second late.
  const schedules = quiet({ expire_reservations: '*/2 * * * * *', process_webhook_spool: '1-59/2 * * * * *' });
  const a = startJobs({ pool: db.ingest, log, config, schedules, reservationTimer: false, runnerId: 'replica-a' });
  const b = startJobs({ pool: second, log, config, schedules, reservationTimer: false, runnerId: 'replica-b' });
  let stopped = false;
  const stopBoth = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all([a.stop(), b.stop()]);
  };
  t.teardown(stopBoth);

  const runs = async (job: string) =>
    Number((await db.owner.query(`SELECT count(*) AS n FROM job_runs WHERE job = $1 AND trigger = 'schedule'`, [job])).rows[0].n);
  await waitFor(async () => (await runs('expire_reservations')) >= 4 && (await runs('process_webhook_spool')) >= 4, 20_000, 'four ticks of each');
  await stopBoth();

  for (const job of ['expire_reservations', 'process_webhook_spool'] as const) {
    const sa = a.stats()[job];
    const sb = b.stats()[job];
    const recorded = await runs(job);
    t.equal(sa.elected + sb.elected, recorded, `${job}: one job_runs row per elected tick`);
    // Both schedulers fired every tick: each tick one won, the other lost (a stop can cut the last one).
    t.ok(Math.abs(sa.lost + sb.lost - recorded) <= 1, `${job}: ${recorded} ticks, ${sa.lost + sb.lost} lost elections`);
    const close = await db.owner.query(
      `SELECT count(*)::int AS n FROM (
         SELECT started_at - lag(started_at) OVER (ORDER BY started_at) AS gap FROM job_runs WHERE job = $1 AND trigger = 'schedule') x
        WHERE gap < interval '1 second'`,
      [job],
    );
    t.equal(close.rows[0].n, 0, `${job}: no tick ran twice`);
  }
  const rows = await db.owner.query(`SELECT job, status, runner, counts, detail, finished_at FROM job_runs WHERE trigger = 'schedule' ORDER BY id`);
  t.ok(rows.rows.every((r) => ['replica-a', 'replica-b'].includes(r.runner) && r.finished_at !== null), 'every run finished and names its runner');
  t.ok(rows.rows.filter((r) => r.job === 'expire_reservations').every((r) => r.status === 'succeeded'), 'expire_reservations succeeded');
  t.match(rows.rows.find((r) => r.job === 'process_webhook_spool'), { status: 'succeeded', counts: { applied: 0, retried: 0, dead: 0 } });
  const schedule = await db.owner.query(`SELECT job FROM job_schedule ORDER BY job`);
  t.same(schedule.rows.map((r) => r.job), ['expire_reservations', 'process_webhook_spool'], 'only jobs that ticked have a schedule row');
});

t.test('runOnce records every job; skipped until configured', async (t) => {
  const db = await testDb(t);
  const jobs = startJobs({ pool: db.ingest, log, config: testConfig(), schedules: quiet(), reservationTimer: false });
  t.teardown(() => jobs.stop());
  for (const name of ['process_webhook_spool', 'sync_chirpstack'] as const) {
    const run = await jobs.runOnce(name);
    if (name === 'sync_chirpstack') t.match(run, { job: name, trigger: 'manual', status: 'skipped', counts: {}, error: null, detail: /not configured/ }, name);
    else t.match(run, { job: name, trigger: 'manual', status: 'succeeded', counts: { applied: 0, retried: 0, dead: 0 }, error: null }, name);
    t.ok(run.finished_at && run.finished_at >= run.started_at);
  }
  const run = await jobs.runOnce('expire_reservations');
  t.match(run, { status: 'succeeded', counts: { activated: 0, no_shows: 0, completed: 0, expired: 0, transitions: 0 } });
  await t.rejects(jobs.runOnce('nope' as JobName), /unknown job/);
  const recorded = await db.owner.query('SELECT job, status FROM job_runs ORDER BY id');
  t.same(recorded.rows.map((r) => `${r.job}:${r.status}`), ['process_webhook_spool:succeeded', 'sync_chirpstack:skipped', 'expire_reservations:succeeded']);

  await t.rejects(db.app.query('SELECT * FROM job_runs'), /permission denied/, 'the API role cannot read job_runs');
  await t.rejects(db.app.query('SELECT * FROM job_schedule'), /permission denied/, 'nor job_schedule');
});

t.test('cleanup_readings and cleanup_bookkeeping delete what is past retention, in every tenant', async (t) => {
  const api = await testApi(t, { READING_RETENTION_DAYS: '30' });
  const db = api.db;
  const tenants: string[] = [];
  for (const slug of ['acme', 'other']) {
    const { token, user } = await api.register(slug);
    tenants.push(user.tenant_id);
    const device = await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: slug === 'acme' ? '70B3D5E75E000001' : '70B3D5E75E000002', device_type: 'sensor' } });
    // 3 old readings and 2 recent ones per tenant.
    await db.owner.query(
      `INSERT INTO sensor_readings (tenant_id, device_id, dev_eui, deduplication_id, f_cnt, f_port, received_at, raw, kind)
       SELECT $1, $2, $3, gen_random_uuid(), g, 1, now() - make_interval(days => CASE WHEN g <= 3 THEN 31 ELSE 29 END), '\\x00', 'status'
         FROM generate_series(1, 5) g`,
      [user.tenant_id, device.body.id, device.body.dev_eui],
    );
    const space = (await api.request('POST', '/api/v6/spaces', { token, json: { code: 'A1' } })).body;
    for (const [i, age] of [[1, '25 hours'], [2, '1 hour']] as const) {
      const start = new Date(Date.now() + i * 3_600_000).toISOString();
      const end = new Date(Date.now() + i * 3_600_000 + 1_800_000).toISOString();
      const r = await api.request('POST', '/api/v6/reservations', { token, json: { space_id: space.id, start_time: start, end_time: end, request_id: `k${i}` } });
      t.equal(r.status, 201);
      await db.owner.query(`UPDATE idempotency_keys SET created_at = now() - $2::interval WHERE reservation_id = $1`, [r.body.id, age]);
    }
    // Webhook deliveries: delivered 8 days ago (goes), delivered yesterday and pending for 8 days (stay).
    const sub = await db.owner.query(
      `INSERT INTO webhook_subscriptions (tenant_id, url, events, enabled, secret) VALUES ($1, 'https://example.com/h', '{space_state}', false, repeat('s', 32)) RETURNING id`,
      [user.tenant_id],
    );
    await db.owner.query(
      `INSERT INTO webhook_deliveries (tenant_id, subscription_id, event_id, type, data, created_at, status, delivered_at)
       VALUES ($1, $2, 1, 'space_state', '{}', now() - interval '8 days', 'delivered', now() - interval '8 days'),
              ($1, $2, 2, 'space_state', '{}', now() - interval '1 day', 'delivered', now() - interval '1 day'),
              ($1, $2, 3, 'space_state', '{}', now() - interval '8 days', 'pending', NULL)`,
      [user.tenant_id, sub.rows[0].id],
    );
    // Display downlinks that ended 40 days ago: acknowledged, then superseded, then the latest
    // acknowledged one, which stays (it is what the sign was last told).
    const display = await db.owner.query(
      `INSERT INTO devices (tenant_id, dev_eui, device_type) VALUES ($1, $2, 'display') RETURNING id, dev_eui`,
      [user.tenant_id, slug === 'acme' ? '70B3D5E75E0000D1' : '70B3D5E75E0000D2'],
    );
    await db.owner.query(
      `INSERT INTO display_downlinks (tenant_id, device_id, display_state, colour, blink, encoding, dev_eui, application_id, topic,
                                      f_port, data, confirmed, status, max_attempts, updated_at)
       SELECT $1, $2, 'free', '#00ff00', false, 'generic', $3, 'app', 't', 10, '\\x00ff0000', true, s, 3, now() - interval '40 days'
         FROM unnest(ARRAY['acknowledged', 'superseded', 'acknowledged']) WITH ORDINALITY AS x(s, n) ORDER BY n`,
      [user.tenant_id, display.rows[0].id, display.rows[0].dev_eui],
    );
    // The fan-out's outbox: acme's seq 1 and 2 are 40 days old (go) and 3 is yesterday's;
    // other's newest numbered event (2) is old too but stays, and its event not yet numbered stays.
    await db.owner.query(
      `INSERT INTO tenant_events (tenant_id, type, name, data, at, seq)
       SELECT $1, 'reservation', 'created', '{}', now() - make_interval(days => age), seq
         FROM unnest($2::int[], $3::int[]) AS x(age, seq)`,
      [user.tenant_id, slug === 'acme' ? [40, 40, 1] : [40, 40, 40], slug === 'acme' ? [1, 2, 3] : [1, 2, null]],
    );
  }
  await db.owner.query(`INSERT INTO job_runs (job, trigger, runner, started_at, finished_at, status) VALUES ('old', 'manual', 'x', now() - interval '31 days', now() - interval '31 days', 'succeeded')`);

  const jobs = startJobs({ pool: db.ingest, log, config: api.config, schedules: quiet(), reservationTimer: false });
  t.teardown(() => jobs.stop());
  const readings = await jobs.runOnce('cleanup_readings');
  t.match(readings, { status: 'succeeded', counts: { deleted: 6, tenants: 2 } });
  const left = await db.owner.query('SELECT tenant_id, count(*)::int AS n FROM sensor_readings GROUP BY tenant_id ORDER BY tenant_id');
  t.same(left.rows.map((r) => r.n), [2, 2], 'the recent readings of both tenants stay');

  const book = await jobs.runOnce('cleanup_bookkeeping');
  t.match(book, { status: 'succeeded', counts: { idempotency_keys_deleted: 2, webhook_deliveries_deleted: 2, display_downlinks_deleted: 4, tenant_events_deleted: 3, job_runs_deleted: 1 } });
  const events = async (tenantId: string) =>
    (await db.owner.query(`SELECT seq FROM tenant_events WHERE tenant_id = $1 ORDER BY id`, [tenantId])).rows.map((r) => (r.seq === null ? null : Number(r.seq)));
  t.same(await events(tenants[0]!), [3], "acme's recent event stays");
  t.same(await events(tenants[1]!), [2, null], "other's highest-numbered event and its unnumbered one stay");
  await sequenceTenantEvents(db.owner, tenants[1]!);
  t.same(await events(tenants[1]!), [2, 3], 'numbering goes on after the highest kept, so no cursor skips the new event');
  const downlinks = await db.owner.query(`SELECT status, id = (SELECT max(id) FROM display_downlinks m WHERE m.device_id = d.device_id) AS latest FROM display_downlinks d`);
  t.same(downlinks.rows, [{ status: 'acknowledged', latest: true }, { status: 'acknowledged', latest: true }], "each sign's latest downlink stays");
  const deliveries = await db.owner.query(`SELECT event_id::int AS e FROM webhook_deliveries ORDER BY tenant_id, event_id`);
  t.same(deliveries.rows.map((r) => r.e), [2, 3, 2, 3], 'recent deliveries and the pending queue stay, in both tenants');
  const keys = await db.owner.query('SELECT key FROM idempotency_keys ORDER BY key');
  t.same(keys.rows.map((r) => r.key), ['k2', 'k2'], 'keys younger than 24 h stay');
  t.equal((await db.owner.query(`SELECT count(*)::int AS n FROM reservations`)).rows[0].n, 4, 'the reservations themselves stay');
});
