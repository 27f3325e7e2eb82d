// Fuzzes the MQTT side (issue 10, "Bad input"): generated payloads (random bytes, truncated
// JSON, wrong types, huge strings, deep nesting, base64 garbage, every decoder's frames
// with random bytes) interleaved with valid uplinks, through the real broker into the real
// ingest. The process stays up, every valid uplink is applied, every bad payload is a dead
// letter with a reason, memory stays bounded. ~2,000 payloads here, 20,000 under `npm run fuzz`.
// Issue 17 adds the field's own lies: well-formed uplinks under a forged application (refused
// as application_mismatch, changing nothing) and frames with wild clocks (applied at their
// receive time, never freezing the space).
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { testApi } from '../helpers/api.js';
import { testIngest } from '../helpers/ingest.js';
import { waitFor } from '../helpers/wait.js';
import { fuzzScale, fuzzSeed, reportFigures, rng, type Rng } from '../helpers/fuzz.js';
import { upEvent } from '../../src/simulator/events.js';
import { decoderNames } from '../../src/domain/decoders/index.js';
import { deepNest } from '../helpers/schema-fuzz.js';

const PAYLOADS = 2_000;
/** Heap growth allowed across the run: generous, it only has to catch a leak per message. */
const HEAP_GROWTH_BOUND_BYTES = 256 * 1024 * 1024;

/** A payload that is not a usable `up` event, whatever the device. */
function garbage(r: Rng, devEui: string, fCnt: number): { kind: string; payload: Buffer | string } {
  const good = upEvent({ devEui, fCnt, fPort: 1, data: Buffer.from([1]) });
  const json = JSON.stringify(good);
  const kinds: [string, () => Buffer | string][] = [
    ['random-bytes', () => r.bytes(1 + r.int(512))],
    ['truncated-json', () => json.slice(0, 1 + r.int(json.length - 2))],
    ['empty', () => ''],
    ['json-scalar', () => r.pick(['null', '42', '"up"', 'true', '[]'])],
    ['fcnt-wrong-type', () => JSON.stringify({ ...good, fCnt: r.pick(['abc', {}, [], true, -1.5]) })],
    ['data-not-base64', () => JSON.stringify({ ...good, data: r.pick(['%%%', '!!!!', 'ab=cd', '💥']) })],
    ['deviceinfo-wrong-type', () => JSON.stringify({ ...good, deviceInfo: r.pick([5, 'x', [], null]) })],
    ['time-garbage', () => JSON.stringify({ ...good, time: r.pick(['yesterday', '2026-13-45T99:00:00Z', 12, {}]) })],
    ['dev-eui-mismatch', () => JSON.stringify({ ...good, deviceInfo: { ...(good.deviceInfo as object), devEui: 'ffffffffffffffff' } })],
    // Over ingest's 64 KiB event limit, under the brokers' 256 KiB packet limit (src/mqtt/packet-size.ts), which refuses larger ones.
    ['huge-string', () => JSON.stringify({ ...good, deviceName: 'x'.repeat(70_000 + r.int(180_000)) })],
    ['deep-nesting', () => JSON.stringify({ ...good, object: deepNest(40 + r.int(500), r.chance(0.5) ? 'array' : 'object') })],
    ['deep-raw', () => '['.repeat(5_000) + ']'.repeat(5_000)],
  ];
  const [kind, make] = r.pick(kinds);
  return { kind, payload: make() };
}

t.test('fuzzed MQTT payloads among valid uplinks', async (t) => {
  const seed = fuzzSeed();
  t.comment(`FUZZ_SEED=${seed}`);
  const r = rng(seed);
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const ingest = await testIngest(t, api.db);
  const owner = api.db.owner;

  const register = async (devEui: string, decoder: string) => {
    const res = await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: devEui, device_type: 'sensor', decoder } });
    if (res.status !== 201) throw new Error(`device ${devEui}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as { id: string };
  };
  const withSpace = async (devEui: string, code: string) => {
    const device = await register(devEui, 'nwave-nps405');
    const space = (await api.request('POST', '/api/v6/spaces', { token, json: { code } })).body as { id: string };
    const res = await api.request('POST', `/api/v6/devices/${device.id}/assign`, { token, json: { space_id: space.id } });
    if (res.status !== 200) throw new Error(`assign ${devEui}: ${res.status}`);
    return space.id;
  };
  const valid = '70B3D5E75E00F001';
  const bad = '70B3D5E75E00F002';
  await register(valid, 'nwave-nps405');
  await register(bad, 'nwave-nps405');
  const decoderDevices = decoderNames.map((name, i) => ({ name, devEui: `70B3D5E75E00E${String(i).padStart(3, '0')}` }));
  for (const d of decoderDevices) await register(d.devEui, d.name);
  // Bound to the simulator's application by its first uplink; forged uplinks come under others.
  const bound = '70B3D5E75E00F003';
  const boundSpace = await withSpace(bound, 'FZ-BOUND');
  // Genuine frames at the real time, among frames whose gateway clock is wild.
  const clock = '70B3D5E75E00F004';
  const clockSpace = await withSpace(clock, 'FZ-CLOCK');
  const wildTime = (): Date =>
    r.pick([
      () => new Date('9999-12-31T00:00:00Z'),
      () => new Date(0),
      () => new Date('1980-01-06T00:00:00Z'),
      () => new Date(Date.now() + (1 + r.int(1_000)) * 86_400_000),
      () => new Date(Date.now() + 301_000 + r.int(3_600_000)),
    ])();

  const total = PAYLOADS * fuzzScale();
  const heapBefore = process.memoryUsage().heapUsed;
  const t0 = Date.now() - 24 * 3_600_000;
  let validSent = 0;
  let garbageSent = 0;
  let decoderSent = 0;
  let forgedSent = 0;
  let boundSent = 0;
  let boundLast = 0;
  let wildSent = 0;
  let clockSent = 0;
  let clockLast = 0;
  const kinds: Record<string, number> = {};
  let fCnt = 0;
  const started = Date.now();
  await ingest.up({ devEui: bound, fCnt: 0, fPort: 1, data: Buffer.from([0]), time: new Date() });
  boundSent++;
  for (let i = 0; i < total; i++) {
    const roll = r();
    fCnt++;
    if (roll < 0.08) {
      // A newer frame for a bound device, claiming the opposite, under someone else's application.
      forgedSent++;
      await ingest.up({ devEui: bound, applicationId: randomUUID(), fCnt: fCnt + 1_000_000, fPort: 1, data: Buffer.from([boundLast ^ 1]), time: new Date() });
    } else if (roll < 0.12) {
      boundSent++;
      boundLast = r.int(2);
      await ingest.up({ devEui: bound, fCnt, fPort: 1, data: Buffer.from([boundLast]), time: new Date() });
    } else if (roll < 0.2) {
      // Every clock frame is applied (a reading); a wild one at its receive time.
      clockSent++;
      clockLast = r.int(2);
      const wild = r.chance(0.5);
      if (wild) wildSent++;
      await ingest.up({ devEui: clock, fCnt, fPort: 1, data: Buffer.from([clockLast]), time: wild ? wildTime() : new Date() });
    } else if (roll < 0.4) {
      validSent++;
      await ingest.up({ devEui: valid, fCnt, fPort: 1, data: Buffer.from([validSent & 1]), time: new Date(t0 + i * 1000) });
    } else if (roll < 0.55) {
      // A decoder's frame ports with random bytes: each is a reading, undecodable or not.
      decoderSent++;
      const d = r.pick(decoderDevices);
      await ingest.up({ devEui: d.devEui, fCnt, fPort: r.chance(0.8) ? 1 + r.int(10) : 1 + r.int(223), data: r.bytes(r.int(24)), time: new Date(t0 + i * 1000) });
    } else {
      garbageSent++;
      const g = garbage(r, bad, fCnt);
      kinds[g.kind] = (kinds[g.kind] ?? 0) + 1;
      // Awaiting each QoS 1 PUBACK paces the publisher, so an external broker's queue limit
      // for a lagging subscriber (Mosquitto: max_queued_messages 1000) never drops messages.
      await ingest.raw(bad, 'up', g.payload);
    }
  }
  const n = async (sql: string, params: unknown[] = []) => Number((await owner.query(sql, params)).rows[0].n);
  const readingsOf = (devEuis: string[]) =>
    n(`SELECT count(*) AS n FROM sensor_readings r JOIN devices d ON d.id = r.device_id WHERE d.dev_eui = ANY($1::text[])`, [devEuis]);
  const deadOf = (devEui: string) => n(`SELECT count(*) AS n FROM dead_letters WHERE topic LIKE $1`, [`%/device/${devEui.toLowerCase()}/event/%`]);
  const decoderEuis = decoderDevices.map((d) => d.devEui);
  const mismatches = () => n(`SELECT count(*) AS n FROM dead_letters WHERE reason = 'application_mismatch'`);
  // Last, a genuine frame for each: the state must follow it whatever came before.
  boundSent++;
  await ingest.up({ devEui: bound, fCnt: fCnt + 1, fPort: 1, data: Buffer.from([boundLast ^ 1]), time: new Date() });
  boundLast ^= 1;
  clockSent++;
  await ingest.up({ devEui: clock, fCnt: fCnt + 1, fPort: 1, data: Buffer.from([clockLast ^ 1]), time: new Date() });
  clockLast ^= 1;
  await waitFor(
    async () =>
      (await readingsOf([valid])) >= validSent && (await deadOf(bad)) >= garbageSent && (await readingsOf(decoderEuis)) >= decoderSent &&
      (await readingsOf([bound])) >= boundSent && (await readingsOf([clock])) >= clockSent && (await mismatches()) >= forgedSent,
    120_000 * fuzzScale(),
    'every payload accounted for',
    200,
  );
  const elapsedMs = Date.now() - started;

  t.equal(await readingsOf([valid]), validSent, 'every valid uplink applied exactly once');
  t.equal(await deadOf(valid), 0, 'no valid uplink dead-lettered');
  t.equal(await deadOf(bad), garbageSent, 'every bad payload is a dead letter');
  t.equal(await readingsOf([bad]), 0, 'and none was applied');
  t.equal(await n(`SELECT count(*) AS n FROM dead_letters WHERE reason IS NULL OR reason = '' OR error = ''`), 0, 'every dead letter says why');
  t.equal(await readingsOf(decoderEuis), decoderSent, 'every random-bytes frame is a reading');
  const undecodable = await n(
    `SELECT count(*) AS n FROM sensor_readings r JOIN devices d ON d.id = r.device_id WHERE d.dev_eui = ANY($1::text[]) AND r.kind = 'undecodable'`,
    [decoderEuis],
  );
  const decodeDead = await n(`SELECT count(*) AS n FROM dead_letters WHERE reason = 'decode_failed'`);
  t.equal(decodeDead, undecodable, 'each undecodable frame is also a dead letter with reason decode_failed');

  const stateOf = async (spaceId: string) => (await owner.query('SELECT current_state FROM spaces WHERE id = $1', [spaceId])).rows[0].current_state;
  const occupancy = (bit: number) => (bit ? 'occupied' : 'free');
  t.equal(await mismatches(), forgedSent, 'every forged-application uplink is refused as application_mismatch');
  t.equal(await readingsOf([bound]), boundSent, 'and none became a reading');
  t.equal(await stateOf(boundSpace), occupancy(boundLast), 'the bound space follows its own application only');
  t.equal(await readingsOf([clock]), clockSent, 'every wild-clock frame is a reading');
  const corrected = await n(`SELECT count(*) AS n FROM sensor_readings r JOIN devices d ON d.id = r.device_id WHERE d.dev_eui = $1 AND r.time_source = 'received'`, [clock]);
  t.equal(corrected, wildSent, 'each applied at its receive time');
  t.equal(await stateOf(clockSpace), occupancy(clockLast), 'no wild clock froze the space: the last genuine frame decides');
  t.equal(await n(`SELECT count(*) AS n FROM devices WHERE last_seen_at > now() OR last_frame_at > now()`), 0, 'no device was seen in the future');

  // Still up: one more valid uplink goes through.
  validSent++;
  await ingest.up({ devEui: valid, fCnt: fCnt + 1, fPort: 1, data: Buffer.from([1]), time: new Date() });
  await waitFor(async () => (await readingsOf([valid])) === validSent, 10_000, 'ingest still applies uplinks');

  const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
  t.ok(heapGrowth < HEAP_GROWTH_BOUND_BYTES, `heap grew ${Math.round(heapGrowth / 1e6)} MB`);
  const reasons = (await owner.query(`SELECT reason, count(*)::int AS n FROM dead_letters GROUP BY 1 ORDER BY 1`)).rows;
  t.comment(`dead letters by reason: ${JSON.stringify(reasons)}; garbage kinds: ${JSON.stringify(kinds)}`);
  reportFigures(t, 'fuzz-ingest', {
    seed,
    attempts: total + 1,
    valid: validSent,
    garbage: garbageSent,
    decoderFrames: decoderSent,
    undecodable,
    forgedApplication: forgedSent,
    forgedApplied: forgedSent - (await mismatches()),
    wildClock: wildSent,
    wildClockCorrected: corrected,
    losses: validSent - (await readingsOf([valid])),
    failures: garbageSent - (await deadOf(bad)),
    heapGrowthMB: Math.round(heapGrowth / 1e6),
    msgPerSec: Math.round((total / elapsedMs) * 1000),
  });
});
