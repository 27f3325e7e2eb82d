/**
 * Owns the `status` event (`integration.StatusEvent`, the device's DevStatusAns,
 * chirpstack/src/maccommand/dev_status.rs): reading it from JSON and protobuf, its dedup key,
 * and what it does to the device: battery, margin and power source on the device, and a
 * device event row.
 */
import integrationPb from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import type { StatusEvent as StatusMessage } from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import { insertDeviceEvents } from '../../src/storage/device-events.js';
import { writeDeviceStatus } from '../../src/storage/ingest-devices.js';
import type { TopicMatch } from '../chirpstack.js';
import { deviceFromJson, deviceFromProtobuf, deviceOf } from './device.js';
import { missing, wrongType } from './errors.js';
import type { EventKind } from './kind.js';
import { decodeMessage, float32, pbTimestamp } from './protobuf.js';
import { bool, optInt, optNumber, reqString, timestamp, type Obj } from './proto3-json.js';

/** `status`: `integration.StatusEvent`. */
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

const P = 'status';

function build(head: Omit<StatusEvent, 'kind' | 'margin' | 'batteryLevel'>, margin: number | undefined, batteryLevel: number | undefined): StatusEvent {
  const event: StatusEvent = { kind: 'status', ...head };
  if (margin !== undefined) event.margin = margin;
  // `maccommand/dev_status.rs`: batteryLevel is battery/254*100 only when 0 < battery < 255;
  // on external power (0) or unavailable (255) ChirpStack sends 0.0, which is not a level.
  if (batteryLevel !== undefined && !event.externalPowerSource && !event.batteryLevelUnavailable) {
    if (batteryLevel < 0 || batteryLevel > 100) throw wrongType(`${P}.batteryLevel`, 'a percentage 0–100');
    event.batteryLevel = batteryLevel;
  }
  return event;
}

function fromJson(root: Obj, topic: TopicMatch): StatusEvent {
  return build(
    {
      deduplicationId: reqString(root, 'deduplicationId', P),
      time: timestamp(root, 'time', P).time,
      ...deviceOf(deviceFromJson(root, P, topic)),
      externalPowerSource: bool(root, 'externalPowerSource', P),
      batteryLevelUnavailable: bool(root, 'batteryLevelUnavailable', P),
    },
    optInt(root, 'margin', P, true),
    optNumber(root, 'batteryLevel', P),
  );
}

function fromMessage(m: StatusMessage, topic: TopicMatch): StatusEvent {
  const deduplicationId = m.getDeduplicationId();
  if (deduplicationId === '') throw missing(`${P}.deduplicationId`);
  return build(
    {
      deduplicationId,
      time: pbTimestamp(m.getTime(), `${P}.time`).time,
      ...deviceOf(deviceFromProtobuf(m.getDeviceInfo(), P, topic)),
      externalPowerSource: m.getExternalPowerSource(),
      batteryLevelUnavailable: m.getBatteryLevelUnavailable(),
    },
    // Integration-level fields: ChirpStack's JSON always carries them (emit_fields).
    m.getMargin(),
    float32(m.getBatteryLevel()),
  );
}

const dedupKey = (ev: StatusEvent) => `status:${ev.deduplicationId}`;

export const status: EventKind<StatusEvent, StatusMessage> = {
  event: 'status',
  messageName: 'StatusEvent',
  fromJson,
  decode: (bytes) => decodeMessage(P, 'StatusEvent', (b) => integrationPb.StatusEvent.deserializeBinary(b), bytes),
  fromMessage,
  dedupKey,
  async apply(c, items) {
    await writeDeviceStatus(c, items.map(({ ev, device }) => ({ id: device.id, batteryPercent: ev.batteryLevel ?? null, margin: ev.margin ?? null, externalPower: ev.externalPowerSource, joinedAt: null, devAddr: null })));
    await insertDeviceEvents(c, items.map(({ ev, device, tenantId }) => ({
      tenantId, deviceId: device.id, kind: ev.kind, at: ev.time, dedupKey: dedupKey(ev),
      code: null, level: null, description: null, queueItemId: null,
      data: { battery_level: ev.batteryLevel ?? null, margin: ev.margin ?? null, external_power_source: ev.externalPowerSource, battery_level_unavailable: ev.batteryLevelUnavailable },
    })));
  },
};
