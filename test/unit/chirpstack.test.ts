/**
 * ChirpStack v4 event topics (ingest/chirpstack.ts) and payloads (ingest/events/), table-driven.
 * Example payloads are ChirpStack's documented ones (test/fixtures/chirpstack/, README.md
 * there names the source), unless a case says otherwise.
 */
import t from 'tap';
import { compileTopicTemplate, type TopicMatch } from '../../ingest/chirpstack.js';
import {
  EventParseError,
  MAX_JSON_DEPTH,
  MAX_PAYLOAD_BYTES,
  parseEvent,
  parseRfc3339,
  type ChirpstackEvent,
} from '../../ingest/events/index.js';
import { fixtureJson, fixtureProtobuf } from '../fixtures/chirpstack/make-protobuf.js';

const APP = '17c82e96-be03-4f38-aef3-f83d48582d97';
const EUI = '0101010101010101';

function topic(event: string, devEui = EUI): TopicMatch {
  return { applicationId: APP, devEui, event };
}

// ---------------------------------------------------------------------------------------------
// ChirpStack's documented examples (test/fixtures/chirpstack/<kind>.json), as text, tabs and all.

const DOCS_UP = fixtureJson('up').toString('utf8');

const DOCS_STATUS = fixtureJson('status').toString('utf8');

const DOCS_JOIN = fixtureJson('join').toString('utf8');
const DOCS_ACK = fixtureJson('ack').toString('utf8');
const DOCS_TXACK = fixtureJson('txack').toString('utf8');
const DOCS_LOG = fixtureJson('log').toString('utf8');
const DOCS_LOCATION = fixtureJson('location').toString('utf8');

/**
 * The v4.4+ shape (emit_fields) from a public capture, helium/helium-packet-router#285
 * (2023-12-26), values verbatim except the upstream-redacted IDs (devEui and applicationId
 * filled in so the topic checks pass, tenant/profile IDs left as redacted) and the cut-off
 * crcStatus completed as "CRC_OK".
 */
const DEV_EUI_T1000 = '2cf7f1c0530001a7';
const HELIUM_CAPTURE = JSON.stringify({
  deduplicationId: 'e3eb5131-fb38-481a-b9df-003d0bee6c93',
  time: '2023-12-22T11:56:17.743353+00:00',
  deviceInfo: {
    tenantId: '<REDACTED>', tenantName: 'JP Meijers',
    applicationId: APP, applicationName: 'JP Sensecap T1000',
    deviceProfileId: '<REDACTED>', deviceProfileName: 'SenseCap T1000 Roaming',
    deviceName: 'JP T1000', devEui: DEV_EUI_T1000,
    deviceClassEnabled: 'CLASS_A', tags: {},
  },
  devAddr: 'fe00483c', adr: true, dr: 5, fCnt: 463, fPort: 0,
  confirmed: false, data: '',
  rxInfo: [{
    gatewayId: '3133303748005c00', uplinkId: 45825,
    gwTime: '2023-12-22T11:56:17.743353+00:00',
    nsTime: '2023-12-22T11:56:28.549616823+00:00',
    rssi: -67, snr: 9.5, channel: 6,
    location: { latitude: -33.95476966725685, longitude: 22.434511184692386 },
    context: 'rxh28g==',
    metadata: { region_config_id: 'eu868', region_common_name: 'EU868' },
    crcStatus: 'CRC_OK',
  }],
});

/**
 * The later shape described in the reference §1.6 (second public capture): `object` and
 * `regionConfigId` present, `adr/dr/fCnt/fPort/confirmed` always emitted, rxInfo entries without
 * uplinkId/context and with `location: {}` (gw messages omit default values). Built, not verbatim.
 */
const RECENT_SHAPE = JSON.stringify({
  deduplicationId: '9b0f9d55-2c2e-4d7e-9a0a-0f1d2c3b4a59',
  time: '2024-03-05T08:00:01.123456789+00:00',
  deviceInfo: {
    tenantId: '52f14cd4-c6f1-4fbd-8f87-4025e1d49242', tenantName: 'ChirpStack',
    applicationId: APP, applicationName: 'Parking',
    deviceProfileId: '14855bf7-d10d-4aee-b618-ebfcb64dc7ad', deviceProfileName: 'Nwave NPS405',
    deviceName: 'bay-12', devEui: EUI, deviceClassEnabled: 'CLASS_A', tags: { site: 'north' },
  },
  devAddr: '00189440', adr: true, dr: 0, fCnt: 0, fPort: 2, confirmed: false, data: 'AQ==',
  object: { occupied: true },
  rxInfo: [
    { gatewayId: 'aa555a0000000001', rssi: -101, snr: -3, channel: 1, location: {}, crcStatus: 'CRC_OK' },
    { gatewayId: 'aa555a0000000002', rssi: -90, snr: 2.5, location: {}, crcStatus: 'CRC_OK' },
    { gatewayId: 'aa555a0000000003', location: {}, crcStatus: 'CRC_OK' },
  ],
  txInfo: { frequency: 868100000, modulation: { lora: { bandwidth: 125000, spreadingFactor: 12, codeRate: 'CR_4_5' } } },
  regionConfigId: 'eu868',
});

// ---------------------------------------------------------------------------------------------
// Topic templates

t.test('compileTopicTemplate: filters', async (t) => {
  const cases: [name: string, template: string, filter: string][] = [
    ['default (docs form)', 'application/{application_id}/device/{dev_eui}/event/{event}', 'application/+/device/+/event/+'],
    ['handlebars (chirpstack.toml form)', 'application/{{application_id}}/device/{{dev_eui}}/event/{{event}}', 'application/+/device/+/event/+'],
    ['handlebars with spaces', 'application/{{ application_id }}/device/{{ dev_eui }}/event/{{ event }}', 'application/+/device/+/event/+'],
    ['literal prefix', 't123/application/{application_id}/device/{dev_eui}/event/{event}', 't123/application/+/device/+/event/+'],
    ['no application_id', 'devices/{dev_eui}/{event}', 'devices/+/+'],
  ];
  for (const [name, template, filter] of cases) t.equal(compileTopicTemplate(template).filter, filter, name);
});

t.test('compileTopicTemplate: match', async (t) => {
  const def = 'application/{application_id}/device/{dev_eui}/event/{event}';
  const hbs = 'application/{{application_id}}/device/{{dev_eui}}/event/{{event}}';
  const pre = 't123/application/{application_id}/device/{dev_eui}/event/{event}';
  const cases: [name: string, template: string, topic: string, want: TopicMatch | null][] = [
    ['default', def, `application/${APP}/device/0101010101010101/event/up`, { applicationId: APP, devEui: EUI, event: 'up' }],
    ['handlebars', hbs, `application/${APP}/device/0101010101010101/event/status`, { applicationId: APP, devEui: EUI, event: 'status' }],
    ['prefixed', pre, `t123/application/${APP}/device/0101010101010101/event/log`, { applicationId: APP, devEui: EUI, event: 'log' }],
    ['devEui normalised to uppercase', def, `application/${APP}/device/a1b2c3d4e5f6a7b8/event/up`, { applicationId: APP, devEui: 'A1B2C3D4E5F6A7B8', event: 'up' }],
    ['unknown event still matches', def, `application/${APP}/device/0101010101010101/event/location`, { applicationId: APP, devEui: EUI, event: 'location' }],
    ['no application_id in template', 'devices/{dev_eui}/{event}', 'devices/0101010101010101/up', { applicationId: '', devEui: EUI, event: 'up' }],
    ['too few levels', def, `application/${APP}/device/0101010101010101/event`, null],
    ['too many levels', def, `application/${APP}/device/0101010101010101/event/up/extra`, null],
    ['command topic', def, `application/${APP}/device/0101010101010101/command/down`, null],
    ['gateway topic', def, 'eu868/gateway/0016c001f153a14c/event/up', null],
    ['prefix missing', pre, `application/${APP}/device/0101010101010101/event/up`, null],
    ['prefix on a default template', def, `t123/application/${APP}/device/0101010101010101/event/up`, null],
    ['literals are case-sensitive', def, `Application/${APP}/device/0101010101010101/event/up`, null],
    ['devEui not hex', def, `application/${APP}/device/010101010101010g/event/up`, null],
    ['devEui too short', def, `application/${APP}/device/010101010101010/event/up`, null],
    ['empty application level', def, 'application//device/0101010101010101/event/up', null],
    ['empty event level', def, `application/${APP}/device/0101010101010101/event/`, null],
  ];
  for (const [name, template, tp, want] of cases) t.same(compileTopicTemplate(template).match(tp), want, name);
});

t.test('compileTopicTemplate: bad templates throw at start-up', async (t) => {
  const cases: [template: string, message: RegExp][] = [
    ['application/{application_id}/device/event/{event}', /no \{dev_eui\} placeholder/],
    ['application/{application_id}/device/{dev_eui}/event/up', /no \{event\} placeholder/],
    ['', /no \{dev_eui\} placeholder/],
    ['application/{tenant_id}/device/{dev_eui}/event/{event}', /unknown placeholder \{tenant_id\}/],
    ['application/app-{application_id}/device/{dev_eui}/event/{event}', /whole topic level/],
    ['application/{application_id/device/{dev_eui}/event/{event}', /whole topic level/],
    ['{dev_eui}/device/{dev_eui}/event/{event}', /\{dev_eui\} appears twice/],
    ['application/+/device/{dev_eui}/event/{event}', /wildcards/],
    ['application/{application_id}/device/{dev_eui}/event/{event}/#', /wildcards/],
    ['$share/g/application/{application_id}/device/{dev_eui}/event/{event}', /\$share/],
  ];
  for (const [template, message] of cases) t.throws(() => compileTopicTemplate(template), message, JSON.stringify(template));
});

// ---------------------------------------------------------------------------------------------
// Events that parse

const buf = (s: string) => Buffer.from(s, 'utf8');

t.test('parseEvent: docs examples and captures', async (t) => {
  const docsRx = { gatewayId: '0016C001F153A14C', rssi: -36, snr: 10.5 };
  const t1000Rx = {
    gatewayId: '3133303748005C00', rssi: -67, snr: 9.5,
    location: { latitude: -33.95476966725685, longitude: 22.434511184692386 },
  };
  const recentRx = [
    { gatewayId: 'AA555A0000000001', rssi: -101, snr: -3 },
    { gatewayId: 'AA555A0000000002', rssi: -90, snr: 2.5 },
    { gatewayId: 'AA555A0000000003' },
  ];
  const cases: [name: string, match: TopicMatch, payload: string, want: ChirpstackEvent][] = [
    ['up (docs)', topic('up'), DOCS_UP, {
      kind: 'up',
      deduplicationId: '3ac7e3c4-4401-4b8d-9386-a5c902f9202d',
      time: new Date('2022-07-18T09:34:15.775Z'),
      timeRaw: '2022-07-18T09:34:15.775023242+00:00',
      devEui: EUI,
      applicationId: APP,
      deviceName: 'Test device',
      deviceProfileName: 'Test device-profile',
      tags: { key: 'value' },
      devAddr: '00189440',
      // The docs example predates emit_fields (v4.1): fCnt 0 and confirmed false are omitted.
      fCnt: 0,
      fPort: 1,
      confirmed: false,
      dr: 1,
      data: Buffer.from([0xaa]),
      rxInfo: [docsRx],
      best: docsRx,
      frequency: 867100000,
    }],
    ['up (helium capture, v4.4+ emit_fields)', topic('up', DEV_EUI_T1000.toUpperCase()), HELIUM_CAPTURE, {
      kind: 'up',
      deduplicationId: 'e3eb5131-fb38-481a-b9df-003d0bee6c93',
      time: new Date('2023-12-22T11:56:17.743Z'),
      timeRaw: '2023-12-22T11:56:17.743353+00:00',
      devEui: DEV_EUI_T1000.toUpperCase(),
      applicationId: APP,
      deviceName: 'JP T1000',
      deviceProfileName: 'SenseCap T1000 Roaming',
      tags: {},
      devAddr: 'fe00483c',
      fCnt: 463,
      fPort: 0,
      confirmed: false,
      dr: 5,
      data: Buffer.alloc(0),
      rxInfo: [t1000Rx],
      best: t1000Rx,
    }],
    ['up (recent shape: object, location {}, sparse rxInfo)', topic('up'), RECENT_SHAPE, {
      kind: 'up',
      deduplicationId: '9b0f9d55-2c2e-4d7e-9a0a-0f1d2c3b4a59',
      time: new Date('2024-03-05T08:00:01.123Z'),
      timeRaw: '2024-03-05T08:00:01.123456789+00:00',
      devEui: EUI,
      applicationId: APP,
      deviceName: 'bay-12',
      deviceProfileName: 'Nwave NPS405',
      tags: { site: 'north' },
      devAddr: '00189440',
      fCnt: 0,
      fPort: 2,
      confirmed: false,
      dr: 0,
      data: Buffer.from([0x01]),
      object: { occupied: true },
      rxInfo: recentRx,
      best: recentRx[1]!,
      frequency: 868100000,
    }],
    ['status (docs)', topic('status'), DOCS_STATUS, {
      kind: 'status',
      deduplicationId: 'bf2a9746-1c8b-49be-a92e-f0b89c8534e4',
      time: new Date('2022-07-18T09:35:06.927Z'),
      devEui: EUI,
      applicationId: APP,
      margin: 10,
      externalPowerSource: false,
      batteryLevelUnavailable: false,
      batteryLevel: 88.3,
    }],
    ['join (docs)', topic('join'), DOCS_JOIN, {
      kind: 'join',
      deduplicationId: 'c9dbe358-2578-4fb7-b295-66b44edc45a6',
      time: new Date('2022-07-18T09:33:28.823Z'),
      devEui: EUI,
      applicationId: APP,
      devAddr: '00189440',
    }],
    ['ack (docs)', topic('ack'), DOCS_ACK, {
      kind: 'ack',
      deduplicationId: '856a03e7-80f6-4c26-b971-9dcb34a59c2e',
      time: new Date('2022-07-18T09:38:49.235Z'),
      devEui: EUI,
      applicationId: APP,
      queueItemId: '1bbcab1d-6ec6-4136-b3f5-d63be1dc08de',
      acknowledged: true,
      fCntDown: 3,
    }],
    ['txack (docs)', topic('txack'), DOCS_TXACK, {
      kind: 'txack',
      time: new Date('2022-07-18T09:37:48.929Z'),
      devEui: EUI,
      applicationId: APP,
      queueItemId: '42cb6459-a640-46ec-9623-bdff39dc4736',
      downlinkId: 3461958127,
      fCntDown: 2,
      gatewayId: '0016C001F153A14C',
    }],
    ['log (docs)', topic('log'), DOCS_LOG, {
      kind: 'log',
      time: new Date('2022-07-18T09:39:57.311Z'),
      devEui: EUI,
      applicationId: APP,
      level: 'ERROR',
      code: 'UPLINK_MIC',
      description: 'MIC of join-request is invalid, make sure keys are correct',
      context: { deduplication_id: '4e91db13-5ce3-4c8c-ab0f-dfc626cf0771' },
    }],
    ['location (docs)', topic('location'), DOCS_LOCATION, {
      kind: 'location',
      deduplicationId: '63d870b9-b769-4d88-8b33-8e43f58851a7',
      time: new Date('2022-07-18T09:55:11.059Z'),
      devEui: EUI,
      applicationId: APP,
      latitude: 37.344214,
      longitude: -8.839375,
      altitude: 2,
      // common.Location has no emit_fields: LocationSource UNKNOWN (0) and accuracy 0 are omitted.
      source: 'UNKNOWN',
    }],
    ['integration (docs, v4.0–v4.13 LoRa Cloud) is other', topic('integration', '0016C001F000175A'), fixtureJson('integration').toString('utf8'), {
      kind: 'other', event: 'integration', devEui: '0016C001F000175A', time: new Date('2022-07-18T10:02:15.812Z'),
    }],
    ['unknown event without time is other', topic('integration'), '{"deviceInfo": {}}', {
      kind: 'other', event: 'integration', devEui: EUI,
    }],
    ['other ignores a bad time', topic('whatever'), '{"time": "soon"}', {
      kind: 'other', event: 'whatever', devEui: EUI,
    }],
  ];
  for (const [name, match, payload, want] of cases) {
    const got = parseEvent(match, buf(payload));
    t.same(got, want, name);
    t.strictSame(Object.keys(got).sort(), Object.keys(want).sort(), `${name}: no extra or missing keys`);
  }
});

/** The docs `up` example with a change applied. */
function up(change: (o: Record<string, any>) => void): Buffer {
  const o = JSON.parse(DOCS_UP) as Record<string, any>;
  change(o);
  return buf(JSON.stringify(o));
}

t.test('parseEvent: protobuf-JSON leniency', async (t) => {
  const parseUp = (b: Buffer) => {
    const e = parseEvent(topic('up'), b);
    if (e.kind !== 'up') throw new Error(`expected up, got ${e.kind}`);
    return e;
  };
  t.equal(parseUp(up((o) => { o.fCnt = '463'; })).fCnt, 463, 'integer as decimal string (proto3 JSON)');
  t.same(parseUp(up((o) => { o.data = '-_8'; })).data, Buffer.from([0xfb, 0xff]), 'URL-safe base64 without padding');
  t.same(parseUp(up((o) => { delete o.data; })).data, Buffer.alloc(0), 'missing data is empty');
  t.equal(parseUp(up((o) => { o.object = null; })).object, undefined, 'null reads as absent');
  t.same(parseUp(up((o) => { delete o.rxInfo; })).rxInfo, [], 'missing rxInfo is empty');
  t.equal(parseUp(up((o) => { delete o.rxInfo; })).best, null, 'best is null without rxInfo');
  t.equal(parseUp(up((o) => { delete o.txInfo; })).frequency, undefined, 'missing txInfo');
  t.equal(parseUp(up((o) => { o.confirmed = true; })).confirmed, true, 'confirmed');
  t.equal(parseUp(up((o) => { o.time = '2022-07-18T09:34:15Z'; })).time.toISOString(), '2022-07-18T09:34:15.000Z', 'Z, no fraction');
  const mixed = parseEvent(topic('up', 'abcdef0123456789'), up((o) => { o.deviceInfo.devEui = 'aBcDeF0123456789'; }));
  t.equal(mixed.devEui, 'ABCDEF0123456789', 'devEui uppercased, compared with the topic case-insensitively');
  t.same(
    parseUp(up((o) => { o.rxInfo[0].location = { longitude: 4.5, altitude: 12, source: 'CONFIG' }; })).rxInfo[0]?.location,
    { latitude: 0, longitude: 4.5, altitude: 12 },
    'a coordinate of 0 is omitted by gw messages and reads as 0',
  );
  t.equal(
    parseUp(up((o) => { o.rxInfo[0].location = { source: 'CONFIG' }; })).rxInfo[0]?.location,
    undefined,
    'location without coordinates reads as absent',
  );

  const tie = parseUp(up((o) => {
    o.rxInfo = [
      { gatewayId: '0000000000000001', rssi: -80, snr: 1 },
      { gatewayId: '0000000000000002', rssi: -80, snr: 7 },
      { gatewayId: '0000000000000003', rssi: -80 },
    ];
  }));
  t.equal(tie.best?.gatewayId, '0000000000000002', 'equal rssi: higher snr wins');
  const noRssi = parseUp(up((o) => { o.rxInfo = [{ gatewayId: '0000000000000001' }, { gatewayId: '0000000000000002', snr: 1 }]; }));
  t.equal(noRssi.best?.gatewayId, '0000000000000002', 'no rssi anywhere: snr decides');

  const status = (o: object) => parseEvent(topic('status'), buf(JSON.stringify({
    deduplicationId: 'bf2a9746-1c8b-49be-a92e-f0b89c8534e4',
    time: '2022-07-18T09:35:06.927172638+00:00',
    deviceInfo: { devEui: EUI },
    ...o,
  })));
  // maccommand/dev_status.rs: batteryLevel is 0.0 on external power or when unavailable.
  t.same(status({ margin: 7, externalPowerSource: true, batteryLevelUnavailable: false, batteryLevel: 0 }), {
    kind: 'status', deduplicationId: 'bf2a9746-1c8b-49be-a92e-f0b89c8534e4', time: new Date('2022-07-18T09:35:06.927Z'),
    devEui: EUI, applicationId: APP, margin: 7, externalPowerSource: true, batteryLevelUnavailable: false,
  }, 'external power: no battery level');
  t.notOk('batteryLevel' in status({ batteryLevelUnavailable: true, batteryLevel: 0 }), 'unavailable: no battery level');
  t.notOk('margin' in status({}), 'margin absent when not sent');

  const ack = parseEvent(topic('ack'), buf(JSON.stringify({
    time: '2022-07-18T09:38:49.235700766+00:00', deviceInfo: { devEui: EUI }, queueItemId: 'q1',
  })));
  t.same(ack, { kind: 'ack', time: new Date('2022-07-18T09:38:49.235Z'), devEui: EUI, applicationId: APP, queueItemId: 'q1', acknowledged: false },
    'ack before emit_fields: acknowledged omitted = false, no deduplicationId');

  const log = parseEvent(topic('log'), buf(JSON.stringify({ time: '2022-07-18T09:39:57Z', deviceInfo: { devEui: EUI } })));
  t.same(log, { kind: 'log', time: new Date('2022-07-18T09:39:57Z'), devEui: EUI, applicationId: APP, level: 'INFO', code: 'UNKNOWN', description: '', context: {} },
    'log enum defaults (INFO, UNKNOWN) omitted before emit_fields');
});

t.test('parseRfc3339', async (t) => {
  const cases: [raw: string, iso: string | null][] = [
    ['2022-07-18T09:34:15.775023242+00:00', '2022-07-18T09:34:15.775Z'],
    ['2022-07-18T09:34:15.999999999+00:00', '2022-07-18T09:34:15.999Z'], // truncated, not rounded
    ['2022-07-18T09:34:15.7+00:00', '2022-07-18T09:34:15.700Z'],
    ['2022-07-18T09:34:15Z', '2022-07-18T09:34:15.000Z'],
    ['2022-07-18t09:34:15z', '2022-07-18T09:34:15.000Z'],
    ['2022-07-18T11:34:15.5+02:00', '2022-07-18T09:34:15.500Z'],
    ['2022-07-18T00:04:15-09:30', '2022-07-18T09:34:15.000Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
    ['0050-01-01T00:00:00Z', '0050-01-01T00:00:00.000Z'],
    ['2023-02-29T00:00:00Z', null],
    ['2022-13-01T00:00:00Z', null],
    ['2022-07-18T24:00:00Z', null],
    ['2022-07-18T09:60:00Z', null],
    ['2022-07-18T09:34:60Z', null],
    ['2022-07-18T09:34:15', null],
    ['2022-07-18T09:34:15+0000', null],
    ['2022-07-18', null],
    ['1658136855', null],
    ['', null],
  ];
  for (const [raw, iso] of cases) t.equal(parseRfc3339(raw)?.toISOString() ?? null, iso, JSON.stringify(raw));
});

// ---------------------------------------------------------------------------------------------
// Every error reason, each naming its field

/** The docs' `up` as ChirpStack's protobuf encoding (test/fixtures/chirpstack/up.bin, made by make-protobuf.ts). */
const PROTOBUF_UP = fixtureProtobuf('up');
/** Cut after its first field (deduplication_id, 2 + 36 bytes): well-formed protobuf, pure ASCII, but no time. */
const PROTOBUF_FIRST_FIELD = PROTOBUF_UP.subarray(0, 38);
/** Cut inside the timestamp: not well-formed protobuf. */
const PROTOBUF_CUT = PROTOBUF_UP.subarray(0, 44);

t.test('parseEvent: errors', async (t) => {
  const deep = `{"object":${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}}`;
  const cases: [name: string, match: TopicMatch, payload: Buffer, reason: string, message: RegExp, encoding?: 'json' | 'protobuf'][] = [
    ['over 64 KiB', topic('up'), Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 0x20), 'too_large', /65537 bytes, over the 65536-byte limit/],
    ['protobuf over 64 KiB', topic('up'), Buffer.concat([PROTOBUF_UP, Buffer.alloc(MAX_PAYLOAD_BYTES)]), 'too_large', /over the 65536-byte limit/],
    ['nested too deep', topic('up'), buf(deep), 'too_deep', /nests 33 levels deep/],
    ['protobuf cut short', topic('up'), PROTOBUF_CUT, 'bad_protobuf', /^payload is neither JSON nor a protobuf UplinkEvent \(up\)/],
    ['protobuf of another kind', topic('status'), fixtureProtobuf('log'), 'bad_protobuf', /protobuf StatusEvent \(status\)/],
    ['protobuf whose bytes are valid UTF-8, without a time', topic('up'), PROTOBUF_FIRST_FIELD, 'missing_field', /^up\.time is missing$/],
    ['binary garbage', topic('join'), Buffer.from([0xff, 0xff, 0xff, 0xff]), 'bad_protobuf', /protobuf JoinEvent \(join\)/],
    ['protobuf for another device', topic('up', '0202020202020202'), PROTOBUF_UP, 'dev_eui_mismatch', /^up\.deviceInfo\.devEui 0101010101010101 does not match the topic's dev_eui 0202020202020202$/],
    ['protobuf for another application', { ...topic('up'), applicationId: 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' }, PROTOBUF_UP, 'topic_application_mismatch', /^up\.deviceInfo\.applicationId /],
    ['JSON said, protobuf sent', topic('up'), PROTOBUF_UP, 'not_json', /UTF-8|not valid JSON/, 'json'],
    ['protobuf said, JSON sent', topic('up'), buf(DOCS_UP), 'bad_protobuf', /protobuf UplinkEvent/, 'protobuf'],
    ['truncated JSON', topic('up'), buf(DOCS_UP.slice(0, 200)), 'not_json', /not valid JSON/],
    ['JSON with bad UTF-8', topic('up'), Buffer.concat([buf('{"a":"'), Buffer.from([0xff]), buf('"}')]), 'not_json', /UTF-8/],
    ['empty payload', topic('up'), Buffer.alloc(0), 'not_json', /empty/],
    ['whitespace payload', topic('up'), buf(' \n'), 'not_json', /empty/],
    ['JSON array', topic('up'), buf('[1,2]'), 'wrong_type', /payload must be a JSON object/],
    ['JSON string', topic('up'), buf('"up"'), 'wrong_type', /payload must be a JSON object/],

    ['up.deduplicationId missing', topic('up'), up((o) => { delete o.deduplicationId; }), 'missing_field', /^up\.deduplicationId is missing$/],
    ['up.deduplicationId empty', topic('up'), up((o) => { o.deduplicationId = ''; }), 'missing_field', /^up\.deduplicationId is missing$/],
    ['up.time missing', topic('up'), up((o) => { delete o.time; }), 'missing_field', /^up\.time is missing$/],
    ['up.deviceInfo missing', topic('up'), up((o) => { delete o.deviceInfo; }), 'missing_field', /^up\.deviceInfo is missing$/],
    ['up.deviceInfo.devEui missing', topic('up'), up((o) => { delete o.deviceInfo.devEui; }), 'missing_field', /^up\.deviceInfo\.devEui is missing$/],
    ['up.rxInfo[0].gatewayId missing', topic('up'), up((o) => { delete o.rxInfo[0].gatewayId; }), 'missing_field', /^up\.rxInfo\[0\]\.gatewayId is missing$/],
    ['status.deduplicationId missing', topic('status'), buf(DOCS_STATUS.replace(/"deduplicationId": "[^"]+",/, '')), 'missing_field', /^status\.deduplicationId is missing$/],
    ['join.time missing', topic('join'), buf(DOCS_JOIN.replace(/"time": "[^"]+",/, '')), 'missing_field', /^join\.time is missing$/],
    ['ack.queueItemId missing', topic('ack'), buf(DOCS_ACK.replace(/"queueItemId": "[^"]+",/, '')), 'missing_field', /^ack\.queueItemId is missing$/],
    ['txack.queueItemId missing', topic('txack'), buf(DOCS_TXACK.replace(/"queueItemId": "[^"]+",/, '')), 'missing_field', /^txack\.queueItemId is missing$/],
    ['log.deviceInfo missing', topic('log'), buf('{"time": "2022-07-18T09:39:57Z"}'), 'missing_field', /^log\.deviceInfo is missing$/],

    ['up.fCnt negative', topic('up'), up((o) => { o.fCnt = -1; }), 'wrong_type', /^up\.fCnt must be a non-negative integer$/],
    ['up.fCnt fraction', topic('up'), up((o) => { o.fCnt = 1.5; }), 'wrong_type', /^up\.fCnt must be a non-negative integer$/],
    ['up.fCnt not numeric', topic('up'), up((o) => { o.fCnt = 'abc'; }), 'wrong_type', /^up\.fCnt must be a non-negative integer$/],
    ['up.fCnt over uint32', topic('up'), up((o) => { o.fCnt = 2 ** 32; }), 'wrong_type', /^up\.fCnt must be a non-negative integer$/],
    ['up.fPort boolean', topic('up'), up((o) => { o.fPort = true; }), 'wrong_type', /^up\.fPort must be a non-negative integer$/],
    ['up.dr negative', topic('up'), up((o) => { o.dr = -2; }), 'wrong_type', /^up\.dr must be a non-negative integer$/],
    ['up.confirmed string', topic('up'), up((o) => { o.confirmed = 'yes'; }), 'wrong_type', /^up\.confirmed must be a boolean$/],
    ['up.data number', topic('up'), up((o) => { o.data = 170; }), 'wrong_type', /^up\.data must be a base64 string$/],
    ['up.object array', topic('up'), up((o) => { o.object = [1]; }), 'wrong_type', /^up\.object must be an object$/],
    ['up.deviceInfo string', topic('up'), up((o) => { o.deviceInfo = EUI; }), 'wrong_type', /^up\.deviceInfo must be an object$/],
    ['up.deviceInfo.devEui not hex', topic('up'), up((o) => { o.deviceInfo.devEui = 'not-an-eui-64!!!'; }), 'wrong_type', /^up\.deviceInfo\.devEui must be a 16-digit hex EUI-64$/],
    ['up.deviceInfo.tags value', topic('up'), up((o) => { o.deviceInfo.tags = { bay: 12 }; }), 'wrong_type', /^up\.deviceInfo\.tags\.bay must be a string$/],
    ['up.rxInfo object', topic('up'), up((o) => { o.rxInfo = o.rxInfo[0]; }), 'wrong_type', /^up\.rxInfo must be an array$/],
    ['up.rxInfo[0] string', topic('up'), up((o) => { o.rxInfo = ['gw']; }), 'wrong_type', /^up\.rxInfo\[0\] must be an object$/],
    ['up.rxInfo[0].gatewayId not hex', topic('up'), up((o) => { o.rxInfo[0].gatewayId = 'gw-1'; }), 'wrong_type', /^up\.rxInfo\[0\]\.gatewayId must be a 16-digit hex EUI-64$/],
    ['up.rxInfo[0].rssi string', topic('up'), up((o) => { o.rxInfo[0].rssi = 'strong'; }), 'wrong_type', /^up\.rxInfo\[0\]\.rssi must be an integer$/],
    ['up.rxInfo[0].snr string', topic('up'), up((o) => { o.rxInfo[0].snr = 'NaN'; }), 'wrong_type', /^up\.rxInfo\[0\]\.snr must be a number$/],
    ['up.rxInfo[0].location.latitude', topic('up'), up((o) => { o.rxInfo[0].location = { latitude: '52.1' }; }), 'wrong_type', /^up\.rxInfo\[0\]\.location\.latitude must be a number$/],
    ['up.txInfo.frequency string', topic('up'), up((o) => { o.txInfo.frequency = '868.1 MHz'; }), 'wrong_type', /^up\.txInfo\.frequency must be a non-negative integer$/],
    ['up.time number', topic('up'), up((o) => { o.time = 1658136855; }), 'wrong_type', /^up\.time must be a string$/],
    ['status.margin fraction', topic('status'), buf(DOCS_STATUS.replace('"margin": 10', '"margin": 1.5')), 'wrong_type', /^status\.margin must be an integer$/],
    ['status.batteryLevel over 100', topic('status'), buf(DOCS_STATUS.replace('88.3', '150')), 'wrong_type', /^status\.batteryLevel must be a percentage 0–100$/],
    ['ack.acknowledged string', topic('ack'), buf(DOCS_ACK.replace('"acknowledged": true', '"acknowledged": "true"')), 'wrong_type', /^ack\.acknowledged must be a boolean$/],
    ['txack.gatewayId not hex', topic('txack'), buf(DOCS_TXACK.replace('"0016c001f153a14c"', '"gw"')), 'wrong_type', /^txack\.gatewayId must be a 16-digit hex EUI-64$/],
    ['log.context value', topic('log'), buf(DOCS_LOG.replace('"4e91db13-5ce3-4c8c-ab0f-dfc626cf0771"', '7')), 'wrong_type', /^log\.context\.deduplication_id must be a string$/],
    ['log.level number', topic('log'), buf(DOCS_LOG.replace('"ERROR"', '2')), 'wrong_type', /^log\.level must be a string$/],

    ['devEui differs from topic', topic('up', '0202020202020202'), buf(DOCS_UP), 'dev_eui_mismatch', /up\.deviceInfo\.devEui 0101010101010101 does not match the topic's dev_eui 0202020202020202/],
    ['devEui differs (status)', topic('status', '0202020202020202'), buf(DOCS_STATUS), 'dev_eui_mismatch', /status\.deviceInfo\.devEui/],

    // The application decides which tenant's device an event may speak for (src/domain/application-binding.ts).
    ['applicationId differs from topic', { ...topic('up'), applicationId: 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' }, buf(DOCS_UP), 'topic_application_mismatch', /^up\.deviceInfo\.applicationId 17c82e96-be03-4f38-aef3-f83d48582d97 does not match the topic's application_id aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa$/],
    ['applicationId differs (log)', { ...topic('log'), applicationId: 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' }, buf(DOCS_LOG), 'topic_application_mismatch', /^log\.deviceInfo\.applicationId /],
    ['applicationId not a UUID', topic('up'), up((o) => { o.deviceInfo.applicationId = 'app-1/#'; }), 'bad_application_id', /^up\.deviceInfo\.applicationId is not a UUID$/],
    ['topic application_id not a UUID', { ...topic('up'), applicationId: 'parking' }, buf(DOCS_UP), 'bad_application_id', /^the topic's application_id is not a UUID$/],

    ['up.time words', topic('up'), up((o) => { o.time = 'yesterday'; }), 'bad_time', /^up\.time "yesterday" is not an RFC3339 timestamp$/],
    ['up.time Feb 30', topic('up'), up((o) => { o.time = '2022-02-30T09:34:15.775023242+00:00'; }), 'bad_time', /^up\.time /],
    ['up.time no offset', topic('up'), up((o) => { o.time = '2022-07-18T09:34:15.775'; }), 'bad_time', /^up\.time /],
    ['log.time hour 25', topic('log'), buf(DOCS_LOG.replace('09:39:57', '25:39:57')), 'bad_time', /^log\.time /],

    ['up.data bad character', topic('up'), up((o) => { o.data = 'qg==!'; }), 'bad_base64', /^up\.data is not valid base64$/],
    ['up.data padding inside', topic('up'), up((o) => { o.data = 'q=g='; }), 'bad_base64', /^up\.data is not valid base64$/],
    ['up.data one char', topic('up'), up((o) => { o.data = 'q'; }), 'bad_base64', /^up\.data is not valid base64$/],
    ['up.data short padding', topic('up'), up((o) => { o.data = 'qg='; }), 'bad_base64', /^up\.data is not valid base64$/],
  ];
  for (const [name, match, payload, reason, message, encoding] of cases) {
    try {
      parseEvent(match, payload, encoding);
      t.fail(`${name}: expected ${reason}`);
    } catch (err) {
      t.type(err, EventParseError, name);
      t.equal((err as EventParseError).reason, reason, `${name}: reason`);
      t.match((err as Error).message, message, `${name}: message`);
    }
  }
});

t.test('parseEvent: a payload at the size limit still parses', async (t) => {
  const padded = Buffer.alloc(MAX_PAYLOAD_BYTES, 0x20);
  buf(DOCS_JOIN).copy(padded);
  t.equal(parseEvent(topic('join'), padded).kind, 'join');
});

t.test('parseEvent: nesting at the limit, and brackets inside strings, are fine', async (t) => {
  const atLimit = `{"object":{"a":${'['.repeat(MAX_JSON_DEPTH - 2)}${']'.repeat(MAX_JSON_DEPTH - 2)}}}`;
  const e = parseEvent(topic('other-kind'), buf(atLimit));
  t.equal(e.kind, 'other');
  const brackets = up((o) => { o.object = { note: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{{{{{\\"' }; });
  t.equal(parseEvent(topic('up'), brackets).kind, 'up');
});
