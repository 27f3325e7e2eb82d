/**
 * The one table of ChirpStack event kinds (kind → module, ingest/events/<kind>.ts) that MQTT
 * (ingest/apply.ts, via the topic's {event}) and HTTP (the integration's `?event=`) both use,
 * and the entry points on it: parse a payload of either encoding into an event, read the
 * device an event is about, the dedup key of an event, and apply a batch's device events.
 *
 * ChirpStack v4 event kinds (docs `src/chirpstack/integrations/events.md`, chirpstack
 * src/integration/mqtt.rs): up, status, join, ack, txack, log, location, and integration up to
 * v4.13 (ingest/events/integration.ts). A kind not in the table is counted and ignored.
 */
import type { Queryable } from '../../src/db/pool.js';
import type { TopicMatch } from '../chirpstack.js';
import { ack, type AckEvent } from './ack.js';
import { deviceFromJson, deviceFromProtobuf } from './device.js';
import { EventParseError, missing } from './errors.js';
import { integration, otherFromJson, type OtherEvent } from './integration.js';
import { join, type JoinEvent } from './join.js';
import type { DeviceItem, EventKind, EventMessage } from './kind.js';
import { location, type LocationEvent } from './location.js';
import { log, type LogEvent } from './log.js';
import { checkSize, detectEncoding, isNonObjectJson, parseJsonObject, type Encoding } from './payload.js';
import { eui, optObject, reqString } from './proto3-json.js';
import { status, type StatusEvent } from './status.js';
import { txack, type TxAckEvent } from './txack.js';
import { up, type UpEvent } from './up.js';

export { EventParseError, type EventParseReason } from './errors.js';
export { MAX_JSON_DEPTH, MAX_PAYLOAD_BYTES, type Encoding } from './payload.js';
export { parseRfc3339 } from './proto3-json.js';
export type { DeviceItem, EventKind } from './kind.js';
export type { AckEvent, JoinEvent, LocationEvent, LogEvent, OtherEvent, StatusEvent, TxAckEvent, UpEvent };
export type { RxInfo } from './up.js';

export type ChirpstackEvent = UpEvent | StatusEvent | JoinEvent | AckEvent | TxAckEvent | LogEvent | LocationEvent | OtherEvent;

/** The kinds ingest applies; `other` is counted and ignored at parse. */
export type AppliedEvent = Exclude<ChirpstackEvent, { kind: 'other' }>;

// One row per kind. The type ties each applied event's `kind` to its own module.
type Applied = { [K in AppliedEvent['kind']]: EventKind<Extract<AppliedEvent, { kind: K }>, any> };
const APPLIED: Applied = { up, status, join, ack, txack, log, location };

/** Every kind ChirpStack names, by its name on the topic / in `?event=`. */
export const EVENT_KINDS: Readonly<Record<string, EventKind<ChirpstackEvent, EventMessage>>> = Object.freeze({
  ...APPLIED,
  integration,
} as Record<string, EventKind<ChirpstackEvent, EventMessage>>);

function kindOf(event: string): EventKind<ChirpstackEvent, EventMessage> | undefined {
  return Object.hasOwn(EVENT_KINDS, event) ? EVENT_KINDS[event] : undefined;
}

/** Whether baygate applies events of this kind (true) or only counts them (integration, unknown kinds). */
export function isAppliedKind(event: string): boolean {
  return Object.hasOwn(APPLIED, event);
}

/**
 * Parses one event payload published on a topic that `compileTopicTemplate(…).match` accepted
 * (HTTP: the topic ChirpStack would have used). `encoding` is what the sender said (HTTP
 * Content-Type: `application/json` → 'json', `application/octet-stream` → 'protobuf'); absent
 * (MQTT), it is told by content (ingest/events/payload.ts detectEncoding). Both encodings of
 * one event give the same event. Throws EventParseError (with a `reason` code and a message
 * naming the field) for a payload that cannot be used; the caller logs, counts and
 * dead-letters it and carries on.
 */
export function parseEvent(topicMatch: TopicMatch, payload: Buffer, encoding?: Encoding): ChirpstackEvent {
  checkSize(payload);
  const kind = kindOf(topicMatch.event);
  if ((encoding ?? detectEncoding(payload)) === 'json') {
    const root = parseJsonObject(payload);
    return kind ? kind.fromJson(root, topicMatch) : otherFromJson(root, topicMatch);
  }
  // No message is known for a kind outside the table: counted and ignored, as its JSON is.
  if (!kind) return { kind: 'other', event: topicMatch.event, devEui: topicMatch.devEui.toUpperCase() };
  return kind.fromMessage(decode(kind, payload, encoding), topicMatch);
}

function decode(kind: EventKind<ChirpstackEvent, EventMessage>, payload: Buffer, encoding: Encoding | undefined): EventMessage {
  try {
    return kind.decode(payload);
  } catch (err) {
    // Told by content, JSON that is not an object (`[1,2]`, `"up"`) is named as such.
    if (encoding === undefined && err instanceof EventParseError && isNonObjectJson(payload)) {
      throw new EventParseError('wrong_type', 'payload must be a JSON object');
    }
    throw err;
  }
}

/**
 * The device an event payload is about, from its deviceInfo: `devEui` as 16 uppercase hex
 * digits, `applicationId` lowercase ('' when the payload names none). For the HTTP
 * integration, which must build the topic ChirpStack would have published on before the
 * event is parsed. `encoding` as for parseEvent. Throws EventParseError as parseEvent would
 * (too_large, not_json, bad_protobuf, missing_field, wrong_type, bad_application_id); for a
 * kind not in the table, only its JSON can be read (`bad_protobuf` otherwise).
 */
export function eventDevice(event: string, payload: Buffer, encoding?: Encoding): { devEui: string; applicationId: string } {
  checkSize(payload);
  const kind = kindOf(event);
  const anyTopic = (devEui: string): TopicMatch => ({ applicationId: '', devEui, event });
  if ((encoding ?? detectEncoding(payload)) === 'json') {
    const root = parseJsonObject(payload);
    const info = optObject(root, 'deviceInfo', event);
    if (!info) throw missing(`${event}.deviceInfo`);
    const devEui = eui(reqString(info, 'devEui', `${event}.deviceInfo`), `${event}.deviceInfo.devEui`);
    const d = deviceFromJson(root, event, anyTopic(devEui));
    return { devEui: d.devEui, applicationId: d.applicationId };
  }
  if (!kind) throw new EventParseError('bad_protobuf', `no protobuf message is known for event kind "${event}"`);
  const info = decode(kind, payload, encoding).getDeviceInfo();
  if (!info) throw missing(`${event}.deviceInfo`);
  if (info.getDevEui() === '') throw missing(`${event}.deviceInfo.devEui`);
  const d = deviceFromProtobuf(info, event, anyTopic(eui(info.getDevEui(), `${event}.deviceInfo.devEui`)));
  return { devEui: d.devEui, applicationId: d.applicationId };
}

/** What makes a redelivery of the event the same event (its kind's rule); null: none. */
export function dedupKey(ev: AppliedEvent): string | null {
  return (APPLIED[ev.kind] as EventKind<AppliedEvent, EventMessage>).dedupKey(ev);
}

/**
 * Applies one tenant's admitted events other than `up` to their devices, each kind by its
 * module, kinds in table order, each kind's events in arrival order. Returns how many it handed on.
 */
export async function applyDeviceEvents(c: Queryable, items: DeviceItem<Exclude<AppliedEvent, UpEvent>>[]): Promise<number> {
  const byKind = new Map<string, DeviceItem<AppliedEvent>[]>();
  for (const item of items) {
    const list = byKind.get(item.ev.kind) ?? [];
    list.push(item);
    byKind.set(item.ev.kind, list);
  }
  for (const [name, kind] of Object.entries(APPLIED) as [string, EventKind<AppliedEvent, EventMessage>][]) {
    const list = byKind.get(name);
    if (list && kind.apply) await kind.apply(c, list);
  }
  return items.length;
}
