// ChirpStack device sync: a real gRPC server started here from @chirpstack/chirpstack-api's
// DeviceService definition stands in for ChirpStack's API (the one system outside baygate);
// the sync_chirpstack job talks to it over a real gRPC round trip, then the tenants' mapping,
// registered devices and unclaimed lists are checked through the API, with uplinks from
// unknown DevEUIs published on a real broker as the second source.
import t, { type Test } from 'tap';
import * as grpc from '@grpc/grpc-js';
import { DeviceServiceService } from '@chirpstack/chirpstack-api/api/device_grpc_pb.js';
import devicePb from '@chirpstack/chirpstack-api/api/device_pb.js';
import timestampPb from 'google-protobuf/google/protobuf/timestamp_pb.js';
import { testApi, testConfig, type TestApi } from '../helpers/api.js';
import { testIngest } from '../helpers/ingest.js';
import { waitFor } from '../helpers/wait.js';
import { startJobs, JOB_NAMES, type JobName } from '../../ingest/jobs/index.js';
import { grpcTarget } from '../../src/chirpstack-api.js';
import { createLogger } from '../../src/log.js';

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
const listCalls: { applicationId: string; limit: number; offset: number }[] = [];

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
  if (call.metadata.get('authorization')[0] !== `Bearer ${API_KEY}`) {
    callback({ code: grpc.status.UNAUTHENTICATED, details: 'authentication failed: invalid token' });
    return;
  }
  const req = call.request;
  listCalls.push({ applicationId: req.getApplicationId(), limit: req.getLimit(), offset: req.getOffset() });
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

async function startChirpstack(t: Test): Promise<number> {
  const server = new grpc.Server();
  server.addService(DeviceServiceService, { list });
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
    t.same((await api.request('GET', path, { token: acmeAdmin })).body, { application_ids: [] }, 'none at first');
    for (const token of [acmeViewer, acmeTech]) {
      t.equal((await api.request('PUT', path, { token, json: { application_ids: [APP_ACME] } })).status, 403, 'below admin: refused');
      t.equal((await api.request('GET', path, { token })).status, 403);
    }
    const put = await api.request('PUT', path, { token: acmeAdmin, json: { application_ids: [APP_ACME.toUpperCase(), APP_UNMAPPED] } });
    t.equal(put.status, 200);
    t.same(put.body, { application_ids: [APP_ACME, APP_UNMAPPED] }, 'answers with the mapping');
    const replaced = await api.request('PUT', path, { token: acme.token, json: { application_ids: [APP_ACME] } });
    t.same(replaced.body, { application_ids: [APP_ACME] }, 'PUT replaces: an application left out is unmapped');
    t.same((await api.request('GET', path, { token: acmeAdmin })).body, { application_ids: [APP_ACME] });

    const taken = await api.request('PUT', path, { token: other.token, json: { application_ids: [APP_OTHER, APP_ACME] } });
    t.equal(taken.status, 409, "another tenant's application");
    t.match(taken.body.error, { code: 'conflict', message: /another tenant/ });
    t.same((await api.request('GET', path, { token: other.token })).body, { application_ids: [] }, 'nothing of the refused PUT stays');
    t.same((await api.request('PUT', path, { token: other.token, json: { application_ids: [APP_OTHER] } })).body, { application_ids: [APP_OTHER] });

    const bad = await api.request('PUT', path, { token: acme.token, json: { application_ids: ['not-a-uuid'] } });
    t.equal(bad.status, 400);
    t.equal((await api.request('PUT', path, { token: acme.token, json: {} })).status, 400, 'application_ids is required');
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
      counts: { tenants: 2, applications: 2, listed: 135, registered: 2, updated: 2, unclaimed: 132, registered_elsewhere: 1, removed: 0 },
    });
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
    t.same(unmapped.body, { application_ids: [] });
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
