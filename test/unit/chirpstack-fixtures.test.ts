/**
 * ChirpStack's documented example of every event kind (test/fixtures/chirpstack/), in JSON and
 * in protobuf made from it with the package's own encoders, reads as one and the same event;
 * and the committed protobuf fixtures are what make-protobuf.ts makes. Table-driven.
 */
import t from 'tap';
import jspb from 'google-protobuf';
import timestampPb from 'google-protobuf/google/protobuf/timestamp_pb.js';
import integrationPb from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import type { TopicMatch } from '../../ingest/chirpstack.js';
import { EventParseError, eventDevice, parseEvent, type UpEvent } from '../../ingest/events/index.js';
import { encodeEvent, PROTOBUF_KINDS } from '../../src/simulator/protobuf.js';
import { fixtureJson, fixtureProtobuf, makeProtobuf } from '../fixtures/chirpstack/make-protobuf.js';

const APP = '17c82e96-be03-4f38-aef3-f83d48582d97';
const EUI = '0101010101010101';
const topic = (event: string, devEui = EUI): TopicMatch => ({ applicationId: APP, devEui, event });

/** The EventParseError reason `fn` throws; null when it throws none. */
function reasonOf(fn: () => unknown): string | null {
  try {
    fn();
  } catch (err) {
    if (err instanceof EventParseError) return err.reason;
    throw err;
  }
  return null;
}

t.test('the committed .bin fixtures are what make-protobuf.ts makes from the .json', async (t) => {
  for (const kind of PROTOBUF_KINDS) t.ok(makeProtobuf(kind).equals(fixtureProtobuf(kind)), `${kind}.bin`);
});

t.test('every kind: JSON and protobuf give the same event', async (t) => {
  const kinds: [kind: (typeof PROTOBUF_KINDS)[number], parsed: string][] = [
    ['up', 'up'], ['status', 'status'], ['join', 'join'], ['ack', 'ack'], ['txack', 'txack'], ['log', 'log'], ['location', 'location'],
  ];
  for (const [kind, parsed] of kinds) {
    const json = parseEvent(topic(kind), fixtureJson(kind));
    const pb = parseEvent(topic(kind), fixtureProtobuf(kind));
    t.equal(json.kind, parsed, `${kind}: JSON reads as ${parsed}`);
    t.strictSame(pb, json, `${kind}: protobuf told by content = JSON`);
    t.strictSame(parseEvent(topic(kind), fixtureProtobuf(kind), 'protobuf'), json, `${kind}: protobuf as said = JSON`);
    t.strictSame(parseEvent(topic(kind), fixtureJson(kind), 'json'), json, `${kind}: JSON as said`);
    for (const [enc, payload] of [['json', fixtureJson(kind)], ['protobuf', fixtureProtobuf(kind)]] as const) {
      t.strictSame(eventDevice(kind, payload), { devEui: EUI, applicationId: APP }, `${kind}: eventDevice (${enc})`);
    }
  }
});

t.test('integration (ChirpStack ≤ v4.13): JSON and protobuf are counted as other', async (t) => {
  const dev = '0016C001F000175A';
  const json = parseEvent(topic('integration', dev), fixtureJson('integration'));
  t.strictSame(json, { kind: 'other', event: 'integration', devEui: dev, time: new Date('2022-07-18T10:02:15.812Z') });
  // The package lost IntegrationEvent in v4.15; its fields 1–3 (deduplication_id, time,
  // device_info) written with the package's own Timestamp and DeviceInfo encoders, and field 4
  // (integration_name) as a string, as integration.proto before ac5de191 defines them.
  const doc = JSON.parse(fixtureJson('integration').toString('utf8'));
  const w = new jspb.BinaryWriter();
  w.writeString(1, doc.deduplicationId);
  const ts = new timestampPb.Timestamp();
  ts.setSeconds(Math.floor(Date.parse('2022-07-18T10:02:15Z') / 1000));
  ts.setNanos(812284501);
  w.writeMessage(2, ts, timestampPb.Timestamp.serializeBinaryToWriter);
  const info = new integrationPb.DeviceInfo();
  info.setDevEui(doc.deviceInfo.devEui);
  info.setApplicationId(APP);
  w.writeMessage(3, info, integrationPb.DeviceInfo.serializeBinaryToWriter);
  w.writeString(4, doc.integrationName);
  const bytes = Buffer.from(w.getResultBuffer());
  t.strictSame(parseEvent(topic('integration', dev), bytes), json, 'protobuf = JSON');
  t.strictSame(eventDevice('integration', bytes), { devEui: dev, applicationId: APP }, 'eventDevice reads its device');
  t.equal(reasonOf(() => parseEvent(topic('integration', dev), bytes.subarray(0, 30))), 'bad_protobuf', 'cut short: bad_protobuf');
  t.strictSame(parseEvent(topic('future-kind'), fixtureProtobuf('up')), { kind: 'other', event: 'future-kind', devEui: EUI }, 'a kind with no module: counted, whatever its bytes');
});

/** The docs' `up` with a change, as JSON text and as ChirpStack's protobuf of it. */
function upBoth(change: (o: Record<string, any>) => void): [json: Buffer, pb: Buffer] {
  const o = JSON.parse(fixtureJson('up').toString('utf8')) as Record<string, any>;
  change(o);
  return [Buffer.from(JSON.stringify(o)), Buffer.from(encodeEvent('up', o))];
}

t.test('up: protobuf gives what its JSON gives, field by field', async (t) => {
  const cases: [name: string, change: (o: Record<string, any>) => void][] = [
    ['time with 6 fraction digits', (o) => { o.time = '2023-12-22T11:56:17.743353+00:00'; }],
    ['time with 3 fraction digits', (o) => { o.time = '2023-12-22T11:56:17.743+00:00'; }],
    ['time without fraction', (o) => { o.time = '2023-12-22T11:56:17+00:00'; }],
    ['codec object', (o) => { o.object = { occupied: true, level: 3.5, tags: ['a', 'b'], nested: { n: null } }; }],
    ['several gateways, the strongest second', (o) => {
      o.rxInfo = [
        { gatewayId: 'aa555a0000000001', rssi: -101, snr: -3.2, location: {} },
        { gatewayId: 'aa555a0000000002', rssi: -90, snr: 2.5, location: { latitude: 52.1, longitude: 4.3, altitude: 7 } },
        { gatewayId: 'aa555a0000000003' },
      ];
    }],
    ['fCnt, confirmed, empty data', (o) => { o.fCnt = 4294967295; o.confirmed = true; o.data = ''; }],
    ['fPort 0, no txInfo', (o) => { o.fPort = 0; delete o.txInfo; }],
    ['uppercase DevEUI', (o) => { o.deviceInfo.devEui = '0101010101010101'.toUpperCase(); }],
  ];
  for (const [name, change] of cases) {
    const [json, pb] = upBoth(change);
    const a = parseEvent(topic('up'), json) as UpEvent;
    t.strictSame(parseEvent(topic('up'), pb), a, name);
  }
  const [, deep] = upBoth((o) => {
    let v: Record<string, unknown> = {};
    o.object = v;
    for (let i = 0; i < 40; i++) v = (v.x = {}) as Record<string, unknown>;
  });
  t.equal(reasonOf(() => parseEvent(topic('up'), deep)), 'too_deep', 'a Struct nested past the JSON limit');
});

t.test('status: a float battery level reads as its JSON decimal', async (t) => {
  for (const level of [88.3, 0.4, 99.6, 50]) {
    const o = JSON.parse(fixtureJson('status').toString('utf8'));
    o.batteryLevel = level;
    const ev = parseEvent(topic('status'), Buffer.from(encodeEvent('status', o)));
    t.equal(ev.kind === 'status' && ev.batteryLevel, level, String(level));
  }
});

t.test('location: source and accuracy from protobuf', async (t) => {
  const o = JSON.parse(fixtureJson('location').toString('utf8'));
  o.location = { latitude: 52.37, longitude: 4.89, source: 'GEO_RESOLVER_TDOA', accuracy: 12.5 };
  const json = parseEvent(topic('location'), Buffer.from(JSON.stringify(o)));
  t.strictSame(parseEvent(topic('location'), Buffer.from(encodeEvent('location', o))), json);
  t.match(json, { latitude: 52.37, longitude: 4.89, source: 'GEO_RESOLVER_TDOA', accuracy: 12.5 });
  t.notOk('altitude' in json, 'no altitude');
  for (const [name, loc, reason] of [
    ['no coordinates', {}, 'missing_field'],
    ['latitude out of range', { latitude: 91, longitude: 1 }, 'wrong_type'],
    ['longitude out of range', { latitude: 1, longitude: -181 }, 'wrong_type'],
  ] as const) {
    const bad = { ...o, location: loc };
    for (const payload of [Buffer.from(JSON.stringify(bad)), Buffer.from(encodeEvent('location', bad))]) {
      t.equal(reasonOf(() => parseEvent(topic('location'), payload)), reason, name);
    }
  }
});
