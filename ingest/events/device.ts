/**
 * Owns `integration.DeviceInfo`, which every event kind carries, in both encodings, and the
 * checks that bind an event to its topic: the DevEUI must be the topic's (one device per
 * topic, chirpstack/src/integration/mqtt.rs) and the application must be a UUID and the
 * topic's. Pure.
 */
import type { DeviceInfo } from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import { APPLICATION_ID } from '../../src/domain/application-binding.js';
import type { TopicMatch } from '../chirpstack.js';
import { EventParseError, missing } from './errors.js';
import { pbStringMap } from './protobuf.js';
import { eui, optObject, optString, reqString, stringMap, type Obj } from './proto3-json.js';

export interface Device {
  devEui: string;
  applicationId: string;
  deviceName?: string;
  deviceProfileName?: string;
  tags: Record<string, string>;
}

/** The device facts every event kind but `up` carries. */
export function deviceOf(d: Device): { devEui: string; applicationId: string } {
  return { devEui: d.devEui, applicationId: d.applicationId };
}

/** `deviceInfo` of a JSON event. */
export function deviceFromJson(root: Obj, kind: string, topic: TopicMatch): Device {
  const path = `${kind}.deviceInfo`;
  const info = optObject(root, 'deviceInfo', kind);
  if (!info) throw missing(path);
  const device: Device = {
    devEui: topicDevEui(reqString(info, 'devEui', path), path, topic),
    applicationId: applicationId(optString(info, 'applicationId', path), topic, `${path}.applicationId`),
    tags: stringMap(info, 'tags', path),
  };
  const deviceName = optString(info, 'deviceName', path);
  if (deviceName !== undefined) device.deviceName = deviceName;
  const deviceProfileName = optString(info, 'deviceProfileName', path);
  if (deviceProfileName !== undefined) device.deviceProfileName = deviceProfileName;
  return device;
}

/** `device_info` of a protobuf event; '' is the proto3 default and reads as absent, as in JSON. */
export function deviceFromProtobuf(info: DeviceInfo | undefined, kind: string, topic: TopicMatch): Device {
  const path = `${kind}.deviceInfo`;
  if (!info) throw missing(path);
  if (info.getDevEui() === '') throw missing(`${path}.devEui`);
  const device: Device = {
    devEui: topicDevEui(info.getDevEui(), path, topic),
    applicationId: applicationId(info.getApplicationId() || undefined, topic, `${path}.applicationId`),
    tags: pbStringMap(info.getTagsMap()),
  };
  if (info.getDeviceName() !== '') device.deviceName = info.getDeviceName();
  if (info.getDeviceProfileName() !== '') device.deviceProfileName = info.getDeviceProfileName();
  return device;
}

/** The DevEUI, uppercase, which must be the topic's (one device per topic, `mqtt.rs`). */
function topicDevEui(raw: string, path: string, topic: TopicMatch): string {
  const devEui = eui(raw, `${path}.devEui`);
  if (devEui !== topic.devEui.toUpperCase()) {
    throw new EventParseError(
      'dev_eui_mismatch',
      `${path}.devEui ${devEui} does not match the topic's dev_eui ${topic.devEui.toUpperCase()}`,
      `${path}.devEui`,
    );
  }
  return devEui;
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
