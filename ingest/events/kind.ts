/**
 * Owns the shape every event-kind module has (ingest/events/<kind>.ts), so that adding a
 * ChirpStack event kind is one file and one row in ingest/events/index.ts.
 */
import type { DeviceInfo } from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import type { Queryable } from '../../src/db/pool.js';
import type { RoutedDevice } from '../../src/storage/ingest-devices.js';
import type { TopicMatch } from '../chirpstack.js';
import type { Obj } from './proto3-json.js';

/** What every decoded protobuf event message offers: its DeviceInfo. */
export interface EventMessage {
  getDeviceInfo(): DeviceInfo | undefined;
}

/** One admitted event of a registered device, as ingest/apply.ts hands it to its kind. */
export interface DeviceItem<E> {
  ev: E;
  device: RoutedDevice;
  tenantId: string;
  /** When the device was last heard by this event: its time, never later than its reception (ingest/apply.ts seenAt). */
  seenAt: Date;
}

export interface EventKind<E extends { kind: string }, M extends EventMessage = EventMessage> {
  /** The kind as ChirpStack names it: the topic's {event}, the HTTP integration's `?event=`. */
  event: string;
  /** The integration.proto message, for messages. */
  messageName: string;
  /** Reads the JSON form (proto3 JSON mapping); throws EventParseError. */
  fromJson(root: Obj, topic: TopicMatch): E;
  /** Decodes the protobuf form with the package's message (throws EventParseError `bad_protobuf`). */
  decode(bytes: Uint8Array): M;
  /** Reads a decoded message into the same event as its JSON gives; throws EventParseError. */
  fromMessage(msg: M, topic: TopicMatch): E;
  /** What makes a redelivery of this event the same event; null: none, every copy counts. */
  dedupKey(ev: E): string | null;
  /**
   * What a batch's events of this kind (one tenant's, admitted, in arrival order) do to their
   * devices; runs in the batch's transaction under that tenant. Absent: the kind is not
   * applied here (`up` is the batch's own business, ingest/apply.ts) or only counted.
   */
  apply?(c: Queryable, items: DeviceItem<E>[]): Promise<void>;
}
