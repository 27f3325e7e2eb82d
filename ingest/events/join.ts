/**
 * Owns the `join` event (`integration.JoinEvent`, "sent at the first uplink after OTAA"):
 * reading it from JSON and protobuf, its dedup key, and what it does to the device: the join
 * time and DevAddr on the device, and a device event row.
 */
import integrationPb from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import type { JoinEvent as JoinMessage } from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import { insertDeviceEvents } from '../../src/storage/device-events.js';
import { writeDeviceStatus } from '../../src/storage/ingest-devices.js';
import type { TopicMatch } from '../chirpstack.js';
import { deviceFromJson, deviceFromProtobuf, deviceOf } from './device.js';
import { missing } from './errors.js';
import type { EventKind } from './kind.js';
import { decodeMessage, pbTimestamp } from './protobuf.js';
import { optString, reqString, timestamp, type Obj } from './proto3-json.js';

/** `join`: `integration.JoinEvent`. */
export interface JoinEvent {
  kind: 'join';
  deduplicationId: string;
  time: Date;
  devEui: string;
  /** The ChirpStack application it came through (deviceInfo.applicationId, else the topic's), lowercase; '' when neither names one. */
  applicationId: string;
  devAddr?: string;
}

const P = 'join';

function build(head: Omit<JoinEvent, 'kind' | 'devAddr'>, devAddr: string | undefined): JoinEvent {
  const event: JoinEvent = { kind: 'join', ...head };
  if (devAddr !== undefined) event.devAddr = devAddr;
  return event;
}

function fromJson(root: Obj, topic: TopicMatch): JoinEvent {
  return build(
    { deduplicationId: reqString(root, 'deduplicationId', P), time: timestamp(root, 'time', P).time, ...deviceOf(deviceFromJson(root, P, topic)) },
    optString(root, 'devAddr', P),
  );
}

function fromMessage(m: JoinMessage, topic: TopicMatch): JoinEvent {
  const deduplicationId = m.getDeduplicationId();
  if (deduplicationId === '') throw missing(`${P}.deduplicationId`);
  return build(
    { deduplicationId, time: pbTimestamp(m.getTime(), `${P}.time`).time, ...deviceOf(deviceFromProtobuf(m.getDeviceInfo(), P, topic)) },
    m.getDevAddr() || undefined,
  );
}

const dedupKey = (ev: JoinEvent) => `join:${ev.deduplicationId}`;

export const join: EventKind<JoinEvent, JoinMessage> = {
  event: 'join',
  messageName: 'JoinEvent',
  fromJson,
  decode: (bytes) => decodeMessage(P, 'JoinEvent', (b) => integrationPb.JoinEvent.deserializeBinary(b), bytes),
  fromMessage,
  dedupKey,
  async apply(c, items) {
    await writeDeviceStatus(c, items.map(({ ev, device, seenAt }) => ({ id: device.id, batteryPercent: null, margin: null, externalPower: null, joinedAt: seenAt, devAddr: ev.devAddr ?? null })));
    await insertDeviceEvents(c, items.map(({ ev, device, tenantId }) => ({
      tenantId, deviceId: device.id, kind: ev.kind, at: ev.time, dedupKey: dedupKey(ev),
      code: null, level: null, description: null, queueItemId: null, data: { dev_addr: ev.devAddr ?? null },
    })));
  },
};
