/**
 * Owns the `log` event (`integration.LogEvent`: a device-related log line, e.g. a codec error
 * or an invalid MIC): reading it from JSON and protobuf, its dedup key, and what it does to
 * the device: a device event row with its level, code and description.
 */
import integrationPb from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import type { LogEvent as LogMessage } from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import { insertDeviceEvents } from '../../src/storage/device-events.js';
import type { TopicMatch } from '../chirpstack.js';
import { deviceFromJson, deviceFromProtobuf, deviceOf } from './device.js';
import type { EventKind } from './kind.js';
import { decodeMessage, enumName, pbStringMap, pbTimestamp } from './protobuf.js';
import { optString, stringMap, timestamp, type Obj } from './proto3-json.js';

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

const P = 'log';
const LEVELS = integrationPb.LogLevel;
const CODES = integrationPb.LogCode;

function fromJson(root: Obj, topic: TopicMatch): LogEvent {
  return {
    kind: 'log',
    time: timestamp(root, 'time', P).time,
    ...deviceOf(deviceFromJson(root, P, topic)),
    // Enum defaults (INFO = 0, UNKNOWN = 0) are omitted before v4.1 (`integration.proto`).
    level: optString(root, 'level', P) ?? 'INFO',
    code: optString(root, 'code', P) ?? 'UNKNOWN',
    description: optString(root, 'description', P) ?? '',
    context: stringMap(root, 'context', P),
  };
}

function fromMessage(m: LogMessage, topic: TopicMatch): LogEvent {
  return {
    kind: 'log',
    time: pbTimestamp(m.getTime(), `${P}.time`).time,
    ...deviceOf(deviceFromProtobuf(m.getDeviceInfo(), P, topic)),
    level: enumName(LEVELS, m.getLevel()),
    code: enumName(CODES, m.getCode()),
    description: m.getDescription(),
    context: pbStringMap(m.getContextMap()),
  };
}

const dedupKey = (ev: LogEvent) => `log:${ev.devEui}:${ev.time.toISOString()}:${ev.code}:${ev.context.deduplication_id ?? ev.description}`;

export const log: EventKind<LogEvent, LogMessage> = {
  event: 'log',
  messageName: 'LogEvent',
  fromJson,
  decode: (bytes) => decodeMessage(P, 'LogEvent', (b) => integrationPb.LogEvent.deserializeBinary(b), bytes),
  fromMessage,
  dedupKey,
  async apply(c, items) {
    await insertDeviceEvents(c, items.map(({ ev, device, tenantId }) => ({
      tenantId, deviceId: device.id, kind: ev.kind, at: ev.time, dedupKey: dedupKey(ev),
      code: ev.code, level: ev.level, description: ev.description, queueItemId: null, data: { context: ev.context },
    })));
  },
};
