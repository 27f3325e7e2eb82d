// ChirpStack device sync: a real gRPC server started here from @chirpstack/chirpstack-api's
// DeviceService definition stands in for ChirpStack's API (the one system outside baygate);
// the sync_chirpstack job talks to it over a real gRPC round trip, then the tenants' mapping,
// registered devices and unclaimed lists are checked through the API, with uplinks from
// unknown DevEUIs published on a real broker as the second source.
import t, { type Test } from 'tap';
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { DeviceServiceService } from '@chirpstack/chirpstack-api/api/device_grpc_pb.js';
import devicePb from '@chirpstack/chirpstack-api/api/device_pb.js';
import { ApplicationServiceService } from '@chirpstack/chirpstack-api/api/application_grpc_pb.js';
import applicationPb from '@chirpstack/chirpstack-api/api/application_pb.js';
import timestampPb from 'google-protobuf/google/protobuf/timestamp_pb.js';
import { testApi, testConfig, type TestApi } from '../helpers/api.js';
import { testIngest } from '../helpers/ingest.js';
import { waitFor } from '../helpers/wait.js';
import { startJobs, JOB_NAMES, type JobName } from '../../ingest/jobs/index.js';
import { grpcTarget } from '../../src/chirpstack-api.js';
import { createLogger } from '../../src/log.js';
import { chirpstackKeyBox, listApiKeys } from '../../src/storage/chirpstack-keys.js';

const log = createLogger(process.env.LOG_LEVEL ?? 'silent', 'test-chirpstack');
const NEVER = '0 0 0 1 1 *';
const schedules = Object.fromEntries(JOB_NAMES.map((n) => [n, NEVER])) as Record<JobName, string>;
const PASSWORD = 'correct horse battery';
const API_KEY = 'chirpstack-api-key-for-tests';

const APP_ACME = '6f1a3c52-0d6e-4a55-9a38-2f6d9b0c1e01';
const APP_OTHER = '7b2e4d63-1e7f-4b66-8b49-3a7e0c1d2f02';
const APP_UNMAPPED = '8c3f5e74-2f80-4c77-9c5a-4b8f1d2e3a03';

interface Fixture {
  devEui: string;
  name: string;
  description?: string;
  profile: string;
  lastSeenAt?: Date;
  /** ChirpStack's battery_level: a percent, or -1 when unknown. */
  battery?: number;
}

/** ChirpStack's devices by application; tests change it between runs. */
const chirpstack = new Map<string, Fixture[]>();
const listCalls: { applicationId: string; limit: number; offset: number; key: string | null }[] = [];
/** ApplicationService.Get calls, with the key each came with. */
const getCalls: { applicationId: string; key: string | null }[] = [];
/**
 * Tenant API keys, as ChirpStack's UI makes them under a tenant: each reads only its own
 * tenant's applications. API_KEY is the operator's admin key and reads every application.
 */
const tenantKeys = new Map<string, Set<string>>();

function bearer(metadata: grpc.Metadata): string | null {
  const h = metadata.get('authorization')[0];
  return typeof h === 'string' && h.startsWith('Bearer ') ? h.slice('Bearer '.length) : null;
}

/**
 * ChirpStack's authorisation of one call on an application (its API authenticates the
 * `authorization: Bearer` metadata, then checks the key's access to the object): an unknown
 * key is UNAUTHENTICATED; a tenant key on another tenant's application is PERMISSION_DENIED;
 * null when the call may go on (the handler then answers NOT_FOUND for no such application).
 */
function authorise(metadata: grpc.Metadata, applicationId: string): grpc.ServiceError | null {
  const key = bearer(metadata);
  if (key === API_KEY) return null;
  const apps = key === null ? undefined : tenantKeys.get(key);
  if (!apps) return Object.assign(new Error('authentication failed: invalid token'), { code: grpc.status.UNAUTHENTICATED, details: 'authentication failed: invalid token', metadata: new grpc.Metadata() });
  if (!apps.has(applicationId) && chirpstack.has(applicationId)) {
    return Object.assign(new Error('permission denied'), { code: grpc.status.PERMISSION_DENIED, details: 'permission denied', metadata: new grpc.Metadata() });
  }
  return null;
}

function listItem(f: Fixture) {
  const item = new devicePb.DeviceListItem();
  item.setDevEui(f.devEui.toLowerCase()); // ChirpStack's API answers in lowercase hex
  item.setName(f.name);
  item.setDescription(f.description ?? '');
  item.setDeviceProfileId('14855bf7-d10d-4aee-b618-ebfcb64dc7ad');
  item.setDeviceProfileName(f.profile);
  if (f.lastSeenAt) item.setLastSeenAt(timestampPb.Timestamp.fromDate(f.lastSeenAt));
  if (f.battery !== undefined) {
    const status = new devicePb.DeviceStatus();
    status.setBatteryLevel(f.battery);
    status.setMargin(7);
    item.setDeviceStatus(status);
  }
  return item;
}

/** DeviceService.List as ChirpStack answers it: API key checked, filtered by application, paged by limit/offset. */
const list: grpc.handleUnaryCall<InstanceType<typeof devicePb.ListDevicesRequest>, InstanceType<typeof devicePb.ListDevicesResponse>> = (call, callback) => {
  const req = call.request;
  const refused = authorise(call.metadata, req.getApplicationId());
  if (refused) {
    callback(refused);
    return;
  }
  listCalls.push({ applicationId: req.getApplicationId(), limit: req.getLimit(), offset: req.getOffset(), key: bearer(call.metadata) });
  const all = chirpstack.get(req.getApplicationId());
  if (!all) {
    callback({ code: grpc.status.NOT_FOUND, details: 'object does not exist' });
    return;
  }
  const res = new devicePb.ListDevicesResponse();
  res.setTotalCount(all.length);
  res.setResultList(all.slice(req.getOffset(), req.getOffset() + req.getLimit()).map(listItem));
  callback(null, res);
};

/** ApplicationService.Get: the API key checked per request as List's is; NOT_FOUND for no such application. */
const getApplication: grpc.handleUnaryCall<InstanceType<typeof applicationPb.GetApplicationRequest>, InstanceType<typeof applicationPb.GetApplicationResponse>> = (call, callback) => {
  const id = call.request.getId();
  getCalls.push({ applicationId: id, key: bearer(call.metadata) });
  const refused = authorise(call.metadata, id);
  if (refused) {
    callback(refused);
    return;
  }
  if (!chirpstack.has(id)) {
    callback({ code: grpc.status.NOT_FOUND, details: 'object does not exist' });
    return;
  }
  const app = new applicationPb.Application();
  app.setId(id);
  app.setName(`application ${id.slice(0, 8)}`);
  const res = new applicationPb.GetApplicationResponse();
  res.setApplication(app);
  callback(null, res);
};

async function startChirpstack(t: Test): Promise<number> {
  const server = new grpc.Server();
  server.addService(DeviceServiceService, { list });
  // Only Get is served; grpc-js answers UNIMPLEMENTED for the rest.
  server.addService(ApplicationServiceService, { get: getApplication } as unknown as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  t.teardown(() => new Promise<void>((r) => server.tryShutdown(() => r())));
  return port;
}

async function member(api: TestApi, ownerToken: string, slug: string, role: string): Promise<string> {
  const email = `${role}@${slug}.example`;
  const added = await api.request('POST', '/api/v6/users', { token: ownerToken, json: { email, password: PASSWORD, username: role, role } });
  if (added.status !== 201) throw new Error(`adding ${role}: ${added.status}`);
  return (await api.request('POST', '/api/auth/login', { json: { email, password: PASSWORD } })).body.access_token;
}

t.test('grpcTarget: host:port is plaintext, https is TLS', async (t) => {
  t.same(grpcTarget('127.0.0.1:8080'), { address: '127.0.0.1:8080', tls: false });
  t.same(grpcTarget('http://chirpstack:8080'), { address: 'chirpstack:8080', tls: false });
  t.same(grpcTarget('https://chirpstack.example.com'), { address: 'chirpstack.example.com:443', tls: true });
  t.same(grpcTarget('HTTPS://cs.example.com:8443/'), { address: 'cs.example.com:8443', tls: true });
});

t.test('ChirpStack device sync', async (t) => {
  const api = await testApi(t);
  const db = api.db;
  const port = await startChirpstack(t);
  const acme = await api.register('acme');
  const other = await api.register('other');
  const acmeTech = await member(api, acme.token, 'acme', 'technician');
  const acmeAdmin = await member(api, acme.token, 'acme', 'admin');
  const acmeViewer = await member(api, acme.token, 'acme', 'viewer');

  const seen = new Date('2026-11-20T10:00:00.000Z');
  const REG_BARE = '70B3D5E75E0000A1'; // registered without name or model
  const REG_NAMED = '70B3D5E75E0000A2'; // registered with a technician's name
  const NEW = '70B3D5E75E0000B1'; // only in ChirpStack
  const GONE = '70B3D5E75E0000B2'; // in ChirpStack at first, deleted there later
  const ELSEWHERE = '70B3D5E75E0000C1'; // registered by the other tenant
  const HIDDEN = '70B3D5E75E0000D1'; // in an application no tenant mapped
  chirpstack.set(APP_ACME, [
    { devEui: REG_BARE, name: 'Bay 12', profile: 'Nwave NPS405 EU868', lastSeenAt: seen, battery: 87 },
    { devEui: REG_NAMED, name: 'ChirpStack name', profile: 'Nwave NPS405 EU868', lastSeenAt: seen, battery: 55 },
    { devEui: NEW, name: 'Unboxed sensor', description: 'pallet 3', profile: 'Bosch PLS EU868', battery: -1 },
    { devEui: GONE, name: 'Returned', profile: 'Bosch PLS EU868', lastSeenAt: seen, battery: 40 },
    { devEui: ELSEWHERE, name: 'Not ours', profile: 'Bosch PLS EU868' },
  ]);
  // More than one List page (ingest/chirpstack-api.ts LIST_PAGE_SIZE = 100).
  chirpstack.set(APP_OTHER, Array.from({ length: 130 }, (_, i) => ({
    devEui: `70B3D5E75E01${i.toString(16).toUpperCase().padStart(4, '0')}`, name: `other-${i}`, profile: 'Generic',
  })));
  chirpstack.set(APP_UNMAPPED, [{ devEui: HIDDEN, name: 'Hidden', profile: 'Generic' }]);

  for (const [eui, name] of [[REG_BARE, null], [REG_NAMED, 'Entrance left']] as const) {
    const r = await api.request('POST', '/api/v6/devices', { token: acme.token, json: { dev_eui: eui, device_type: 'sensor', name } });
    t.equal(r.status, 201);
  }
  t.equal((await api.request('POST', '/api/v6/devices', { token: other.token, json: { dev_eui: ELSEWHERE, device_type: 'sensor' } })).status, 201);

  const unclaimed = async (t: Test, token: string, query = '') => {
    const r = await api.request('GET', `/api/v6/devices/unclaimed${query}`, { token });
    t.equal(r.status, 200, 'unclaimed list answers');
    return r.body;
  };

  await t.test('mapping: admins only, one tenant per application', async (t) => {
    const path = '/api/v6/tenants/current/chirpstack';
    t.same((await api.request('GET', path, { token: acmeAdmin })).body, { application_ids: [], api_key_set: false }, 'none at first');
    for (const token of [acmeViewer, acmeTech]) {
      t.equal((await api.request('PUT', path, { token, json: { application_ids: [APP_ACME] } })).status, 403, 'below admin: refused');
      t.equal((await api.request('GET', path, { token })).status, 403);
    }
    const put = await api.request('PUT', path, { token: acmeAdmin, json: { application_ids: [APP_ACME.toUpperCase(), APP_UNMAPPED] } });
    t.equal(put.status, 200);
    t.same(put.body, { application_ids: [APP_ACME, APP_UNMAPPED], api_key_set: false }, 'answers with the mapping; without CHIRPSTACK_API_URL no key is asked for');
    const replaced = await api.request('PUT', path, { token: acme.token, json: { application_ids: [APP_ACME] } });
    t.same(replaced.body, { application_ids: [APP_ACME], api_key_set: false }, 'PUT replaces: an application left out is unmapped');
    t.same((await api.request('GET', path, { token: acmeAdmin })).body, { application_ids: [APP_ACME], api_key_set: false });

    const taken = await api.request('PUT', path, { token: other.token, json: { application_ids: [APP_OTHER, APP_ACME] } });
    t.equal(taken.status, 409, "another tenant's application");
    t.match(taken.body.error, { code: 'conflict', message: /another tenant/ });
    t.same((await api.request('GET', path, { token: other.token })).body, { application_ids: [], api_key_set: false }, 'nothing of the refused PUT stays');
    t.same((await api.request('PUT', path, { token: other.token, json: { application_ids: [APP_OTHER] } })).body, { application_ids: [APP_OTHER], api_key_set: false });

    const bad = await api.request('PUT', path, { token: acme.token, json: { application_ids: ['not-a-uuid'] } });
    t.equal(bad.status, 400);
    t.equal((await api.request('PUT', path, { token: acme.token, json: {} })).status, 400, 'application_ids is required');
    const unchecked = await api.request('PUT', path, { token: acme.token, json: { application_ids: [APP_ACME], api_key: 'cannot-be-checked' } });
    t.equal(unchecked.status, 422, 'without CHIRPSTACK_API_URL a key cannot be checked, so it is not taken');
    t.match(unchecked.body.error, { code: 'unprocessable', details: [{ field: 'body.api_key' }] });
  });

  await t.test('without CHIRPSTACK_API_URL and CHIRPSTACK_API_TOKEN the job is skipped', async (t) => {
    const partial: Record<string, string>[] = [{}, { CHIRPSTACK_API_URL: `127.0.0.1:${port}` }, { CHIRPSTACK_API_TOKEN: API_KEY }];
    for (const over of partial) {
      const jobs = startJobs({ pool: db.ingest, log, config: testConfig(over), schedules, reservationTimer: false });
      const run = await jobs.runOnce('sync_chirpstack');
      await jobs.stop();
      t.match(run, { status: 'skipped', counts: {}, error: null, detail: /not configured/ }, JSON.stringify(Object.keys(over)));
    }
    t.equal(listCalls.length, 0, 'ChirpStack was not called');
  });

  const config = testConfig({ CHIRPSTACK_API_URL: `http://127.0.0.1:${port}`, CHIRPSTACK_API_TOKEN: API_KEY });
  const jobs = startJobs({ pool: db.ingest, log, config, schedules, reservationTimer: false });
  t.teardown(() => jobs.stop());

  await t.test('a sync updates registered devices and lists the others for their tenant only', async (t) => {
    const run = await jobs.runOnce('sync_chirpstack');
    t.match(run, {
      status: 'succeeded', error: null,
      counts: { tenants: 2, applications: 2, tenant_keys: 0, without_key: 0, listed: 135, registered: 2, updated: 2, unclaimed: 132, registered_elsewhere: 1, removed: 0 },
    });
    t.ok(listCalls.every((c) => c.key === API_KEY), "tenants that stored no key of their own are listed with the operator's CHIRPSTACK_API_TOKEN");
    t.notOk(listCalls.some((c) => c.applicationId === APP_UNMAPPED), 'an unmapped application is never listed');
    t.same(listCalls.filter((c) => c.applicationId === APP_OTHER).map((c) => c.offset), [0, 100], 'paged by limit and offset');

    const bare = (await api.request('GET', `/api/v6/devices/by-eui/${REG_BARE}`, { token: acme.token })).body;
    t.match(bare, { name: 'Bay 12', model: 'Nwave NPS405 EU868', battery: 87, application_id: APP_ACME, last_seen_at: seen.toISOString() });
    const named = (await api.request('GET', `/api/v6/devices/by-eui/${REG_NAMED}`, { token: acme.token })).body;
    t.match(named, { name: 'Entrance left', model: 'Nwave NPS405 EU868', battery: 55 }, "baygate's own name is kept");
    const elsewhere = (await api.request('GET', `/api/v6/devices/by-eui/${ELSEWHERE}`, { token: other.token })).body;
    t.match(elsewhere, { name: null, model: null }, "another tenant's device is not touched through this tenant's application");

    const mine = await unclaimed(t, acmeTech);
    t.match(mine, { total: 2, page: 1, page_size: 100 });
    t.same(mine.items.map((i: { dev_eui: string }) => i.dev_eui), [GONE, NEW], 'most recently seen first; registered and foreign DevEUIs are not listed');
    t.same(mine.items[1], {
      dev_eui: NEW, application_id: APP_ACME, source: 'chirpstack', name: 'Unboxed sensor', device_profile_name: 'Bosch PLS EU868',
      first_seen_at: null, last_seen_at: null, uplink_count: null, last_rssi: null, last_snr: null, last_gateway_eui: null, battery: null,
    }, 'battery -1 is unknown; what ChirpStack does not know is null');
    t.match(mine.items[0], { source: 'chirpstack', battery: 40, last_seen_at: seen.toISOString() });

    const theirs = await unclaimed(t, other.token, '?page=2&page_size=100');
    t.match(theirs, { total: 130, page: 2, page_size: 100 });
    t.equal(theirs.items.length, 30);
    t.notOk(theirs.items.some((i: { dev_eui: string }) => [NEW, GONE, HIDDEN].includes(i.dev_eui)), "no other tenant's device");
    t.equal((await api.request('GET', '/api/v6/devices/unclaimed', { token: acmeViewer })).status, 403, 'viewers do not see it');

    const again = await jobs.runOnce('sync_chirpstack');
    t.match(again.counts, { updated: 0, unclaimed: 132, removed: 0 }, 'a second run with nothing new changes nothing');
  });

  await t.test('uplinks from unknown DevEUIs of a mapped application are listed too, merged by DevEUI', async (t) => {
    const ingest = await testIngest(t, db);
    const STRANGER = 'A84041000181C0DE';
    await ingest.up({ devEui: STRANGER, applicationId: APP_ACME, fCnt: 1, fPort: 1, data: Buffer.from([1]), rssi: -97, snr: 4.5 });
    await ingest.up({ devEui: NEW, applicationId: APP_ACME, fCnt: 1, fPort: 1, data: Buffer.from([0]), rssi: -80 });
    await ingest.up({ devEui: HIDDEN, applicationId: APP_UNMAPPED, fCnt: 1, fPort: 1, data: Buffer.from([0]) });
    await waitFor(
      async () => (await db.owner.query('SELECT count(*)::int AS n FROM unclaimed_devices')).rows[0].n === 3,
      10_000, 'three unclaimed DevEUIs recorded',
    );
    const mine = await unclaimed(t, acmeTech);
    t.equal(mine.total, 3, 'the DevEUI of an unmapped application is not listed');
    const byEui = new Map<string, any>(mine.items.map((i: { dev_eui: string }) => [i.dev_eui, i]));
    t.match(byEui.get(STRANGER), {
      source: 'uplink', application_id: APP_ACME, name: null, device_profile_name: null, uplink_count: 1, last_rssi: -97, last_snr: 4.5,
      last_gateway_eui: /^[0-9A-Fa-f]{16}$/, battery: null,
    });
    t.ok(byEui.get(STRANGER).first_seen_at && byEui.get(STRANGER).last_seen_at, 'with when it was heard');
    t.match(byEui.get(NEW), { source: 'chirpstack', name: 'Unboxed sensor', uplink_count: 1, last_rssi: -80 }, "both sources' facts in one item");
    t.equal((await unclaimed(t, other.token)).total, 130, "the other tenant does not see acme's uplinks");
    await t.rejects(db.app.query('SELECT * FROM unclaimed_devices'), /permission denied/, 'the API role still cannot read the table itself');

    // Ready to register in one call: the item carries what POST /api/v6/devices needs.
    for (const eui of [NEW, STRANGER]) {
      const item = byEui.get(eui);
      const reg = await api.request('POST', '/api/v6/devices', { token: acmeTech, json: { dev_eui: item.dev_eui, name: item.name, device_type: 'sensor' } });
      t.equal(reg.status, 201, `${eui} registered`);
      t.match(reg.body, { uplink_count: 1, application_id: APP_ACME }, 'with what ingest heard of it');
    }
    const left = await unclaimed(t, acmeTech);
    t.same(left.items.map((i: { dev_eui: string }) => i.dev_eui), [GONE], 'registering takes a DevEUI off the list at once');
    t.equal((await db.owner.query('SELECT count(*)::int AS n FROM chirpstack_devices WHERE dev_eui = $1', [NEW])).rows[0].n, 0);
  });

  await t.test('the next sync keeps registered devices off and drops what ChirpStack no longer lists', async (t) => {
    chirpstack.set(APP_ACME, chirpstack.get(APP_ACME)!.filter((f) => f.devEui !== GONE));
    const run = await jobs.runOnce('sync_chirpstack');
    t.match(run, { status: 'succeeded', counts: { registered: 3, unclaimed: 130, removed: 1 } });
    t.equal((await unclaimed(t, acmeTech)).total, 0);
    const registered = (await api.request('GET', `/api/v6/devices/by-eui/${NEW}`, { token: acme.token })).body;
    t.match(registered, { name: 'Unboxed sensor', model: 'Bosch PLS EU868' }, 'the newly registered device is synced like the others');

    const unmapped = await api.request('PUT', '/api/v6/tenants/current/chirpstack', { token: other.token, json: { application_ids: [] } });
    t.same(unmapped.body, { application_ids: [], api_key_set: false });
    t.equal((await unclaimed(t, other.token)).total, 0, "unmapping an application drops its devices from the tenant's list");
  });

  await t.test("an application ChirpStack does not know fails the run, after the other tenants' sync", async (t) => {
    const APP_MISSING = '9d4a6f85-3a91-4d88-8d6b-5c9a2e3f4b04';
    t.equal((await api.request('PUT', '/api/v6/tenants/current/chirpstack', { token: acme.token, json: { application_ids: [APP_ACME, APP_MISSING] } })).status, 200);
    t.equal((await api.request('PUT', '/api/v6/tenants/current/chirpstack', { token: other.token, json: { application_ids: [APP_OTHER] } })).status, 200);
    const run = await jobs.runOnce('sync_chirpstack');
    t.match(run, { status: 'failed', error: new RegExp(`^1 of 2 tenants not synced: ChirpStack DeviceService\\.List \\(application ${APP_MISSING}\\): object does not exist$`) });
    t.equal((await unclaimed(t, other.token)).total, 130, 'the other tenant was synced all the same');
  });

  await t.test('a wrong API key fails the run with its message; nothing crashes', async (t) => {
    const wrong = startJobs({ pool: db.ingest, log, config: testConfig({ CHIRPSTACK_API_URL: `127.0.0.1:${port}`, CHIRPSTACK_API_TOKEN: 'wrong-key' }), schedules, reservationTimer: false });
    t.teardown(() => wrong.stop());
    const run = await wrong.runOnce('sync_chirpstack');
    t.match(run, { status: 'failed', error: /^2 of 2 tenants not synced: ChirpStack DeviceService\.List .*invalid token/ });
    t.notMatch(run.error, /wrong-key/, 'the key is not in the error');
    const recorded = await db.owner.query(`SELECT status FROM job_runs WHERE job = 'sync_chirpstack' ORDER BY id DESC LIMIT 1`);
    t.equal(recorded.rows[0].status, 'failed', 'recorded in job_runs');
  });
});

const MAPPING = '/api/v6/tenants/current/chirpstack';
const up = (devEui: string, applicationId: string) => ({ devEui, applicationId, fCnt: 1, fPort: 1, data: Buffer.from([1]), rssi: -90 });

/** No tenant's name, slug or id, nor the application that gave it away, in what the caller is told. */
function namesNoTenant(t: Test, body: unknown, other: { tenant_id: string }, slug: string) {
  const text = JSON.stringify(body);
  t.notOk(text.includes(other.tenant_id), 'names no tenant id');
  t.notMatch(text, new RegExp(`\\b${slug}\\b`, 'i'), 'names no tenant slug or name');
}

t.test('claims with proof: a DevEUI heard under another tenant\'s application is not registered here', async (t) => {
  const api = await testApi(t);
  const db = api.db;
  const acme = await api.register('acme');
  const other = await api.register('other');
  t.equal((await api.request('PUT', MAPPING, { token: acme.token, json: { application_ids: [APP_ACME] } })).status, 200);
  t.equal((await api.request('PUT', MAPPING, { token: other.token, json: { application_ids: [APP_OTHER] } })).status, 200);

  const THEIRS = 'A84041000181D001'; // heard under other's application (a real uplink through ingest)
  const MINE = 'A84041000181D002'; // heard under acme's own application
  const NOBODYS = 'A84041000181D003'; // heard under an application nobody mapped
  const SPELLED = 'A84041000181D004'; // recorded under other's application, its id in uppercase
  const LISTED = 'A84041000181D005'; // ChirpStack listed it in other's application at the last sync
  const UNHEARD = 'A84041000181D006';
  const ingest = await testIngest(t, db);
  for (const [eui, app] of [[THEIRS, APP_OTHER], [MINE, APP_ACME], [NOBODYS, APP_UNMAPPED]] as const) await ingest.up(up(eui, app));
  await waitFor(
    async () => (await db.owner.query('SELECT count(*)::int AS n FROM unclaimed_devices')).rows[0].n === 3,
    10_000, 'three unclaimed DevEUIs recorded by ingest',
  );
  await db.owner.query(
    `INSERT INTO unclaimed_devices (dev_eui, application_id, first_seen_at, last_seen_at, uplink_count) VALUES ($1, $2, now(), now(), 1)`,
    [SPELLED, APP_OTHER.toUpperCase()],
  );
  await db.owner.query(
    `INSERT INTO chirpstack_devices (tenant_id, dev_eui, application_id, name, synced_at) VALUES ($1, $2, $3, 'theirs', now())`,
    [other.user.tenant_id, LISTED, APP_OTHER],
  );

  await t.test('refused with 409 under another tenant\'s application, naming no tenant', async (t) => {
    for (const eui of [THEIRS, SPELLED, LISTED]) {
      const r = await api.request('POST', '/api/v6/devices', { token: acme.token, json: { dev_eui: eui.toLowerCase(), device_type: 'sensor' } });
      t.equal(r.status, 409, `${eui}: refused`);
      t.match(r.body.error, { code: 'device_claimed_elsewhere', message: /another tenant/, details: [{ field: 'body.dev_eui' }] });
      namesNoTenant(t, r.body, other.user, 'other');
    }
    const kept = await db.owner.query(`SELECT count(*)::int AS n FROM unclaimed_devices WHERE dev_eui = $1`, [THEIRS]);
    t.equal(kept.rows[0].n, 1, 'the refused registration claimed nothing: what ingest heard is still there');
    const listed = await api.request('GET', '/api/v6/devices/by-eui/' + THEIRS, { token: acme.token });
    t.equal(listed.status, 404, 'and acme has no such device');
  });

  await t.test('allowed under the caller\'s own application, under none mapped, and unheard', async (t) => {
    for (const eui of [MINE, NOBODYS, UNHEARD]) {
      const r = await api.request('POST', '/api/v6/devices', { token: acme.token, json: { dev_eui: eui, device_type: 'sensor' } });
      t.equal(r.status, 201, `${eui}: registered`);
    }
    const theirs = await api.request('POST', '/api/v6/devices', { token: other.token, json: { dev_eui: THEIRS, device_type: 'sensor' } });
    t.equal(theirs.status, 201, 'the tenant whose application heard it registers it');
    t.match(theirs.body, { uplink_count: 1, application_id: APP_OTHER });
  });

  await t.test('mapping an application whose devices another tenant registered and bound: 409', async (t) => {
    // NOBODYS came through APP_UNMAPPED and acme registered it, so acme's device is bound there.
    const bound = (await api.request('GET', '/api/v6/devices/by-eui/' + NOBODYS, { token: acme.token })).body;
    t.equal(bound.application_id, APP_UNMAPPED, "acme's device is bound to the application its uplink came through");
    const r = await api.request('PUT', MAPPING, { token: other.token, json: { application_ids: [APP_OTHER, APP_UNMAPPED.toUpperCase()] } });
    t.equal(r.status, 409);
    t.match(r.body.error, { code: 'application_claimed_elsewhere', details: [{ field: 'body.application_ids' }] });
    namesNoTenant(t, r.body, acme.user, 'acme');
    t.same((await api.request('GET', MAPPING, { token: other.token })).body, { application_ids: [APP_OTHER], api_key_set: false }, 'the mapping is unchanged');
    const own = await api.request('PUT', MAPPING, { token: acme.token, json: { application_ids: [APP_ACME, APP_UNMAPPED] } });
    t.same(own.body, { application_ids: [APP_ACME, APP_UNMAPPED], api_key_set: false }, 'the tenant that registered them maps it');
    const kept = await api.request('PUT', MAPPING, { token: other.token, json: { application_ids: [APP_OTHER] } });
    t.equal(kept.status, 200, "an application already mapped is not re-judged: THEIRS is other's own anyway");
  });
});

t.test("with CHIRPSTACK_API_URL a mapping needs the tenant's own ChirpStack key, and the sync uses it", async (t) => {
  const port = await startChirpstack(t);
  const url = `127.0.0.1:${port}`;
  const api = await testApi(t, { CHIRPSTACK_API_URL: url });
  const db = api.db;
  const acme = await api.register('acme');
  const other = await api.register('other');
  const legacy = await api.register('legacy');
  const APP_LEGACY = 'ad5b7a96-4ba2-4e99-9e7c-6dab3f405c05';
  const APP_NOWHERE = 'be6c8ba7-5cb3-4faa-af8d-7ebc4a516d06';
  const KEY_ACME = `acme-tenant-key-${randomUUID()}`;
  const KEY_OTHER = `other-tenant-key-${randomUUID()}`;
  tenantKeys.set(KEY_ACME, new Set([APP_ACME]));
  tenantKeys.set(KEY_OTHER, new Set([APP_OTHER]));
  t.teardown(() => tenantKeys.clear());
  chirpstack.clear();
  chirpstack.set(APP_ACME, [{ devEui: '70B3D5E75E00E001', name: 'acme-1', profile: 'Generic' }]);
  chirpstack.set(APP_OTHER, [{ devEui: '70B3D5E75E00E002', name: 'other-1', profile: 'Generic' }]);
  chirpstack.set(APP_LEGACY, [{ devEui: '70B3D5E75E00E003', name: 'legacy-1', profile: 'Generic' }]);
  const put = (token: string, json: unknown) => api.request('PUT', MAPPING, { token, json });

  await t.test('without api_key, with a wrong one, with another tenant\'s or for an unknown application: refused, nothing stored', async (t) => {
    getCalls.length = 0;
    const none = await put(acme.token, { application_ids: [APP_ACME] });
    t.equal(none.status, 422);
    t.match(none.body.error, { code: 'chirpstack_api_key_required', details: [{ field: 'body.api_key' }] });
    t.equal(getCalls.length, 0, 'ChirpStack not asked without a key');

    const wrong = await put(acme.token, { application_ids: [APP_ACME], api_key: 'not-a-chirpstack-key' });
    t.equal(wrong.status, 422, 'a key ChirpStack does not know (UNAUTHENTICATED)');
    t.match(wrong.body.error, { code: 'chirpstack_api_key_refused', details: [{ field: 'body.api_key' }] });
    t.notMatch(JSON.stringify(wrong.body), /not-a-chirpstack-key/, 'the key is not echoed');

    const borrowed = await put(acme.token, { application_ids: [APP_ACME], api_key: KEY_OTHER });
    t.equal(borrowed.status, 422, "another tenant's key for this application (PERMISSION_DENIED)");
    t.match(borrowed.body.error, { code: 'chirpstack_api_key_refused' });

    const foreign = await put(acme.token, { application_ids: [APP_OTHER], api_key: KEY_ACME });
    t.equal(foreign.status, 422, "acme's own key does not prove another tenant's application");

    const missing = await put(acme.token, { application_ids: [APP_ACME, APP_NOWHERE], api_key: KEY_ACME });
    t.equal(missing.status, 422, 'an application ChirpStack does not have (NOT_FOUND)');
    t.match(missing.body.error, { code: 'chirpstack_application_not_found', details: [{ field: 'body.application_ids.1' }] });

    t.same((await api.request('GET', MAPPING, { token: acme.token })).body, { application_ids: [], api_key_set: false }, 'nothing stored');
    t.ok(getCalls.some((c) => c.applicationId === APP_ACME && c.key === KEY_OTHER), 'each check asked ChirpStack with the key given');
  });

  await t.test('the right key: ChirpStack is asked under it, the mapping and sealed key are stored, GET never shows it', async (t) => {
    getCalls.length = 0;
    const ok = await put(acme.token, { application_ids: [APP_ACME], api_key: KEY_ACME });
    t.equal(ok.status, 200);
    t.same(ok.body, { application_ids: [APP_ACME], api_key_set: true });
    t.same(getCalls, [{ applicationId: APP_ACME, key: KEY_ACME }], 'ApplicationService.Get, once per application, with the tenant key');
    const got = await api.request('GET', MAPPING, { token: acme.token });
    t.same(got.body, { application_ids: [APP_ACME], api_key_set: true });
    t.notOk(JSON.stringify(got.body).includes(KEY_ACME), 'GET does not reveal it');

    const rows = (await db.owner.query(`SELECT tenant_id, sealed_key FROM tenant_chirpstack_api_keys`)).rows;
    t.equal(rows.length, 1);
    t.match(rows[0].sealed_key, /^v1\./, 'stored sealed');
    t.notOk(rows[0].sealed_key.includes(KEY_ACME), 'not in plain text');
    t.equal((await listApiKeys(db.owner, chirpstackKeyBox(api.config.jwtSecret))).get(acme.user.tenant_id), KEY_ACME, 'opens with the server secret');
    t.equal((await listApiKeys(db.owner, chirpstackKeyBox('another-server-secret-of-at-least-32-chars'))).get(acme.user.tenant_id) instanceof Error, true, 'not with another');
    t.equal((await db.app.query('SELECT sealed_key FROM tenant_chirpstack_api_keys')).rows.length, 0, 'the API role outside a tenant transaction reads none (RLS)');

    const again = await put(acme.token, { application_ids: [APP_ACME] });
    t.same(again.body, { application_ids: [APP_ACME], api_key_set: true }, 'a later PUT may rely on the stored key');
    t.equal((await put(other.token, { application_ids: [APP_OTHER], api_key: KEY_OTHER })).status, 200);
    // A tenant mapped before keys were asked for (or by an operator): no key of its own.
    await db.owner.query(`INSERT INTO tenant_chirpstack_applications (tenant_id, application_id) VALUES ($1, $2)`, [legacy.user.tenant_id, APP_LEGACY]);
  });

  await t.test("the sync lists each tenant with its own key; the operator's token only for a tenant without one", async (t) => {
    const lines: string[] = [];
    const capture = createLogger('debug', 'test-sync', { write: (s: string) => void lines.push(s) });
    const withToken = startJobs({ pool: db.ingest, log: capture, config: testConfig({ CHIRPSTACK_API_URL: url, CHIRPSTACK_API_TOKEN: API_KEY, LOG_LEVEL: 'debug' }), schedules, reservationTimer: false });
    t.teardown(() => withToken.stop());
    listCalls.length = 0;
    const run = await withToken.runOnce('sync_chirpstack');
    t.match(run, { status: 'succeeded', counts: { tenants: 3, tenant_keys: 2, without_key: 0, listed: 3, unclaimed: 3 } });
    const keyOf = (app: string) => [...new Set(listCalls.filter((c) => c.applicationId === app).map((c) => c.key))];
    t.same(keyOf(APP_ACME), [KEY_ACME], "acme's application listed with acme's key: the in-test ChirpStack saw it");
    t.same(keyOf(APP_OTHER), [KEY_OTHER]);
    t.same(keyOf(APP_LEGACY), [API_KEY], "the tenant without a key: the operator's CHIRPSTACK_API_TOKEN");

    const withoutToken = startJobs({ pool: db.ingest, log: capture, config: testConfig({ CHIRPSTACK_API_URL: url, LOG_LEVEL: 'debug' }), schedules, reservationTimer: false });
    t.teardown(() => withoutToken.stop());
    listCalls.length = 0;
    const keysOnly = await withoutToken.runOnce('sync_chirpstack');
    t.match(keysOnly, { status: 'succeeded', counts: { tenants: 3, tenant_keys: 2, without_key: 1 } }, 'without CHIRPSTACK_API_TOKEN the tenants with keys still sync');
    t.notOk(listCalls.some((c) => c.applicationId === APP_LEGACY), 'and the one without is not listed');

    // Revoked in ChirpStack: that tenant fails; the operator's wider key is not tried instead.
    tenantKeys.delete(KEY_OTHER);
    listCalls.length = 0;
    const revoked = await withToken.runOnce('sync_chirpstack');
    t.match(revoked, { status: 'failed', error: /^1 of 3 tenants not synced: ChirpStack DeviceService\.List .*invalid token/ });
    t.notOk(listCalls.some((c) => c.applicationId === APP_OTHER), "other's application was not listed with another key");
    tenantKeys.set(KEY_OTHER, new Set([APP_OTHER]));

    // A sealed key copied onto another tenant's row does not open there.
    await db.owner.query(
      `UPDATE tenant_chirpstack_api_keys SET sealed_key = (SELECT sealed_key FROM tenant_chirpstack_api_keys WHERE tenant_id = $1) WHERE tenant_id = $2`,
      [acme.user.tenant_id, other.user.tenant_id],
    );
    listCalls.length = 0;
    const moved = await withToken.runOnce('sync_chirpstack');
    t.match(moved, { status: 'failed', error: new RegExp(`tenant ${other.user.tenant_id}: its stored ChirpStack API key does not open`) });
    t.notOk(listCalls.some((c) => c.applicationId === APP_OTHER), 'nothing listed for it');
    t.same(keyOf(APP_ACME), [KEY_ACME], 'the other tenants still synced');

    const recorded = await db.owner.query(`SELECT coalesce(error, '') || coalesce(detail, '') || counts::text AS text FROM job_runs WHERE job = 'sync_chirpstack'`);
    const everything = lines.join('') + recorded.rows.map((r) => r.text).join('');
    t.ok(lines.length > 0, 'the job logged');
    for (const key of [KEY_ACME, KEY_OTHER, API_KEY]) t.notOk(everything.includes(key), 'no key in the log or job_runs');
  });

  await t.test('an empty list unmaps everything and forgets the key; a key with no application is not taken', async (t) => {
    t.equal((await put(acme.token, { application_ids: [], api_key: KEY_ACME })).status, 422);
    const cleared = await put(acme.token, { application_ids: [] });
    t.same(cleared.body, { application_ids: [], api_key_set: false });
    const left = await db.owner.query(`SELECT count(*)::int AS n FROM tenant_chirpstack_api_keys WHERE tenant_id = $1`, [acme.user.tenant_id]);
    t.equal(left.rows[0].n, 0);
  });

  await t.test('ChirpStack unreachable: 503, nothing changed', async (t) => {
    const closed = await testApi(t, { CHIRPSTACK_API_URL: '127.0.0.1:1' });
    const owner = await closed.register('acme');
    const r = await closed.request('PUT', MAPPING, { token: owner.token, json: { application_ids: [APP_ACME], api_key: KEY_ACME } });
    t.equal(r.status, 503);
    t.match(r.body.error, { code: 'service_unavailable', message: /ChirpStack/ });
    t.same((await closed.request('GET', MAPPING, { token: owner.token })).body, { application_ids: [], api_key_set: false });
  });
});
