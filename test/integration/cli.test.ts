// The baygate CLI, run as a child process (as an operator runs it) against this file's
// database: --help everywhere, migrate, create-tenant, create-user (then logging in
// through the API proves the accounts work), simulate into a real ingest, status and
// export-openapi; usage errors exit 2, failures 1.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testApi } from '../helpers/api.js';
import { testIngest } from '../helpers/ingest.js';
import { waitFor } from '../helpers/wait.js';
import { withDatabase } from '../helpers/pg-url.js';
import { createOwnerPool } from '../../src/db/pool.js';
import { createLogger } from '../../src/log.js';
import { LATEST_VERSION } from '../../src/db/migrate.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/baygate.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function baygate(args: string[], env: Record<string, string | undefined>, stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    // Runs from another directory: the command must not depend on the working directory.
    const child = spawn(process.execPath, [BIN, ...args], { cwd: tmpdir(), env: { ...env, BCRYPT_ROUNDS: '4' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

// About 25 child processes, each loading TypeScript through tsx: more than the default
// per-file budget (.taprc) on a loaded two-core machine.
t.setTimeout(300_000);

const COMMANDS = ['migrate', 'create-tenant', 'create-user', 'simulate', 'status', 'export-openapi'];

t.test('help', async (t) => {
  const { DATABASE_URL: _, ...env } = process.env;
  const top = await baygate(['--help'], env);
  t.equal(top.code, 0);
  for (const c of COMMANDS) t.match(top.stdout, new RegExp(`^  ${c} `, 'm'), `--help lists ${c}`);
  for (const c of COMMANDS) {
    const r = await baygate([c, '--help'], env);
    t.equal(r.code, 0, `${c} --help exits 0`);
    t.match(r.stdout, `Usage: baygate ${c}`, `${c} --help shows its usage`);
  }
  const unknown = await baygate(['frobnicate'], env);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, 'unknown command "frobnicate"');
  const badFlag = await baygate(['status', '--nope'], env);
  t.equal(badFlag.code, 2, 'an unknown flag is a usage error');
  const noDb = await baygate(['status'], env);
  t.equal(noDb.code, 2);
  t.match(noDb.stderr, 'DATABASE_URL', 'names the missing variable');
});

t.test('migrate an empty database, then status says it is current', async (t) => {
  const api = await testApi(t);
  const name = `${api.db.name}_empty`;
  await api.db.owner.query(`CREATE DATABASE ${name}`);
  const url = withDatabase(api.db.url, name);
  t.teardown(async () => {
    const admin = createOwnerPool(api.db.url, { max: 1, log: createLogger('silent'), applicationName: 'baygate-test' });
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });
  const env = { ...process.env, DATABASE_URL: url };
  const first = await baygate(['migrate'], env);
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, new RegExp(`applied migrations 1, .*schema at version ${LATEST_VERSION()}`));
  const again = await baygate(['migrate'], env);
  t.equal(again.code, 0);
  t.match(again.stdout, `schema is current (version ${LATEST_VERSION()})`, 'a second run applies nothing');
  const status = await baygate(['status', '--json'], env);
  t.equal(status.code, 0, status.stderr);
  t.match(JSON.parse(status.stdout), { schema: { version: LATEST_VERSION(), current: true }, tenants: 0, last_uplink: null });
});

t.test('create-tenant and create-user make accounts that log in', async (t) => {
  const api = await testApi(t);
  const env = { ...process.env, DATABASE_URL: api.db.url };
  const ownerPassword = 'owner password from stdin';
  const created = await baygate(
    ['create-tenant', '--name', 'Harbour City', '--slug', 'harbour', '--owner-email', 'Boss@Harbour.example', '--owner-username', 'boss', '--password-stdin', '--json'],
    env,
    `${ownerPassword}\n`,
  );
  t.equal(created.code, 0, created.stderr);
  const tenant = JSON.parse(created.stdout);
  t.match(tenant, { slug: 'harbour', tenant_id: String, default_site_id: String, owner: { email: 'boss@harbour.example' } });

  const login = await api.request('POST', '/api/auth/login', { json: { email: 'boss@harbour.example', password: ownerPassword } });
  t.equal(login.status, 200, 'the owner logs in with the password given on stdin');
  t.match(login.body.user, { tenant_id: tenant.tenant_id, tenant_slug: 'harbour', role: 'owner' });
  const sites = await api.request('GET', '/api/v6/sites', { token: login.body.access_token });
  t.match(sites.body.items, [{ id: tenant.default_site_id, is_default: true }], 'with its default site');

  const user = await baygate(
    ['create-user', '--tenant', 'harbour', '--email', 'op@harbour.example', '--username', 'op', '--role', 'operator', '--password', 'operator-password'],
    env,
  );
  t.equal(user.code, 0, user.stderr);
  t.match(user.stdout, 'created operator op@harbour.example');
  const opLogin = await api.request('POST', '/api/auth/login', { form: { username: 'op@harbour.example', password: 'operator-password' } });
  t.equal(opLogin.status, 200);
  t.equal(opLogin.body.user.role, 'operator');

  const duplicate = await baygate(['create-tenant', '--name', 'Again', '--slug', 'harbour'], env);
  t.equal(duplicate.code, 1, 'a duplicate slug fails');
  t.match(duplicate.stderr, /already exists|conflict/i);
  const badSlug = await baygate(['create-tenant', '--name', 'Bad', '--slug', 'Not A Slug'], env);
  t.equal(badSlug.code, 2);
  t.match(badSlug.stderr, '--slug must match');
  const shortPw = await baygate(['create-user', '--tenant', 'harbour', '--email', 'x@harbour.example', '--username', 'x', '--role', 'viewer', '--password', 'short'], env);
  t.equal(shortPw.code, 2);
  t.match(shortPw.stderr, 'at least 8 characters');
  const badRole = await baygate(['create-user', '--tenant', 'harbour', '--email', 'x@harbour.example', '--username', 'x', '--role', 'king', '--password', 'long enough'], env);
  t.equal(badRole.code, 2);
  const noTenant = await baygate(['create-user', '--tenant', 'nowhere', '--email', 'x@n.example', '--username', 'x', '--role', 'viewer', '--password', 'long enough'], env);
  t.equal(noTenant.code, 2);
  t.match(noTenant.stderr, 'no tenant with slug "nowhere"');
});

t.test('simulate feeds ingest; status shows the counts and the last uplink', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('sim');
  const ingest = await testIngest(t, api.db);
  const devEui = '70B3D5E75E00A001';
  const space = (await api.request('POST', '/api/v6/spaces', { token, json: { code: 'S-1' } })).body;
  const device = (await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: devEui, device_type: 'sensor', decoder: 'nwave-nps405' } })).body;
  t.equal((await api.request('POST', `/api/v6/devices/${device.id}/assign`, { token, json: { space_id: space.id } })).status, 200);

  const env = { ...process.env, DATABASE_URL: api.db.url };
  const sim = await baygate(
    ['simulate', '--url', ingest.broker.chirpstackUrl, '--template', ingest.broker.template, '--devices', '1', '--first-dev-eui', devEui, '--count', '6', '--rate', '50', '--seed', '7', '--quiet'],
    env,
  );
  t.equal(sim.code, 0, sim.stderr);
  t.match(sim.stdout, /sent 6 messages from 1 sensors/);
  const readings = async () => Number((await api.db.owner.query('SELECT count(*) AS n FROM sensor_readings WHERE dev_eui = $1', [devEui])).rows[0].n);
  await waitFor(async () => (await readings()) === 6, 15_000, 'six readings from the simulator');
  const state = (await api.request('GET', `/api/v6/spaces/${space.id}`, { token })).body.current_state;
  t.ok(state === 'free' || state === 'occupied', `the simulated sensor drives the space (${state})`);

  const status = await baygate(['status', '--json'], env);
  t.equal(status.code, 0, status.stderr);
  const s = JSON.parse(status.stdout);
  t.match(s, { schema: { current: true }, tenants: 1, sites: 1, spaces: 1, devices: 1, readings: 6, dead_letters: 0 });
  t.equal(s.last_uplink.dev_eui.toUpperCase(), devEui);
  const text = await baygate(['status'], env);
  t.match(text.stdout, /^last uplink\s+\S+ from 70B3D5E75E00A001$/m, 'human-readable status');
  t.match(text.stdout, /^spaces\s+1 \((free|occupied) 1\)$/m);

  const badDecoder = await baygate(['simulate', '--decoder', 'nope'], env);
  t.equal(badDecoder.code, 2);
  t.match(badDecoder.stderr, '--decoder must be one of');
});

t.test('export-openapi prints the served document', async (t) => {
  const api = await testApi(t);
  const { DATABASE_URL: _, ...env } = process.env;
  const printed = await baygate(['export-openapi'], { ...env, NODE_ENV: 'production' });
  t.equal(printed.code, 0, `${printed.stderr} (needs neither a database nor JWT_SECRET)`);
  const served = await api.request('GET', '/openapi.json');
  t.same(JSON.parse(printed.stdout), served.body, 'the same document as /openapi.json');

  const dir = mkdtempSync(join(tmpdir(), 'baygate-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'openapi.json');
  const written = await baygate(['export-openapi', '--out', out], env);
  t.equal(written.code, 0);
  t.equal(JSON.parse(readFileSync(out, 'utf8')).openapi, '3.1.0');
});
