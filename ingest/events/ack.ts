/**
 * Owns the `ack` event (`integration.AckEvent`: a confirmed downlink was acknowledged, not
 * acknowledged, or timed out): reading it from JSON and protobuf, its dedup key, and what it
 * does to the device: a device event row (ACK or NACK) that display downlinks are matched on.
 */
import integrationPb from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import type { AckEvent as AckMessage } from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import { insertDeviceEvents } from '../../src/storage/device-events.js';
import type { TopicMatch } from '../chirpstack.js';
import { deviceFromJson, deviceFromProtobuf, deviceOf } from './device.js';
import { missing } from './errors.js';
import type { EventKind } from './kind.js';
import { decodeMessage, pbTimestamp } from './protobuf.js';
import { bool, optInt, optString, reqString, timestamp, type Obj } from './proto3-json.js';

/** `ack`: `integration.AckEvent`. */
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

const P = 'ack';

function build(head: Omit<AckEvent, 'kind' | 'deduplicationId' | 'fCntDown'>, deduplicationId: string | undefined, fCntDown: number | undefined): AckEvent {
  const event: AckEvent = { kind: 'ack', ...head };
  if (deduplicationId !== undefined) event.deduplicationId = deduplicationId;
  if (fCntDown !== undefined) event.fCntDown = fCntDown;
  return event;
}

function fromJson(root: Obj, topic: TopicMatch): AckEvent {
  return build(
    {
      time: timestamp(root, 'time', P).time,
      ...deviceOf(deviceFromJson(root, P, topic)),
      queueItemId: reqString(root, 'queueItemId', P),
      // Omitted when false before v4.1: a missing `acknowledged` is a nack (or a timeout).
      acknowledged: bool(root, 'acknowledged', P),
    },
    optString(root, 'deduplicationId', P),
    optInt(root, 'fCntDown', P, false),
  );
}

function fromMessage(m: AckMessage, topic: TopicMatch): AckEvent {
  const time = pbTimestamp(m.getTime(), `${P}.time`).time;
  const device = deviceOf(deviceFromProtobuf(m.getDeviceInfo(), P, topic));
  const queueItemId = m.getQueueItemId();
  if (queueItemId === '') throw missing(`${P}.queueItemId`);
  // f_cnt_down is an integration-level field: ChirpStack's JSON always carries it (emit_fields).
  return build({ time, ...device, queueItemId, acknowledged: m.getAcknowledged() }, m.getDeduplicationId() || undefined, m.getFCntDown());
}

const dedupKey = (ev: AckEvent) => `ack:${ev.queueItemId}:${ev.acknowledged}`;

export const ack: EventKind<AckEvent, AckMessage> = {
  event: 'ack',
  messageName: 'AckEvent',
  fromJson,
  decode: (bytes) => decodeMessage(P, 'AckEvent', (b) => integrationPb.AckEvent.deserializeBinary(b), bytes),
  fromMessage,
  dedupKey,
  async apply(c, items) {
    await insertDeviceEvents(c, items.map(({ ev, device, tenantId }) => ({
      tenantId, deviceId: device.id, kind: ev.kind, at: ev.time, dedupKey: dedupKey(ev),
      code: ev.acknowledged ? 'ACK' : 'NACK', level: null, description: null, queueItemId: ev.queueItemId,
      data: { acknowledged: ev.acknowledged, f_cnt_down: ev.fCntDown ?? null },
    })));
  },
};
