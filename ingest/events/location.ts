/**
 * Owns the `location` event (`integration.LocationEvent`, "sent when a geolocation resolve was
 * returned", or a device profile's configured position): reading it from JSON and protobuf,
 * its dedup key, and what it does to the device: its latest location
 * (src/storage/device-locations.ts).
 *
 * The location is a `common.Location` {latitude, longitude, altitude, source, accuracy}
 * (api/proto/common/common.proto). `common` is serialised without `emit_fields`
 * (chirpstack api/rust/build.rs), so its JSON omits a field at its default: the docs' own
 * example has no `source` (UNKNOWN) and no `accuracy`.
 */
import integrationPb from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import type { LocationEvent as LocationMessage } from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import commonPb from '@chirpstack/chirpstack-api/common/common_pb.js';
import { writeDeviceLocations } from '../../src/storage/device-locations.js';
import type { TopicMatch } from '../chirpstack.js';
import { deviceFromJson, deviceFromProtobuf, deviceOf } from './device.js';
import { EventParseError, missing, wrongType } from './errors.js';
import type { EventKind } from './kind.js';
import { decodeMessage, enumName, float32, pbTimestamp } from './protobuf.js';
import { optNumber, optObject, optString, reqString, timestamp, type Obj } from './proto3-json.js';

/** `location`: `integration.LocationEvent`. */
export interface LocationEvent {
  kind: 'location';
  deduplicationId: string;
  time: Date;
  devEui: string;
  /** The ChirpStack application it came through (deviceInfo.applicationId, else the topic's), lowercase; '' when neither names one. */
  applicationId: string;
  /** Degrees, WGS84. */
  latitude: number;
  longitude: number;
  /** Metres; absent when the event had none (0, which `common.Location`'s JSON omits, reads as none). */
  altitude?: number;
  /** `common.LocationSource` name: GPS, CONFIG, GEO_RESOLVER_TDOA, …; UNKNOWN when not given. */
  source: string;
  /** Metres; absent when the event had none (0 is no accuracy). */
  accuracy?: number;
}

const P = 'location';
const L = `${P}.location`;
const SOURCES = commonPb.LocationSource;

interface Coordinates {
  latitude: number | undefined;
  longitude: number | undefined;
  altitude: number | undefined;
  source: string | undefined;
  accuracy: number | undefined;
}

function build(head: Omit<LocationEvent, 'kind' | 'latitude' | 'longitude' | 'altitude' | 'source' | 'accuracy'>, loc: Coordinates): LocationEvent {
  // A coordinate of exactly 0 is omitted by the JSON and reads as 0; both at 0 is no answer
  // from a resolver (0°N 0°E is open sea), so the event says nowhere and is refused.
  if (!loc.latitude && !loc.longitude) throw new EventParseError('missing_field', `${L} has no coordinates`, L);
  const latitude = loc.latitude ?? 0;
  const longitude = loc.longitude ?? 0;
  if (latitude < -90 || latitude > 90) throw wrongType(`${L}.latitude`, 'a latitude, -90 to 90');
  if (longitude < -180 || longitude > 180) throw wrongType(`${L}.longitude`, 'a longitude, -180 to 180');
  const event: LocationEvent = { kind: 'location', ...head, latitude, longitude, source: loc.source ?? 'UNKNOWN' };
  if (loc.altitude) event.altitude = loc.altitude;
  if (loc.accuracy) {
    if (loc.accuracy < 0) throw wrongType(`${L}.accuracy`, 'a non-negative number');
    event.accuracy = loc.accuracy;
  }
  return event;
}

function fromJson(root: Obj, topic: TopicMatch): LocationEvent {
  const head = {
    deduplicationId: reqString(root, 'deduplicationId', P),
    time: timestamp(root, 'time', P).time,
    ...deviceOf(deviceFromJson(root, P, topic)),
  };
  const loc = optObject(root, 'location', P);
  if (!loc) throw missing(L);
  return build(head, {
    latitude: optNumber(loc, 'latitude', L),
    longitude: optNumber(loc, 'longitude', L),
    altitude: optNumber(loc, 'altitude', L),
    source: optString(loc, 'source', L),
    accuracy: optNumber(loc, 'accuracy', L),
  });
}

function fromMessage(m: LocationMessage, topic: TopicMatch): LocationEvent {
  const deduplicationId = m.getDeduplicationId();
  if (deduplicationId === '') throw missing(`${P}.deduplicationId`);
  const head = { deduplicationId, time: pbTimestamp(m.getTime(), `${P}.time`).time, ...deviceOf(deviceFromProtobuf(m.getDeviceInfo(), P, topic)) };
  const loc = m.getLocation();
  if (!loc) throw missing(L);
  return build(head, {
    latitude: loc.getLatitude(),
    longitude: loc.getLongitude(),
    altitude: loc.getAltitude(),
    // UNKNOWN (0) is what the JSON omits; a number the package does not know is kept as digits,
    // which the storage turns into UNKNOWN (src/storage/device-locations.ts).
    source: loc.getSource() === 0 ? undefined : enumName(SOURCES, loc.getSource()),
    accuracy: float32(loc.getAccuracy()),
  });
}

const dedupKey = (ev: LocationEvent) => `location:${ev.deduplicationId}`;

export const location: EventKind<LocationEvent, LocationMessage> = {
  event: 'location',
  messageName: 'LocationEvent',
  fromJson,
  decode: (bytes) => decodeMessage(P, 'LocationEvent', (b) => integrationPb.LocationEvent.deserializeBinary(b), bytes),
  fromMessage,
  dedupKey,
  async apply(c, items) {
    await writeDeviceLocations(c, items.map(({ ev, device, seenAt }) => ({
      deviceId: device.id,
      latitude: ev.latitude,
      longitude: ev.longitude,
      altitude: ev.altitude ?? null,
      source: ev.source,
      accuracy: ev.accuracy ?? null,
      // Never later than its reception: the stored location only moves forward in time, so a
      // time ahead of the clock would hold back the next fixes.
      at: seenAt,
    })));
  },
};
