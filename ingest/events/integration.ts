/**
 * Owns the `integration` event (`integration.IntegrationEvent`, "events provided by an
 * external integration which are not native to ChirpStack"): read, counted and ignored.
 *
 * ChirpStack v4.0–v4.13 send it, and only from the LoRa Cloud integration (the docs' example:
 * `integrationName: "loracloud"`). v4.14 removed LoRa Cloud and v4.15 the event with its
 * message (chirpstack commits 7895b7f4, ac5de191), so the package baygate uses
 * (@chirpstack/chirpstack-api 4.19) has no IntegrationEvent class. Its protobuf form is read
 * with google-protobuf's BinaryReader for the fields it shares with every event (1
 * deduplication_id, 2 time, 3 device_info, integration.proto before ac5de191): enough to
 * tell a well-formed message from garbage, which is all an ignored kind needs.
 */
import jspb from 'google-protobuf';
import timestampPb from 'google-protobuf/google/protobuf/timestamp_pb.js';
import integrationPb from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import type { DeviceInfo } from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import type { TopicMatch } from '../chirpstack.js';
import { EventParseError } from './errors.js';
import type { EventKind, EventMessage } from './kind.js';
import { parseRfc3339, type Obj } from './proto3-json.js';

/** Any event ingest counts and ignores: `integration`, and kinds no module reads. */
export interface OtherEvent {
  kind: 'other';
  event: string;
  /** From the topic. */
  devEui: string;
  time?: Date;
}

/** The fields of an IntegrationEvent that every event kind shares. */
export interface IntegrationMessage extends EventMessage {
  time?: Date;
}

/** Ignored upstream, so nothing here may fail: a time is kept only when it reads cleanly. */
export function otherFromJson(root: Obj, topic: TopicMatch): OtherEvent {
  const event: OtherEvent = { kind: 'other', event: topic.event, devEui: topic.devEui.toUpperCase() };
  const raw = root['time'];
  const time = typeof raw === 'string' ? parseRfc3339(raw) : null;
  if (time) event.time = time;
  return event;
}

function decode(bytes: Uint8Array): IntegrationMessage {
  let deviceInfo: DeviceInfo | undefined;
  let time: Date | undefined;
  try {
    const reader = new jspb.BinaryReader(bytes);
    while (reader.nextField()) {
      if (reader.isEndGroup()) break;
      switch (reader.getFieldNumber()) {
        case 2: {
          const ts = new timestampPb.Timestamp();
          reader.readMessage(ts, timestampPb.Timestamp.deserializeBinaryFromReader);
          time = ts.toDate();
          break;
        }
        case 3: {
          const info = new integrationPb.DeviceInfo();
          reader.readMessage(info, integrationPb.DeviceInfo.deserializeBinaryFromReader);
          deviceInfo = info;
          break;
        }
        default:
          reader.skipField();
      }
    }
  } catch (err) {
    throw new EventParseError('bad_protobuf', `payload is neither JSON nor a protobuf IntegrationEvent (integration): ${(err as Error).message}`);
  }
  const msg: IntegrationMessage = { getDeviceInfo: () => deviceInfo };
  if (time && !Number.isNaN(time.getTime())) msg.time = time;
  return msg;
}

export const integration: EventKind<OtherEvent, IntegrationMessage> = {
  event: 'integration',
  messageName: 'IntegrationEvent',
  fromJson: otherFromJson,
  decode,
  fromMessage(m, topic) {
    const event: OtherEvent = { kind: 'other', event: topic.event, devEui: topic.devEui.toUpperCase() };
    if (m.time) event.time = m.time;
    return event;
  },
  dedupKey: () => null,
};
