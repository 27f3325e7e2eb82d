/**
 * Owns the `up` event (`integration.UplinkEvent`, one per deduplicated uplink): reading it from
 * JSON and protobuf, and its dedup key. What an uplink does (decode, state machine, readings,
 * device health, gateways) is the batch's own business, in ingest/apply.ts.
 *
 * Sources: ChirpStack docs `src/chirpstack/integrations/events.md` ("up - Uplink event"),
 * `api/proto/integration/integration.proto` UplinkEvent, `api/proto/gw/gw.proto` UplinkRxInfo.
 */
import integrationPb from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import type { UplinkEvent as UplinkMessage } from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import type { UplinkRxInfo } from '@chirpstack/chirpstack-api/gw/gw_pb.js';
import type { TopicMatch } from '../chirpstack.js';
import { deviceFromJson, deviceFromProtobuf, type Device } from './device.js';
import { missing, wrongType } from './errors.js';
import type { EventKind } from './kind.js';
import { decodeMessage, float32, pbTimestamp, structToObject } from './protobuf.js';
import { bool, bytes, eui, get, isObject, optInt, optNumber, optObject, optString, reqString, timestamp, type Obj } from './proto3-json.js';

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
  /** `time` as RFC3339 with its full fraction: as sent in JSON, as ChirpStack's JSON would render it from protobuf. */
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

const P = 'up';

function rxInfoFromJson(v: unknown, path: string): RxInfo {
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

/** The same, from protobuf: a field at its default is what the JSON omits (gw has no `emit_fields`). */
function rxInfoFromMessage(rx: UplinkRxInfo, path: string): RxInfo {
  const gatewayId = rx.getGatewayId();
  if (gatewayId === '') throw missing(`${path}.gatewayId`);
  const out: RxInfo = { gatewayId: eui(gatewayId, `${path}.gatewayId`) };
  if (rx.getRssi() !== 0) out.rssi = rx.getRssi();
  if (rx.getSnr() !== 0) out.snr = float32(rx.getSnr());
  const loc = rx.getLocation();
  if (loc && (loc.getLatitude() !== 0 || loc.getLongitude() !== 0)) {
    out.location = { latitude: loc.getLatitude(), longitude: loc.getLongitude() };
    if (loc.getAltitude() !== 0) out.location.altitude = loc.getAltitude();
  }
  return out;
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

/** The event in the field order both readers give, so both build objects of one shape. */
function build(
  head: { deduplicationId: string; time: Date; timeRaw: string },
  device: Device,
  fields: { fCnt: number; fPort: number; confirmed: boolean; data: Buffer; rxInfo: RxInfo[] },
  optional: { devAddr?: string; dr?: number; object?: Record<string, unknown>; frequency?: number },
): UpEvent {
  const event: UpEvent = { kind: 'up', ...head, ...device, ...fields, best: strongest(fields.rxInfo) };
  if (optional.devAddr !== undefined) event.devAddr = optional.devAddr;
  if (optional.dr !== undefined) event.dr = optional.dr;
  if (optional.object !== undefined) event.object = optional.object;
  if (optional.frequency !== undefined) event.frequency = optional.frequency;
  return event;
}

function fromJson(root: Obj, topic: TopicMatch): UpEvent {
  const deduplicationId = reqString(root, 'deduplicationId', P);
  const { time, timeRaw } = timestamp(root, 'time', P);
  const device = deviceFromJson(root, P, topic);

  const rawRx = get(root, 'rxInfo') ?? [];
  if (!Array.isArray(rawRx)) throw wrongType(`${P}.rxInfo`, 'an array');
  const rxInfo = rawRx.map((rx: unknown, i) => rxInfoFromJson(rx, `${P}.rxInfo[${i}]`));
  const txInfo = optObject(root, 'txInfo', P);
  return build({ deduplicationId, time, timeRaw }, device, {
    // fCnt and fPort are always present since v4.1 (`emit_fields`); older versions and the docs'
    // own `up` example omit them when 0, which the proto3 JSON mapping defines as 0.
    fCnt: optInt(root, 'fCnt', P, false) ?? 0,
    fPort: optInt(root, 'fPort', P, false) ?? 0,
    confirmed: bool(root, 'confirmed', P),
    data: bytes(root, 'data', P),
    rxInfo,
  }, {
    devAddr: optString(root, 'devAddr', P),
    dr: optInt(root, 'dr', P, false),
    // google.protobuf.Struct: "only set when a codec is configured in the Device Profile".
    object: optObject(root, 'object', P),
    frequency: txInfo && optInt(txInfo, 'frequency', `${P}.txInfo`, false),
  });
}

function fromMessage(m: UplinkMessage, topic: TopicMatch): UpEvent {
  const deduplicationId = m.getDeduplicationId();
  if (deduplicationId === '') throw missing(`${P}.deduplicationId`);
  const { time, timeRaw } = pbTimestamp(m.getTime(), `${P}.time`);
  const device = deviceFromProtobuf(m.getDeviceInfo(), P, topic);
  const rxInfo = m.getRxInfoList().map((rx, i) => rxInfoFromMessage(rx, `${P}.rxInfo[${i}]`));
  const object = m.getObject();
  const frequency = m.getTxInfo()?.getFrequency();
  return build({ deduplicationId, time, timeRaw }, device, {
    fCnt: m.getFCnt(),
    fPort: m.getFPort(),
    confirmed: m.getConfirmed(),
    data: Buffer.from(m.getData_asU8()),
    rxInfo,
  }, {
    devAddr: m.getDevAddr() || undefined,
    // An integration-level field: ChirpStack's JSON always carries it (emit_fields), 0 included.
    dr: m.getDr(),
    object: object && structToObject(object, `${P}.object`),
    // gw.UplinkTxInfo has no emit_fields: a frequency of 0 is omitted from its JSON.
    frequency: frequency || undefined,
  });
}

export const up: EventKind<UpEvent, UplinkMessage> = {
  event: 'up',
  messageName: 'UplinkEvent',
  fromJson,
  decode: (bytes) => decodeMessage(P, 'UplinkEvent', (b) => integrationPb.UplinkEvent.deserializeBinary(b), bytes),
  fromMessage,
  dedupKey: (ev) => `up:${ev.deduplicationId}`,
};
