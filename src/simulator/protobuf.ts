/**
 * Owns ChirpStack's protobuf encoding of integration events (`[integration.mqtt] json=false`,
 * the HTTP integration's Protobuf encoding), built from the same event's JSON form with the
 * package's own message classes and setters (@chirpstack/chirpstack-api integration_pb, gw_pb,
 * common_pb; google-protobuf) and `serializeBinary()`. The simulator and the benchmarks
 * publish with it; test/fixtures/chirpstack/make-protobuf.ts makes the protobuf fixtures from
 * ChirpStack's documented JSON examples with it.
 *
 * Strict: every JSON field must have its setter (or map) on the message, so nothing in an
 * example is dropped on the way without an error. Field types that JSON cannot tell apart
 * (Timestamp, Duration, bytes, enums, nested messages) are named per message below, after
 * api/proto/integration/integration.proto, api/proto/gw/gw.proto and api/proto/common/common.proto.
 */
import type { Message } from 'google-protobuf';
import timestampPb from 'google-protobuf/google/protobuf/timestamp_pb.js';
import durationPb from 'google-protobuf/google/protobuf/duration_pb.js';
import structPb from 'google-protobuf/google/protobuf/struct_pb.js';
import integrationPb from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import gwPb from '@chirpstack/chirpstack-api/gw/gw_pb.js';
import commonPb from '@chirpstack/chirpstack-api/common/common_pb.js';

/** The event kinds the package has a message for (`integration` lost its message in ChirpStack v4.15). */
export const PROTOBUF_KINDS = ['up', 'status', 'join', 'ack', 'txack', 'log', 'location'] as const;
export type ProtobufKind = (typeof PROTOBUF_KINDS)[number];

type Field = 'timestamp' | 'duration' | 'bytes' | 'struct' | { enum: object } | { message: Schema } | { repeated: Schema };
interface Schema {
  name: string;
  create: () => Message;
  /** Fields that are not strings, numbers, booleans or string maps. */
  fields?: Record<string, Field>;
}

const deviceInfo: Schema = {
  name: 'DeviceInfo',
  create: () => new integrationPb.DeviceInfo(),
  fields: { deviceClassEnabled: { enum: commonPb.DeviceClass } },
};
const location: Schema = { name: 'Location', create: () => new commonPb.Location(), fields: { source: { enum: commonPb.LocationSource } } };
const lora: Schema = { name: 'LoraModulationInfo', create: () => new gwPb.LoraModulationInfo(), fields: { codeRate: { enum: gwPb.CodeRate } } };
const modulation: Schema = { name: 'Modulation', create: () => new gwPb.Modulation(), fields: { lora: { message: lora } } };
const rxInfo: Schema = {
  name: 'UplinkRxInfo',
  create: () => new gwPb.UplinkRxInfo(),
  fields: { gwTime: 'timestamp', nsTime: 'timestamp', timeSinceGpsEpoch: 'duration', location: { message: location }, context: 'bytes', crcStatus: { enum: gwPb.CRCStatus } },
};
const uplinkTxInfo: Schema = { name: 'UplinkTxInfo', create: () => new gwPb.UplinkTxInfo(), fields: { modulation: { message: modulation } } };
const delay: Schema = { name: 'DelayTimingInfo', create: () => new gwPb.DelayTimingInfo(), fields: { delay: 'duration' } };
const timing: Schema = { name: 'Timing', create: () => new gwPb.Timing(), fields: { delay: { message: delay } } };
const downlinkTxInfo: Schema = {
  name: 'DownlinkTxInfo',
  create: () => new gwPb.DownlinkTxInfo(),
  fields: { modulation: { message: modulation }, timing: { message: timing }, context: 'bytes' },
};
const common = { time: 'timestamp', deviceInfo: { message: deviceInfo } } as const;

const EVENTS: Record<ProtobufKind, Schema> = {
  up: {
    name: 'UplinkEvent',
    create: () => new integrationPb.UplinkEvent(),
    fields: { ...common, data: 'bytes', object: 'struct', rxInfo: { repeated: rxInfo }, txInfo: { message: uplinkTxInfo } },
  },
  status: { name: 'StatusEvent', create: () => new integrationPb.StatusEvent(), fields: common },
  join: { name: 'JoinEvent', create: () => new integrationPb.JoinEvent(), fields: common },
  ack: { name: 'AckEvent', create: () => new integrationPb.AckEvent(), fields: common },
  txack: { name: 'TxAckEvent', create: () => new integrationPb.TxAckEvent(), fields: { ...common, txInfo: { message: downlinkTxInfo } } },
  log: {
    name: 'LogEvent',
    create: () => new integrationPb.LogEvent(),
    fields: { ...common, level: { enum: integrationPb.LogLevel }, code: { enum: integrationPb.LogCode } },
  },
  location: { name: 'LocationEvent', create: () => new integrationPb.LocationEvent(), fields: { ...common, location: { message: location } } },
};

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

function toTimestamp(v: unknown, path: string): InstanceType<typeof timestampPb.Timestamp> {
  const m = typeof v === 'string' ? RFC3339.exec(v) : null;
  if (!m) throw new Error(`${path}: not an RFC3339 time: ${JSON.stringify(v)}`);
  const ts = new timestampPb.Timestamp();
  ts.setSeconds(Date.parse(`${m[1]}${m[3] === 'Z' ? 'Z' : m[3]}`) / 1000);
  ts.setNanos(Number((m[2] ?? '').padEnd(9, '0')));
  return ts;
}

/** google.protobuf.Duration in JSON: seconds with up to 9 fraction digits and an `s`. */
function toDuration(v: unknown, path: string): InstanceType<typeof durationPb.Duration> {
  const m = typeof v === 'string' ? /^(-?\d+)(?:\.(\d{1,9}))?s$/.exec(v) : null;
  if (!m) throw new Error(`${path}: not a Duration: ${JSON.stringify(v)}`);
  const d = new durationPb.Duration();
  d.setSeconds(Number(m[1]));
  d.setNanos((m[1]!.startsWith('-') ? -1 : 1) * Number((m[2] ?? '').padEnd(9, '0')));
  return d;
}

/** A field's accessor names, worked out once per JSON key (the simulator encodes every uplink with them). */
interface Names {
  set: string;
  list: string;
  map: string;
}
const NAMES = new Map<string, Names>();
function names(key: string): Names {
  let n = NAMES.get(key);
  if (!n) {
    const cap = key[0]!.toUpperCase() + key.slice(1);
    n = { set: `set${cap}`, list: `set${cap}List`, map: `get${cap}Map` };
    NAMES.set(key, n);
  }
  return n;
}

type Methods = Record<string, ((...args: unknown[]) => unknown) | undefined>;

function build(schema: Schema, json: Record<string, unknown>, path: string): Message {
  const message = schema.create();
  const msg = message as unknown as Methods;
  for (const key in json) {
    const value = json[key];
    if (value === null || value === undefined) continue; // proto3 JSON: null is the default
    const field = schema.fields?.[key];
    const n = names(key);
    const method = (name: string) => {
      const fn = msg[name];
      if (typeof fn !== 'function') throw new Error(`${path}.${key}: ${schema.name} has no ${name}`);
      return fn;
    };
    let arg: unknown;
    let name = n.set;
    if (field === undefined) {
      if (typeof value === 'object') {
        const map = (method(n.map).call(message) as { set(k: string, v: unknown): void });
        for (const k in value as Record<string, unknown>) map.set(k, (value as Record<string, unknown>)[k]);
        continue;
      }
      arg = value;
    } else if (field === 'timestamp') arg = toTimestamp(value, `${path}.${key}`);
    else if (field === 'duration') arg = toDuration(value, `${path}.${key}`);
    else if (field === 'bytes') arg = Buffer.from(String(value), 'base64');
    else if (field === 'struct') arg = structPb.Struct.fromJavaScript(value as Record<string, never>);
    else if ('enum' in field) {
      arg = (field.enum as Record<string, number>)[String(value)];
      if (arg === undefined) throw new Error(`${path}.${key}: ${JSON.stringify(value)} is no value of the enum`);
    } else if ('message' in field) arg = build(field.message, value as Record<string, unknown>, `${path}.${key}`);
    else {
      name = n.list;
      arg = (value as Record<string, unknown>[]).map((v, i) => build(field.repeated, v, `${path}.${key}[${i}]`));
    }
    method(name).call(message, arg);
  }
  return message;
}

/** The protobuf message ChirpStack would publish for `json`, the event's JSON form. */
export function eventMessage(kind: ProtobufKind, json: Record<string, unknown>): Message {
  return build(EVENTS[kind], json, kind);
}

/** The protobuf bytes ChirpStack would publish for `json`, the event's JSON form. */
export function encodeEvent(kind: ProtobufKind, json: Record<string, unknown>): Uint8Array {
  return eventMessage(kind, json).serializeBinary();
}
