// Issue 17 §5: nothing from outside grows without bound or poisons a shared path.
// A display's config.application_id (it goes into a command topic) must be a lowercase UUID;
// dead letters keep at most DEAD_LETTER_PAYLOAD_MAX_BYTES of a payload and its size as
// received; the bookkeeping job deletes old dead letters (DEAD_LETTER_RETENTION_DAYS),
// unclaimed devices silent for a month and login attempts past every window; migration 0020
// fixes what was stored before.
import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { testApi, testConfig } from '../helpers/api.js';
import { testDb, testServerUrl } from '../helpers/db.js';
import { testIngest } from '../helpers/ingest.js';
import { waitFor } from '../helpers/wait.js';
import { withDatabase } from '../helpers/pg-url.js';
import { startJobs, JOB_NAMES, type JobName } from '../../ingest/jobs/index.js';
import { UNCLAIMED_DEVICES_RETENTION_DAYS } from '../../ingest/jobs/cleanup-bookkeeping.js';
import { DEAD_LETTER_PAYLOAD_MAX_BYTES } from '../../src/storage/dead-letters.js';
import { listMigrations, migrate } from '../../src/db/migrate.js';
import { createOwnerPool } from '../../src/db/pool.js';
import { createLogger } from '../../src/log.js';
import { upEvent } from '../../src/simulator/events.js';

const log = createLogger(process.env.LOG_LEVEL ?? 'silent', 'test-intake-bounds');
const APP = '6c0a2b8e-2c4a-4d2e-9a51-0f6c7e3d1a11';
const NEVER = '0 0 0 1 1 *';
const quiet = () => Object.fromEntries(JOB_NAMES.map((n) => [n, NEVER])) as Record<JobName, string>;

t.test('a display config.application_id that is not a lowercase UUID: 400 naming the field', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const bad = ['#', '+', 'a/+/b', `${APP}/#`, APP.toUpperCase(), `urn:uuid:${APP}`, '', 'app-1', ` ${APP}`];
  let n = 0;
  const eui = () => `70B3D5E75E00C${(++n).toString(16).toUpperCase().padStart(3, '0')}`;
  for (const value of bad) {
    const r = await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: eui(), device_type: 'display', config: { application_id: value } } });
    t.equal(r.status, 400, `POST ${JSON.stringify(value)}: 400`);
    t.equal(r.body.error.code, 'validation_error');
    t.match(r.body.error.message, /^body\.config\.application_id /, 'the message names the field');
    t.ok(r.body.error.details.length > 0 && r.body.error.details.every((d: any) => d.field === 'body.config.application_id'), 'so do the details');
  }
  t.equal((await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: eui(), device_type: 'display', config: { application_id: 42 } } })).status, 400, 'a number: 400');
  t.equal((await api.db.owner.query(`SELECT count(*)::int AS n FROM devices`)).rows[0].n, 0, 'nothing refused was stored');

  const ok = await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: eui(), device_type: 'display', config: { application_id: APP } } });
  t.equal(ok.status, 201, 'a lowercase UUID is taken');
  t.same(ok.body.config, { application_id: APP });
  const id = ok.body.id;
  for (const method of ['PATCH', 'PUT'] as const) {
    const r = await api.request(method, `/api/v6/devices/${id}`, { token, json: { config: { application_id: '#' } } });
    t.equal(r.status, 400, `${method} with '#': 400`);
    t.equal(r.body.error.details[0].field, 'body.config.application_id');
  }
  t.same((await api.request('GET', `/api/v6/devices/${id}`, { token })).body.config, { application_id: APP }, 'the refused edits changed nothing');
});

t.test('a dead letter above the cap is stored cut, with its size as received; the API says so', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const ingest = await testIngest(t, api.db);
  const devEui = '70B3D5E75E00D001';
  t.equal((await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: devEui, device_type: 'sensor', decoder: 'nwave-nps405' } })).status, 201);

  // fPort 99 is no nwave frame: decode_failed, a dead letter of the tenant's, holding the whole event.
  const small = Buffer.from(JSON.stringify(upEvent({ devEui, fCnt: 1, fPort: 99, data: Buffer.from([1]) })));
  const large = Buffer.from(JSON.stringify({ ...upEvent({ devEui, fCnt: 2, fPort: 99, data: Buffer.from([1]) }), padding: 'x'.repeat(DEAD_LETTER_PAYLOAD_MAX_BYTES) }));
  // Junk no tenant can be told of, twice the cap: capped all the same.
  const junk = randomBytes(2 * DEAD_LETTER_PAYLOAD_MAX_BYTES);
  await ingest.raw(devEui, 'up', small);
  await ingest.raw(devEui, 'up', large);
  await ingest.raw(devEui, 'up', junk);
  await waitFor(async () => (await api.db.owner.query('SELECT count(*)::int AS n FROM dead_letters')).rows[0].n === 3, 10_000, 'three dead letters');

  const rows = (await api.db.owner.query(`SELECT tenant_id IS NOT NULL AS tenanted, reason, payload, payload_size FROM dead_letters ORDER BY id`)).rows;
  t.same(rows.map((r) => r.tenanted), [true, true, false], "two the tenant's, the junk nobody's");
  t.same(rows.slice(0, 2).map((r) => r.reason), ['decode_failed', 'decode_failed']);
  t.ok(rows[0].payload.equals(small) && rows[0].payload_size === small.length, 'below the cap: kept whole');
  t.equal(rows[1].payload.length, DEAD_LETTER_PAYLOAD_MAX_BYTES, 'above the cap: cut at the cap');
  t.ok(rows[1].payload.equals(large.subarray(0, DEAD_LETTER_PAYLOAD_MAX_BYTES)), 'its first bytes, unchanged');
  t.equal(rows[1].payload_size, large.length, 'with its size as received');
  t.ok(rows[2].payload.equals(junk.subarray(0, DEAD_LETTER_PAYLOAD_MAX_BYTES)) && rows[2].payload_size === junk.length, 'untenanted junk alike');

  const listed = await api.request('GET', '/api/v6/dead-letters', { token });
  t.equal(listed.status, 200);
  t.match(listed.body, { total: 2 });
  t.match(listed.body.items, [
    { reason: 'decode_failed', payload_bytes: large.length, payload_truncated: true },
    { reason: 'decode_failed', payload_bytes: small.length, payload_truncated: false },
  ], 'newest first: the original size and whether it was cut');
  t.equal(Buffer.from(listed.body.items[0].payload_preview, 'base64').toString(), large.subarray(0, 512).toString(), 'the preview is the first bytes');

  const doc = (await api.request('GET', '/openapi.json')).body;
  const item = doc.paths['/api/v6/dead-letters'].get.responses['200'].content['application/json'].schema.properties.items.items;
  t.match(item.properties, { payload_bytes: { type: 'integer' }, payload_truncated: { type: 'boolean' } }, 'the OpenAPI document shows both');
});

t.test('cleanup_bookkeeping deletes old dead letters, silent unclaimed devices and login attempts past every window', async (t) => {
  const db = await testDb(t);
  const q = (sql: string, params: unknown[] = []) => db.owner.query(sql, params);
  const tenants: string[] = [];
  for (const slug of ['acme', 'other']) {
    tenants.push((await q(`INSERT INTO tenants (id, name, slug) VALUES ($1, $2, $2) RETURNING id`, [randomUUID(), slug])).rows[0].id);
  }
  // Ages in days, retention 10 days: 11 and 40 go, 9 and 0 stay, in both tenants and in none.
  // Beyond one DELETE batch (5,000) of the untenanted, so the job's loop goes round.
  for (const tenant of [...tenants, null]) {
    await q(
      `INSERT INTO dead_letters (tenant_id, topic, payload, payload_size, reason, error, received_at)
       SELECT $1::uuid, 't', '\\x00', 1, 'r', 'e', now() - make_interval(days => age) FROM unnest(ARRAY[40, 11, 9, 0]) AS age`,
      [tenant],
    );
  }
  await q(`INSERT INTO dead_letters (tenant_id, topic, payload, payload_size, reason, error, received_at)
           SELECT NULL, 't', '\\x00', 1, 'r', 'e', now() - interval '20 days' FROM generate_series(1, 12000)`);
  const days = UNCLAIMED_DEVICES_RETENTION_DAYS;
  await q(
    `INSERT INTO unclaimed_devices (dev_eui, application_id, first_seen_at, last_seen_at, uplink_count)
     VALUES ('70B3D5E75E00E001', $1, now() - make_interval(days => $2 + 10), now() - make_interval(days => $2, mins => 1), 3),
            ('70B3D5E75E00E002', $1, now() - make_interval(days => $2 + 10), now() - make_interval(days => $2) + interval '1 hour', 3),
            ('70B3D5E75E00E003', $1, now(), now(), 1)`,
    [APP, days],
  );
  await q(
    `INSERT INTO login_attempts (account, ip, attempted_at)
     VALUES ('old@x.example', '192.0.2.1', now() - interval '25 hours'),
            ('day@x.example', '192.0.2.1', now() - interval '23 hours'),
            ('now@x.example', '192.0.2.2', now())`,
  );

  const jobs = startJobs({ pool: db.ingest, log, config: testConfig({ DEAD_LETTER_RETENTION_DAYS: '10' }), schedules: quiet(), reservationTimer: false });
  t.teardown(() => jobs.stop());
  const run = await jobs.runOnce('cleanup_bookkeeping');
  t.match(run, { status: 'succeeded', error: null, counts: { dead_letters_deleted: 2 + 2 + 2 + 12000, unclaimed_devices_deleted: 1, login_attempts_deleted: 1 } });

  const left = await q(`SELECT tenant_id, extract(day FROM now() - received_at)::int AS age FROM dead_letters ORDER BY tenant_id NULLS LAST, age DESC`);
  t.same(left.rows.map((r) => [r.tenant_id, r.age]), [...tenants.sort(), null].flatMap((id) => [[id, 9], [id, 0]]), 'the young dead letters stay, in every tenant and in none');
  t.same((await q(`SELECT dev_eui FROM unclaimed_devices ORDER BY dev_eui`)).rows.map((r) => r.dev_eui), ['70B3D5E75E00E002', '70B3D5E75E00E003'], `unclaimed devices heard within ${days} days stay`);
  t.same((await q(`SELECT account FROM login_attempts ORDER BY account`)).rows.map((r) => r.account), ['day@x.example', 'now@x.example'], 'attempts younger than a day stay');
  // A day is past every window: loadConfig takes no longer LOGIN_WINDOW_SECONDS.
  t.throws(() => testConfig({ LOGIN_WINDOW_SECONDS: String(86_400 + 1) }), /LOGIN_WINDOW_SECONDS/);
  t.equal(testConfig({ LOGIN_WINDOW_SECONDS: '86400' }).loginWindowSeconds, 86_400);

  const again = await jobs.runOnce('cleanup_bookkeeping');
  t.match(again, { counts: { dead_letters_deleted: 0, unclaimed_devices_deleted: 0, login_attempts_deleted: 0 } }, 'a second run finds nothing');

  // Least privilege stays: the roles reach login_attempts only through functions.
  await t.rejects(db.ingest.query('SELECT * FROM login_attempts'), /permission denied/, 'ingest cannot read login attempts');
  await t.rejects(db.ingest.query('DELETE FROM login_attempts'), /permission denied/, 'nor delete them itself');
  await t.rejects(db.app.query('SELECT baygate_login_attempts_prune(10)'), /permission denied/, 'the API role cannot prune');
  const untenanted = await db.app.query(`SELECT count(*)::int AS n FROM dead_letters`);
  t.equal(untenanted.rows[0].n, 0, 'the API role still sees no untenanted dead letter');
});

t.test('migration 0020 fixes what was stored before it', async (t) => {
  const admin = createOwnerPool(testServerUrl(), { max: 1, log, applicationName: 'baygate-test-0020' });
  const name = `baygate_t_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const owner = createOwnerPool(withDatabase(testServerUrl(), name), { max: 1, log, applicationName: 'baygate-test-0020' });
  t.teardown(async () => {
    await owner.end();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });
  await migrate(owner, listMigrations().filter((m) => m.version < 20));

  const tenant = (await owner.query(`INSERT INTO tenants (id, name, slug) VALUES ($1, 'acme', 'acme') RETURNING id`, [randomUUID()])).rows[0].id;
  const configs: Record<string, unknown> = {
    '70B3D5E75E00F001': { application_id: '#', display_encoding: 'generic' },
    '70B3D5E75E00F002': { application_id: `${APP}/+` },
    '70B3D5E75E00F003': { application_id: 42 },
    '70B3D5E75E00F004': { application_id: APP.toUpperCase() },
    '70B3D5E75E00F005': { application_id: APP },
    '70B3D5E75E00F006': { heartbeat_minutes: 30 },
  };
  for (const [eui, config] of Object.entries(configs)) {
    await owner.query(`INSERT INTO devices (tenant_id, dev_eui, device_type, config) VALUES ($1, $2, 'display', $3)`, [tenant, eui, config]);
  }
  const big = randomBytes(DEAD_LETTER_PAYLOAD_MAX_BYTES + 100);
  await owner.query(
    `INSERT INTO dead_letters (tenant_id, topic, payload, reason, error) VALUES ($1, 't', $2, 'r', 'e'), (NULL, 't', '\\x0102', 'r', 'e')`,
    [tenant, big],
  );

  t.same(await migrate(owner), [...listMigrations().filter((m) => m.version >= 20).map((m) => m.version)], 'the rest applies');
  const after = await owner.query(`SELECT dev_eui, config FROM devices ORDER BY dev_eui`);
  t.same(after.rows.map((r) => r.config), [
    { display_encoding: 'generic' },
    {},
    {},
    { application_id: APP },
    { application_id: APP },
    { heartbeat_minutes: 30 },
  ], 'an application id that is no UUID is dropped, an uppercase one lowercased, the rest untouched');
  const dead = await owner.query(`SELECT payload, payload_size FROM dead_letters ORDER BY id`);
  t.ok(dead.rows[0].payload.equals(big.subarray(0, DEAD_LETTER_PAYLOAD_MAX_BYTES)), 'a payload above the cap is cut');
  t.equal(dead.rows[0].payload_size, big.length, 'and keeps its size');
  t.same([dead.rows[1].payload, dead.rows[1].payload_size], [Buffer.from([1, 2]), 2], 'a small one is whole');
  await t.rejects(
    owner.query(`INSERT INTO dead_letters (tenant_id, topic, payload, payload_size, reason, error) VALUES (NULL, 't', '\\x0102', 1, 'r', 'e')`),
    /dead_letters_payload_size_check/,
    'a size below what is stored is refused',
  );
});
