/**
 * Owns the ChirpStack v4 MQTT integration's wire format: the event topic template and the JSON
 * event payloads, turned into typed events. Pure: no I/O, no clock, no logging.
 *
 * Sources (re-read them before changing a rule here):
 * - ChirpStack docs `src/chirpstack/integrations/events.md` (event kinds and JSON examples);
 * - `api/proto/integration/integration.proto` and `api/proto/gw/gw.proto` (field names and types);
 * - `chirpstack/src/integration/mqtt.rs` (topics, `json` switch) and `api/rust/build.rs` (pbjson
 *   with `emit_fields` since v4.1.0 for the `integration` package, not for `gw`/`common`);
 * - the proto3 JSON mapping (protobuf.dev/programming-guides/json): an omitted field means its
 *   default value, `null` means the default, integers may arrive as numbers or decimal strings,
 *   `bytes` are standard or URL-safe base64 with or without padding.
 * See also ChirpStack's event documentation (chirpstack.io/docs/chirpstack/integrations/events.html)
 * and its message definitions (github.com/chirpstack/chirpstack, api/proto/integration/integration.proto).
 */
import { APPLICATION_ID } from '../src/domain/application-binding.js';

// ---------------------------------------------------------------------------------------------
// Limits

/**
 * Largest payload we parse. A ChirpStack event is a few KiB even with many gateways and a codec
 * `object`; anything far larger is a misconfiguration or abuse, and is rejected before JSON.parse.
 */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

/**
 * Deepest JSON nesting we accept. ChirpStack's own structure is at most 4 levels deep
 * (`rxInfo[].location`, `txInfo.modulation.lora`); the rest is headroom for a codec's `object`.
 * The limit keeps later recursive walks (JSON.stringify when storing `object`) away from the
 * stack limit that a 64 KiB payload of brackets could otherwise reach.
 */
export const MAX_JSON_DEPTH = 32;

// ---------------------------------------------------------------------------------------------
// Errors

export type EventParseReason =
  | 'too_large'
  | 'too_deep'
  | 'protobuf'
  | 'not_json'
  | 'missing_field'
  | 'wrong_type'
  | 'dev_eui_mismatch'
  | 'bad_application_id'
  | 'topic_application_mismatch'
  | 'bad_time'
  | 'bad_base64';

/** A payload that is not a usable ChirpStack event; ingest logs it with its topic and dead-letters it. */
export class EventParseError extends Error {
  constructor(
    /** Stable machine code, used as a metric label and stored with the dead letter. */
    readonly reason: EventParseReason,
    message: string,
    /** The offending field as a path, e.g. `up.rxInfo[0].rssi`, when one field is to blame. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'EventParseError';
  }
}

// ---------------------------------------------------------------------------------------------
// Topic template

/** What the event topic says; `devEui` is 16 uppercase hex digits. */
export interface TopicMatch {
  /** Application UUID from the topic; '' when the template has no {application_id}. */
  applicationId: string;
  devEui: string;
  /** `up`, `status`, `join`, `ack`, `txack`, `log`, `location`, … (events.md "Event types"). */
  event: string;
}

export interface CompiledTopicTemplate {
  /** MQTT subscription filter, every placeholder replaced by `+`. */
  filter: string;
  /** Parses a received topic; null when it is not an event topic of this template. */
  match(topic: string): TopicMatch | null;
}

type Placeholder = 'application_id' | 'dev_eui' | 'event';
const PLACEHOLDERS: readonly Placeholder[] = ['application_id', 'dev_eui', 'event'];

/**
 * `{{name}}` is ChirpStack's own Handlebars form (`event_topic` default in `chirpstack/src/config.rs`:
 * `application/{{application_id}}/device/{{dev_eui}}/event/{{event}}`); `{name}` is the form the
 * docs use in prose and our config default.
 */
const PLACEHOLDER_LEVEL = /^(?:\{\{\s*([A-Za-z_]+)\s*\}\}|\{([A-Za-z_]+)\})$/;
const EUI64 = /^[0-9A-Fa-f]{16}$/;

/**
 * Compiles the ChirpStack `event_topic` template once at start-up. Throws an Error naming the
 * problem for a template ingest could not use: each placeholder must fill a whole topic level
 * (MQTT's `+` matches exactly one level, MQTT v5 §4.7.1.3), and {dev_eui} and {event} are required.
 */
export function compileTopicTemplate(template: string): CompiledTopicTemplate {
  const levels = template.split('/');
  const slots: (Placeholder | { literal: string })[] = [];
  const seen = new Set<Placeholder>();

  for (const level of levels) {
    const m = PLACEHOLDER_LEVEL.exec(level);
    if (m) {
      const name = (m[1] ?? m[2] ?? '') as Placeholder;
      if (!PLACEHOLDERS.includes(name)) {
        throw new Error(
          `ChirpStack event topic template "${template}": unknown placeholder {${name}}; ` +
            `allowed: ${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`,
        );
      }
      if (seen.has(name)) {
        throw new Error(`ChirpStack event topic template "${template}": {${name}} appears twice`);
      }
      seen.add(name);
      slots.push(name);
      continue;
    }
    if (level.includes('{') || level.includes('}')) {
      throw new Error(
        `ChirpStack event topic template "${template}": a placeholder must fill a whole topic level, got "${level}"`,
      );
    }
    if (level.includes('+') || level.includes('#')) {
      throw new Error(
        `ChirpStack event topic template "${template}": wildcards (+, #) are not allowed; write placeholders instead`,
      );
    }
    slots.push({ literal: level });
  }

  if (levels[0] === '$share') {
    // ChirpStack publishes to the plain topic; a shared-subscription prefix belongs to the
    // subscriber (MQTT v5 §4.8.2), which adds it to `filter` itself.
    throw new Error(
      `ChirpStack event topic template "${template}": remove the $share/<group>/ prefix; ` +
        `shared subscriptions are configured separately (MQTT_SHARE_GROUP)`,
    );
  }
  for (const required of ['dev_eui', 'event'] as const) {
    if (!seen.has(required)) {
      throw new Error(
        `ChirpStack event topic template "${template}" has no {${required}} placeholder; ` +
          `ChirpStack's default is application/{application_id}/device/{dev_eui}/event/{event}`,
      );
    }
  }

  const filter = slots.map((s) => (typeof s === 'string' ? '+' : s.literal)).join('/');

  function match(topic: string): TopicMatch | null {
    const parts = topic.split('/');
    if (parts.length !== slots.length) return null;
    const found: TopicMatch = { applicationId: '', devEui: '', event: '' };
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i];
      const part = parts[i] ?? '';
      if (slot === undefined) return null;
      if (typeof slot !== 'string') {
        // "MQTT topics are case-sensitive" (docs `src/chirpstack/integrations/mqtt.md`).
        if (part !== slot.literal) return null;
        continue;
      }
      // `+` also matches an empty level; none of our placeholders may be empty.
      if (part === '') return null;
      if (slot === 'dev_eui') {
        // ChirpStack writes the DevEUI as lowercase hex (`lrwn/src/eui64.rs` Display); we keep
        // DevEUIs uppercase everywhere.
        if (!EUI64.test(part)) return null;
        found.devEui = part.toUpperCase();
      } else if (slot === 'application_id') {
        found.applicationId = part;
      } else {
        found.event = part;
      }
    }
    return found;
  }

  return { filter, match };
}

// ---------------------------------------------------------------------------------------------
// Event types

/** One receiving gateway (`gw.UplinkRxInfo`); gw messages omit default-valued fields. */
export interface RxInfo {
  /** Gateway ID, 16 uppercase hex digits. */
  gatewayId: string;
  /** dBm. */
  rssi?: number;
  /** dB. */
  snr?: number;
  /** Absent when the gateway reports none (ChirpStack then sends `location: {}`). */
  location?: { latitude: number; longitude: number; altitude?: number };
}

/** `up`: `integration.UplinkEvent`, one per deduplicated uplink. */
export interface UpEvent {
  kind: 'up';
  /** New UUID per deduplicated uplink set: the idempotency key. */
  deduplicationId: string;
  /** `time` truncated to milliseconds. */
  time: Date;
  /** `time` exactly as sent (RFC3339 with nanoseconds). */
  timeRaw: string;
  devEui: string;
  applicationId: string;
  deviceName?: string;
  deviceProfileName?: string;
  tags: Record<string, string>;
  devAddr?: string;
  /** Full 32-bit uplink frame counter. */
  fCnt: number;
  /** 0 = MAC-only frame. */
  fPort: number;
  confirmed: boolean;
  dr?: number;
  /** Decrypted FRMPayload; empty when the frame carried none. */
  data: Buffer;
  /** Device-profile codec output; absent when no codec is set or the codec failed. */
  object?: Record<string, unknown>;
  rxInfo: RxInfo[];
  /** The strongest reception: highest rssi, then highest snr, then first; null when rxInfo is empty. */
  best: RxInfo | null;
  /** Hz (`txInfo.frequency`). */
  frequency?: number;
}

/** `status`: `integration.StatusEvent`, the device's DevStatusAns (`maccommand/dev_status.rs`). */
export interface StatusEvent {
  kind: 'status';
  deduplicationId: string;
  time: Date;
  devEui: string;
  /** The ChirpStack application it came through (deviceInfo.applicationId, else the topic's), lowercase; '' when neither names one. */
  applicationId: string;
  /** Demodulation SNR margin in dB. */
  margin?: number;
  externalPowerSource: boolean;
  batteryLevelUnavailable: boolean;
  /** Percent, 0–100; absent when the device is on external power or cannot measure it. */
  batteryLevel?: number;
}

/** `join`: `integration.JoinEvent`, "sent at the first uplink after OTAA". */
export interface JoinEvent {
  kind: 'join';
  deduplicationId: string;
  time: Date;
  devEui: string;
  /** The ChirpStack application it came through (deviceInfo.applicationId, else the topic's), lowercase; '' when neither names one. */
  applicationId: string;
  devAddr?: string;
}

/** `ack`: `integration.AckEvent`, a confirmed downlink was (n)acked or timed out. */
export interface AckEvent {
  kind: 'ack';
  deduplicationId?: string;
  time: Date;
  devEui: string;
  /** The ChirpStack application it came through (deviceInfo.applicationId, else the topic's), lowercase; '' when neither names one. */
  applicationId: string;
  queueItemId: string;
  acknowledged: boolean;
  fCntDown?: number;
}

/** `txack`: `integration.TxAckEvent`, the gateway accepted a downlink for transmission. */
export interface TxAckEvent {
  kind: 'txack';
  time: Date;
  devEui: string;
  /** The ChirpStack application it came through (deviceInfo.applicationId, else the topic's), lowercase; '' when neither names one. */
  applicationId: string;
  queueItemId: string;
  downlinkId?: number;
  fCntDown?: number;
  /** 16 uppercase hex digits. */
  gatewayId?: string;
}

/**
 * `log`: `integration.LogEvent`. It has no deduplicationId; correlate with the uplink through
 * `context.deduplication_id`.
 */
export interface LogEvent {
  kind: 'log';
  time: Date;
  devEui: string;
  /** The ChirpStack application it came through (deviceInfo.applicationId, else the topic's), lowercase; '' when neither names one. */
  applicationId: string;
  /** `INFO` | `WARNING` | `ERROR` (enum `LogLevel`). */
  level: string;
  /** Enum `LogCode`, e.g. `UPLINK_CODEC`, `UPLINK_MIC`, `UPLINK_F_CNT_RETRANSMISSION`. */
  code: string;
  description: string;
  context: Record<string, string>;
}

/** Any other event (`location`, `integration`, unknown): counted and ignored by ingest. */
export interface OtherEvent {
  kind: 'other';
  event: string;
  /** From the topic. */
  devEui: string;
  time?: Date;
}

export type ChirpstackEvent =
  | UpEvent
  | StatusEvent
  | JoinEvent
  | AckEvent
  | TxAckEvent
  | LogEvent
  | OtherEvent;

// ---------------------------------------------------------------------------------------------
// Payload → JSON object

const UTF8 = new TextDecoder('utf-8', { fatal: true });
const JSON_WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);
const OPEN_BRACE = 0x7b;

function firstNonWhitespace(payload: Buffer): number | undefined {
  for (const byte of payload) if (!JSON_WHITESPACE.has(byte)) return byte;
  return undefined;
}

const PROTOBUF_HINT =
  'payload is not JSON: ChirpStack appears to publish protobuf; set json=true in [integration.mqtt] of chirpstack.toml';

/**
 * Deepest bracket nesting outside strings, in one pass over the bytes. `"`, `\`, `{`, `[`
 * are ASCII and never occur inside a multi-byte UTF-8 sequence, so bytes suffice.
 */
function jsonDepth(payload: Buffer): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < payload.length; i++) {
    const b = payload[i];
    if (inString) {
      if (b === 0x5c) i++; // backslash: skip the escaped byte
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) {
      inString = true;
    } else if (b === 0x7b || b === 0x5b) {
      if (++depth > max) max = depth;
    } else if (b === 0x7d || b === 0x5d) {
      depth--;
    }
  }
  return max;
}

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJsonObject(payload: Buffer): Obj {
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw new EventParseError(
      'too_large',
      `payload is ${payload.length} bytes, over the ${MAX_PAYLOAD_BYTES}-byte limit`,
    );
  }
  const first = firstNonWhitespace(payload);
  if (first === undefined) throw new EventParseError('not_json', 'payload is empty');

  // ChirpStack's `json=false` sends protobuf (`mqtt.rs`: `pl.encode_to_vec()`). A protobuf event
  // never starts with `{`: its first byte is a field tag (0x0a or 0x08).
  let text: string;
  try {
    text = UTF8.decode(payload);
  } catch {
    if (first === OPEN_BRACE) throw new EventParseError('not_json', 'payload is not valid UTF-8');
    throw new EventParseError('protobuf', PROTOBUF_HINT);
  }
  if (first !== OPEN_BRACE) {
    // Valid UTF-8 that does not open an object: a JSON array or scalar, or protobuf whose bytes
    // happen to be valid UTF-8 (an UplinkEvent starts with "\n$" and the deduplication UUID).
    let json = true;
    try {
      JSON.parse(text);
    } catch {
      json = false;
    }
    if (json) throw new EventParseError('wrong_type', 'payload must be a JSON object');
    throw new EventParseError('protobuf', PROTOBUF_HINT);
  }

  const depth = jsonDepth(payload);
  if (depth > MAX_JSON_DEPTH) {
    throw new EventParseError('too_deep', `payload nests ${depth} levels deep, over the limit of ${MAX_JSON_DEPTH}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new EventParseError('not_json', `payload is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(value)) throw new EventParseError('wrong_type', 'payload must be a JSON object');
  return value;
}

// ---------------------------------------------------------------------------------------------
// Field readers. `path` names the field in messages, e.g. `up.rxInfo[0].rssi`.
// Proto3 JSON: `null` is accepted for any field and means "default", so it reads as absent.

function get(o: Obj, key: string): unknown {
  const v = o[key];
  return v === null ? undefined : v;
}

function missing(path: string): EventParseError {
  return new EventParseError('missing_field', `${path} is missing`, path);
}

function wrongType(path: string, expected: string): EventParseError {
  return new EventParseError('wrong_type', `${path} must be ${expected}`, path);
}

/** An optional string; '' (the proto3 default) reads as absent. */
function optString(o: Obj, key: string, path: string): string | undefined {
  const v = get(o, key);
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw wrongType(`${path}.${key}`, 'a string');
  return v;
}

function reqString(o: Obj, key: string, path: string): string {
  const v = optString(o, key, path);
  if (v === undefined) throw missing(`${path}.${key}`);
  return v;
}

/** proto3 `bool`: omitted when false (before v4.1 `emit_fields`), so absent reads as false. */
function bool(o: Obj, key: string, path: string): boolean {
  const v = get(o, key);
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw wrongType(`${path}.${key}`, 'a boolean');
  return v;
}

const DECIMAL = /^-?\d+$/;

/**
 * proto3 `uint32`/`int32`. Parsers must accept a number or a decimal string (proto3 JSON
 * mapping); ChirpStack sends numbers.
 */
function optInt(o: Obj, key: string, path: string, signed: boolean): number | undefined {
  const v = get(o, key);
  if (v === undefined) return undefined;
  const n = typeof v === 'string' && DECIMAL.test(v) ? Number(v) : v;
  const [min, max] = signed ? [-(2 ** 31), 2 ** 31 - 1] : [0, 2 ** 32 - 1];
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw wrongType(`${path}.${key}`, signed ? 'an integer' : 'a non-negative integer');
  }
  return n;
}

/** proto3 `float`/`double`. */
function optNumber(o: Obj, key: string, path: string): number | undefined {
  const v = get(o, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw wrongType(`${path}.${key}`, 'a number');
  return v;
}

function optObject(o: Obj, key: string, path: string): Obj | undefined {
  const v = get(o, key);
  if (v === undefined) return undefined;
  if (!isObject(v)) throw wrongType(`${path}.${key}`, 'an object');
  return v;
}

/** proto3 `map<string, string>`; absent reads as empty. */
function stringMap(o: Obj, key: string, path: string): Record<string, string> {
  const v = optObject(o, key, path) ?? {};
  const out: Record<string, string> = {};
  for (const [k, value] of Object.entries(v)) {
    if (typeof value !== 'string') throw wrongType(`${path}.${key}.${k}`, 'a string');
    out[k] = value;
  }
  return out;
}

function eui(value: string, path: string): string {
  if (!EUI64.test(value)) throw wrongType(path, 'a 16-digit hex EUI-64');
  return value.toUpperCase();
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * `google.protobuf.Timestamp` in JSON: RFC3339, ChirpStack writes nanoseconds and `+00:00`
 * (e.g. `2022-07-18T09:34:15.775023242+00:00`). JS Date keeps milliseconds, so the fraction is
 * truncated; the caller keeps the raw string where the rest matters. Parsed by hand because
 * `Date.parse` is implementation-defined outside its own simplified ISO format (ECMA-262 §21.4.3.2).
 */
export function parseRfc3339(raw: string): Date | null {
  const m = RFC3339.exec(raw);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number, number, number, number, number, number,
  ];
  const ms = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  const daysInMonth = mo === 2 && isLeap(y) ? 29 : DAYS_IN_MONTH[mo - 1];
  // Seconds stop at 59: protobuf Timestamps are smeared, never leap seconds (timestamp.proto).
  if (daysInMonth === undefined || d < 1 || d > daysInMonth || h > 23 || mi > 59 || s > 59) return null;
  let offsetMin = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return null;
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d); // setUTCFullYear, unlike Date.UTC, keeps years 0–99 literal
  date.setUTCHours(h, mi, s, ms);
  return new Date(date.getTime() - offsetMin * 60_000);
}

function timestamp(o: Obj, key: string, path: string): { time: Date; timeRaw: string } {
  const raw = reqString(o, key, path);
  const time = parseRfc3339(raw);
  if (!time) {
    throw new EventParseError('bad_time', `${path}.${key} "${raw}" is not an RFC3339 timestamp`, `${path}.${key}`);
  }
  return { time, timeRaw: raw };
}

const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

/** proto3 `bytes`: standard or URL-safe base64, padding optional (proto3 JSON mapping). */
function bytes(o: Obj, key: string, path: string): Buffer {
  const v = get(o, key);
  if (v === undefined || v === '') return Buffer.alloc(0);
  if (typeof v !== 'string') throw wrongType(`${path}.${key}`, 'a base64 string');
  // Buffer.from(…, 'base64') silently skips bad characters; check first.
  const unpadded = v.replace(/=+$/, '');
  if (!BASE64.test(v) || unpadded.length % 4 === 1 || (v.length > unpadded.length && v.length % 4 !== 0)) {
    throw new EventParseError('bad_base64', `${path}.${key} is not valid base64`, `${path}.${key}`);
  }
  return Buffer.from(unpadded.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

// ---------------------------------------------------------------------------------------------
// Event parsers

interface Device {
  devEui: string;
  applicationId: string;
  deviceName?: string;
  deviceProfileName?: string;
  tags: Record<string, string>;
}

/** `integration.DeviceInfo`; its devEui must be the topic's (one device per topic, `mqtt.rs`). */
function deviceInfo(root: Obj, kind: string, topic: TopicMatch): Device {
  const path = `${kind}.deviceInfo`;
  const info = optObject(root, 'deviceInfo', kind);
  if (!info) throw missing(path);
  const devEui = eui(reqString(info, 'devEui', path), `${path}.devEui`);
  if (devEui !== topic.devEui.toUpperCase()) {
    throw new EventParseError(
      'dev_eui_mismatch',
      `${path}.devEui ${devEui} does not match the topic's dev_eui ${topic.devEui.toUpperCase()}`,
      `${path}.devEui`,
    );
  }
  const device: Device = {
    devEui,
    applicationId: applicationId(optString(info, 'applicationId', path), topic, `${path}.applicationId`),
    tags: stringMap(info, 'tags', path),
  };
  const deviceName = optString(info, 'deviceName', path);
  if (deviceName !== undefined) device.deviceName = deviceName;
  const deviceProfileName = optString(info, 'deviceProfileName', path);
  if (deviceProfileName !== undefined) device.deviceProfileName = deviceProfileName;
  return device;
}

/**
 * The application the event came through, lowercase; '' when neither the payload nor the topic
 * names one. It decides which tenant's device the event may speak for
 * (src/domain/application-binding.ts), so it must be a UUID, as ChirpStack's are, and the
 * payload may not claim another application than the topic the broker authorised.
 */
function applicationId(fromPayload: string | undefined, topic: TopicMatch, path: string): string {
  const fromTopic = topic.applicationId.toLowerCase();
  if (fromTopic !== '' && !APPLICATION_ID.test(fromTopic)) {
    throw new EventParseError('bad_application_id', `the topic's application_id is not a UUID`, 'topic.application_id');
  }
  if (fromPayload === undefined) return fromTopic;
  const id = fromPayload.toLowerCase();
  if (!APPLICATION_ID.test(id)) throw new EventParseError('bad_application_id', `${path} is not a UUID`, path);
  if (fromTopic !== '' && id !== fromTopic) {
    throw new EventParseError('topic_application_mismatch', `${path} ${id} does not match the topic's application_id ${fromTopic}`, path);
  }
  return id;
}

/** The device facts every event kind but `up` carries. */
function deviceOf(d: Device): { devEui: string; applicationId: string } {
  return { devEui: d.devEui, applicationId: d.applicationId };
}

function rxInfoEntry(v: unknown, path: string): RxInfo {
  if (!isObject(v)) throw wrongType(path, 'an object');
  const rx: RxInfo = { gatewayId: eui(reqString(v, 'gatewayId', path), `${path}.gatewayId`) };
  const rssi = optInt(v, 'rssi', path, true);
  if (rssi !== undefined) rx.rssi = rssi;
  const snr = optNumber(v, 'snr', path);
  if (snr !== undefined) rx.snr = snr;
  // `common.Location`; gw messages are serialised without `emit_fields`, so a gateway without a
  // position sends `{}` and a coordinate that is exactly 0 is omitted.
  const loc = optObject(v, 'location', path);
  if (loc) {
    const lpath = `${path}.location`;
    const latitude = optNumber(loc, 'latitude', lpath);
    const longitude = optNumber(loc, 'longitude', lpath);
    if (latitude !== undefined || longitude !== undefined) {
      rx.location = { latitude: latitude ?? 0, longitude: longitude ?? 0 };
      const altitude = optNumber(loc, 'altitude', lpath);
      if (altitude !== undefined) rx.location.altitude = altitude;
    }
  }
  return rx;
}

function strongest(rxInfo: RxInfo[]): RxInfo | null {
  let best: RxInfo | null = null;
  for (const rx of rxInfo) {
    if (best === null) {
      best = rx;
      continue;
    }
    const a = rx.rssi ?? -Infinity;
    const b = best.rssi ?? -Infinity;
    if (a > b || (a === b && (rx.snr ?? -Infinity) > (best.snr ?? -Infinity))) best = rx;
  }
  return best;
}

function parseUp(root: Obj, topic: TopicMatch): UpEvent {
  const p = 'up';
  const deduplicationId = reqString(root, 'deduplicationId', p);
  const { time, timeRaw } = timestamp(root, 'time', p);
  const device = deviceInfo(root, p, topic);

  const rawRx = get(root, 'rxInfo') ?? [];
  if (!Array.isArray(rawRx)) throw wrongType(`${p}.rxInfo`, 'an array');
  const rxInfo = rawRx.map((rx: unknown, i) => rxInfoEntry(rx, `${p}.rxInfo[${i}]`));

  const event: UpEvent = {
    kind: 'up',
    deduplicationId,
    time,
    timeRaw,
    ...device,
    // fCnt and fPort are always present since v4.1 (`emit_fields`); older versions and the docs'
    // own `up` example omit them when 0, which the proto3 JSON mapping defines as 0.
    fCnt: optInt(root, 'fCnt', p, false) ?? 0,
    fPort: optInt(root, 'fPort', p, false) ?? 0,
    confirmed: bool(root, 'confirmed', p),
    data: bytes(root, 'data', p),
    rxInfo,
    best: strongest(rxInfo),
  };
  const devAddr = optString(root, 'devAddr', p);
  if (devAddr !== undefined) event.devAddr = devAddr;
  const dr = optInt(root, 'dr', p, false);
  if (dr !== undefined) event.dr = dr;
  // google.protobuf.Struct: "only set when a codec is configured in the Device Profile".
  const object = optObject(root, 'object', p);
  if (object !== undefined) event.object = object;
  const txInfo = optObject(root, 'txInfo', p);
  const frequency = txInfo && optInt(txInfo, 'frequency', `${p}.txInfo`, false);
  if (frequency !== undefined) event.frequency = frequency;
  return event;
}

function parseStatus(root: Obj, topic: TopicMatch): StatusEvent {
  const p = 'status';
  const event: StatusEvent = {
    kind: 'status',
    deduplicationId: reqString(root, 'deduplicationId', p),
    time: timestamp(root, 'time', p).time,
    ...deviceOf(deviceInfo(root, p, topic)),
    externalPowerSource: bool(root, 'externalPowerSource', p),
    batteryLevelUnavailable: bool(root, 'batteryLevelUnavailable', p),
  };
  const margin = optInt(root, 'margin', p, true);
  if (margin !== undefined) event.margin = margin;
  const batteryLevel = optNumber(root, 'batteryLevel', p);
  // `maccommand/dev_status.rs`: batteryLevel is battery/254*100 only when 0 < battery < 255;
  // on external power (0) or unavailable (255) ChirpStack sends 0.0, which is not a level.
  if (batteryLevel !== undefined && !event.externalPowerSource && !event.batteryLevelUnavailable) {
    if (batteryLevel < 0 || batteryLevel > 100) throw wrongType(`${p}.batteryLevel`, 'a percentage 0–100');
    event.batteryLevel = batteryLevel;
  }
  return event;
}

function parseJoin(root: Obj, topic: TopicMatch): JoinEvent {
  const p = 'join';
  const event: JoinEvent = {
    kind: 'join',
    deduplicationId: reqString(root, 'deduplicationId', p),
    time: timestamp(root, 'time', p).time,
    ...deviceOf(deviceInfo(root, p, topic)),
  };
  const devAddr = optString(root, 'devAddr', p);
  if (devAddr !== undefined) event.devAddr = devAddr;
  return event;
}

function parseAck(root: Obj, topic: TopicMatch): AckEvent {
  const p = 'ack';
  const event: AckEvent = {
    kind: 'ack',
    time: timestamp(root, 'time', p).time,
    ...deviceOf(deviceInfo(root, p, topic)),
    queueItemId: reqString(root, 'queueItemId', p),
    // Omitted when false before v4.1: a missing `acknowledged` is a nack (or a timeout).
    acknowledged: bool(root, 'acknowledged', p),
  };
  const deduplicationId = optString(root, 'deduplicationId', p);
  if (deduplicationId !== undefined) event.deduplicationId = deduplicationId;
  const fCntDown = optInt(root, 'fCntDown', p, false);
  if (fCntDown !== undefined) event.fCntDown = fCntDown;
  return event;
}

function parseTxAck(root: Obj, topic: TopicMatch): TxAckEvent {
  const p = 'txack';
  const event: TxAckEvent = {
    kind: 'txack',
    time: timestamp(root, 'time', p).time,
    ...deviceOf(deviceInfo(root, p, topic)),
    queueItemId: reqString(root, 'queueItemId', p),
  };
  const downlinkId = optInt(root, 'downlinkId', p, false);
  if (downlinkId !== undefined) event.downlinkId = downlinkId;
  const fCntDown = optInt(root, 'fCntDown', p, false);
  if (fCntDown !== undefined) event.fCntDown = fCntDown;
  const gatewayId = optString(root, 'gatewayId', p);
  if (gatewayId !== undefined) event.gatewayId = eui(gatewayId, `${p}.gatewayId`);
  return event;
}

function parseLog(root: Obj, topic: TopicMatch): LogEvent {
  const p = 'log';
  return {
    kind: 'log',
    time: timestamp(root, 'time', p).time,
    ...deviceOf(deviceInfo(root, p, topic)),
    // Enum defaults (INFO = 0, UNKNOWN = 0) are omitted before v4.1 (`integration.proto`).
    level: optString(root, 'level', p) ?? 'INFO',
    code: optString(root, 'code', p) ?? 'UNKNOWN',
    description: optString(root, 'description', p) ?? '',
    context: stringMap(root, 'context', p),
  };
}

function parseOther(root: Obj, topic: TopicMatch): OtherEvent {
  // Ignored upstream, so nothing here may fail: a time is kept only when it reads cleanly.
  const event: OtherEvent = { kind: 'other', event: topic.event, devEui: topic.devEui.toUpperCase() };
  const raw = root['time'];
  const time = typeof raw === 'string' ? parseRfc3339(raw) : null;
  if (time) event.time = time;
  return event;
}

const PARSERS: Record<string, (root: Obj, topic: TopicMatch) => ChirpstackEvent> = {
  up: parseUp,
  status: parseStatus,
  join: parseJoin,
  ack: parseAck,
  txack: parseTxAck,
  log: parseLog,
};

/**
 * Parses one event payload published on a topic that `compileTopicTemplate(…).match` accepted.
 * Throws EventParseError (with a `reason` code and a message naming the field) for a payload
 * that cannot be used; the caller logs, counts and dead-letters it and carries on.
 */
export function parseEvent(topicMatch: TopicMatch, payload: Buffer): ChirpstackEvent {
  const root = parseJsonObject(payload);
  const parse = Object.hasOwn(PARSERS, topicMatch.event) ? PARSERS[topicMatch.event] : undefined;
  return (parse ?? parseOther)(root, topicMatch);
}
