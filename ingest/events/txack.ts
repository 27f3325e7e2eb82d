/**
 * Owns the `txack` event (`integration.TxAckEvent`: a gateway accepted a downlink for
 * transmission, which does not yet say it was sent): reading it from JSON and protobuf, its
 * dedup key, and what it does to the device: a device event row (TXACK).
 */
import integrationPb from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import type { TxAckEvent as TxAckMessage } from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import { insertDeviceEvents } from '../../src/storage/device-events.js';
import type { TopicMatch } from '../chirpstack.js';
import { deviceFromJson, deviceFromProtobuf, deviceOf } from './device.js';
import { missing } from './errors.js';
import type { EventKind } from './kind.js';
import { decodeMessage, pbTimestamp } from './protobuf.js';
import { eui, optInt, optString, reqString, timestamp, type Obj } from './proto3-json.js';

/** `txack`: `integration.TxAckEvent`. */
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

const P = 'txack';

function build(head: Omit<TxAckEvent, 'kind' | 'downlinkId' | 'fCntDown' | 'gatewayId'>, opt: { downlinkId?: number; fCntDown?: number; gatewayId?: string }): TxAckEvent {
  const event: TxAckEvent = { kind: 'txack', ...head };
  if (opt.downlinkId !== undefined) event.downlinkId = opt.downlinkId;
  if (opt.fCntDown !== undefined) event.fCntDown = opt.fCntDown;
  if (opt.gatewayId !== undefined) event.gatewayId = eui(opt.gatewayId, `${P}.gatewayId`);
  return event;
}

function fromJson(root: Obj, topic: TopicMatch): TxAckEvent {
  return build(
    { time: timestamp(root, 'time', P).time, ...deviceOf(deviceFromJson(root, P, topic)), queueItemId: reqString(root, 'queueItemId', P) },
    { downlinkId: optInt(root, 'downlinkId', P, false), fCntDown: optInt(root, 'fCntDown', P, false), gatewayId: optString(root, 'gatewayId', P) },
  );
}

function fromMessage(m: TxAckMessage, topic: TopicMatch): TxAckEvent {
  const time = pbTimestamp(m.getTime(), `${P}.time`).time;
  const device = deviceOf(deviceFromProtobuf(m.getDeviceInfo(), P, topic));
  const queueItemId = m.getQueueItemId();
  if (queueItemId === '') throw missing(`${P}.queueItemId`);
  // downlink_id and f_cnt_down are integration-level fields: always in ChirpStack's JSON (emit_fields).
  return build({ time, ...device, queueItemId }, { downlinkId: m.getDownlinkId(), fCntDown: m.getFCntDown(), gatewayId: m.getGatewayId() || undefined });
}

const dedupKey = (ev: TxAckEvent) => `txack:${ev.queueItemId}:${ev.downlinkId ?? ''}`;

export const txack: EventKind<TxAckEvent, TxAckMessage> = {
  event: 'txack',
  messageName: 'TxAckEvent',
  fromJson,
  decode: (bytes) => decodeMessage(P, 'TxAckEvent', (b) => integrationPb.TxAckEvent.deserializeBinary(b), bytes),
  fromMessage,
  dedupKey,
  async apply(c, items) {
    await insertDeviceEvents(c, items.map(({ ev, device, tenantId }) => ({
      tenantId, deviceId: device.id, kind: ev.kind, at: ev.time, dedupKey: dedupKey(ev),
      code: 'TXACK', level: null, description: null, queueItemId: ev.queueItemId,
      data: { downlink_id: ev.downlinkId ?? null, f_cnt_down: ev.fCntDown ?? null, gateway_id: ev.gatewayId ?? null },
    })));
  },
};
