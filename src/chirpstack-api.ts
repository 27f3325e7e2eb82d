/**
 * Owns baygate's client of ChirpStack v4's gRPC API (DeviceService and ApplicationService,
 * from @chirpstack/chirpstack-api's generated code): lists the devices of an application,
 * page by page, as plain objects (the sync job), and asks whether a key may read an
 * application (the API, before a tenant's mapping is stored). Authentication is ChirpStack's
 * API key, sent as `authorization: Bearer <key>` metadata on every call (ChirpStack docs,
 * "gRPC API: API authentication"); the key never leaves this module's metadata.
 *
 * Shared by both processes, hence in src/: ingest syncs, the API checks mappings.
 */
import * as grpc from '@grpc/grpc-js';
import { DeviceServiceClient } from '@chirpstack/chirpstack-api/api/device_grpc_pb.js';
import devicePb from '@chirpstack/chirpstack-api/api/device_pb.js';
import { ApplicationServiceClient } from '@chirpstack/chirpstack-api/api/application_grpc_pb.js';
import applicationPb from '@chirpstack/chirpstack-api/api/application_pb.js';
import timestampPb from 'google-protobuf/google/protobuf/timestamp_pb.js';

/** Devices asked for per List call; ChirpStack's own web interface pages by tens to hundreds. */
export const LIST_PAGE_SIZE = 100;
/** Longest one List call may take before the sync run gives up on ChirpStack. */
export const CALL_DEADLINE_MS = 30_000;
/** Devices read from one application at most: guards the loop against a total_count that keeps growing. */
const MAX_DEVICES_PER_APPLICATION = 100_000;

/** A device as ChirpStack's DeviceService.List describes it (api/device.proto DeviceListItem). */
export interface ChirpstackDevice {
  /** Uppercase hex, as baygate stores DevEUIs. */
  devEui: string;
  name: string | null;
  description: string | null;
  deviceProfileName: string | null;
  lastSeenAt: Date | null;
  /** Percent; null when ChirpStack has no device status or says -1 ("not available"). */
  battery: number | null;
}

/** Longest ApplicationService.Get may take: an admin waits on it in PUT /tenants/current/chirpstack. */
export const CHECK_DEADLINE_MS = 10_000;

/**
 * What ApplicationService.Get said of one application under one key: `ok`; `not_found` (no
 * such application, NOT_FOUND); `refused` (the key is not valid, UNAUTHENTICATED, or may not
 * read it, PERMISSION_DENIED: what ChirpStack answers a tenant key for another tenant's
 * application). Anything else (unreachable, deadline, internal) throws ChirpstackUnavailableError.
 */
export type ApplicationAccess = 'ok' | 'not_found' | 'refused';

/** ChirpStack could not answer: the caller cannot tell whether the key is good. */
export class ChirpstackUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChirpstackUnavailableError';
  }
}

/**
 * Longest DeviceService.Enqueue may take: the display sender holds its row's lock meanwhile,
 * as it does for an MQTT publish (ingest/displays.ts PUBLISH_TIMEOUT_MS).
 */
export const ENQUEUE_DEADLINE_MS = 5_000;

/** One downlink for DeviceService.Enqueue (api/device.proto DeviceQueueItem). */
export interface QueueItem {
  devEui: string;
  confirmed: boolean;
  fPort: number;
  data: Buffer;
  /** DeviceQueueItem.expires_at: ChirpStack drops the item if it is not sent by then. */
  expiresAt: Date;
}

/** ChirpStack answered, and refused the call (NOT_FOUND, PERMISSION_DENIED, INVALID_ARGUMENT, ...). */
export class ChirpstackRefusedError extends Error {
  constructor(message: string, readonly code: grpc.status) {
    super(message);
    this.name = 'ChirpstackRefusedError';
  }
}

export interface ChirpstackApi {
  listDevices(applicationId: string): Promise<ChirpstackDevice[]>;
  checkApplication(applicationId: string): Promise<ApplicationAccess>;
  /**
   * DeviceService.Enqueue; resolves to the queue item id ChirpStack chose, which its
   * txack/ack/log events carry. With flushQueue, ChirpStack first deletes the device's items
   * not yet sent (`flush_non_pending_for_dev_eui`, chirpstack/src/api/device.rs; chirpstack#892,
   * PR #897); one sent and awaiting its ack stays. Rejects with ChirpstackRefusedError when
   * ChirpStack refused the call, ChirpstackUnavailableError when it did not answer.
   */
  enqueue(item: QueueItem, opts: { flushQueue: boolean }): Promise<string>;
  close(): void;
}

/**
 * `host:port` → plaintext; `http://host:port` → plaintext; `https://host:port` → TLS with
 * the system's CAs (port 443 when none is given). ChirpStack serves gRPC and its REST
 * gateway on one port (`[api] bind`, default 0.0.0.0:8080).
 */
export function grpcTarget(url: string): { address: string; tls: boolean } {
  const m = /^(https?):\/\/([^/]+)\/?$/i.exec(url);
  if (!m) return { address: url, tls: false };
  const tls = m[1]!.toLowerCase() === 'https';
  const host = m[2]!;
  const hasPort = /:\d+$/.test(host);
  return { address: hasPort ? host : `${host}:${tls ? 443 : 80}`, tls };
}

/**
 * gRPC codes that say ChirpStack could not answer the call now, as against refusing it
 * (https://grpc.github.io/grpc/core/md_doc_statuscodes.html); INTERNAL and UNKNOWN are what a
 * failing database or proxy behind it gives.
 */
const UNAVAILABLE_CODES = new Set<grpc.status>([
  grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.CANCELLED, grpc.status.UNKNOWN,
  grpc.status.INTERNAL, grpc.status.RESOURCE_EXHAUSTED,
]);

function emptyToNull(s: string): string | null {
  return s === '' ? null : s;
}

function toDevice(item: InstanceType<typeof devicePb.DeviceListItem>): ChirpstackDevice {
  const status = item.getDeviceStatus();
  const level = status?.getBatteryLevel();
  const seen = item.getLastSeenAt();
  return {
    devEui: item.getDevEui().toUpperCase(),
    name: emptyToNull(item.getName()),
    description: emptyToNull(item.getDescription()),
    deviceProfileName: emptyToNull(item.getDeviceProfileName()),
    lastSeenAt: seen ? seen.toDate() : null,
    battery: level === undefined || level < 0 ? null : Math.min(100, level),
  };
}

export function createChirpstackApi(url: string, token: string): ChirpstackApi {
  const { address, tls } = grpcTarget(url);
  const credentials = tls ? grpc.credentials.createSsl() : grpc.credentials.createInsecure();
  const client = new DeviceServiceClient(address, credentials);
  // Its own channel, opened on its first call (grpc-js connects lazily): the sync job never opens it.
  let applications: ApplicationServiceClient | null = null;
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);

  const listPage = (applicationId: string, offset: number) =>
    new Promise<InstanceType<typeof devicePb.ListDevicesResponse>>((resolve, reject) => {
      const req = new devicePb.ListDevicesRequest();
      req.setApplicationId(applicationId);
      req.setLimit(LIST_PAGE_SIZE);
      req.setOffset(offset);
      client.list(req, metadata, { deadline: Date.now() + CALL_DEADLINE_MS }, (err, res) => {
        if (err || !res) reject(new Error(`ChirpStack DeviceService.List (application ${applicationId}): ${err ? err.details || err.message : 'no response'}`));
        else resolve(res);
      });
    });

  return {
    async listDevices(applicationId) {
      const devices: ChirpstackDevice[] = [];
      for (;;) {
        const page = await listPage(applicationId, devices.length);
        const items = page.getResultList();
        devices.push(...items.map(toDevice));
        if (items.length === 0 || devices.length >= page.getTotalCount() || devices.length >= MAX_DEVICES_PER_APPLICATION) break;
      }
      return devices;
    },
    checkApplication(applicationId) {
      applications ??= new ApplicationServiceClient(address, credentials);
      const req = new applicationPb.GetApplicationRequest();
      req.setId(applicationId);
      return new Promise((resolve, reject) => {
        applications!.get(req, metadata, { deadline: Date.now() + CHECK_DEADLINE_MS }, (err) => {
          if (!err) resolve('ok');
          else if (err.code === grpc.status.NOT_FOUND) resolve('not_found');
          else if (err.code === grpc.status.UNAUTHENTICATED || err.code === grpc.status.PERMISSION_DENIED) resolve('refused');
          else reject(new ChirpstackUnavailableError(`ChirpStack ApplicationService.Get: ${err.details || err.message}`));
        });
      });
    },
    enqueue(item, { flushQueue }) {
      const qi = new devicePb.DeviceQueueItem();
      // ChirpStack parses an EUI64 from hex in either case; lowercase, as it writes them.
      qi.setDevEui(item.devEui.toLowerCase());
      qi.setConfirmed(item.confirmed);
      qi.setFPort(item.fPort);
      qi.setData(new Uint8Array(item.data));
      qi.setExpiresAt(timestampPb.Timestamp.fromDate(item.expiresAt));
      const req = new devicePb.EnqueueDeviceQueueItemRequest();
      req.setQueueItem(qi);
      req.setFlushQueue(flushQueue);
      return new Promise((resolve, reject) => {
        client.enqueue(req, metadata, { deadline: Date.now() + ENQUEUE_DEADLINE_MS }, (err, res) => {
          const what = `ChirpStack DeviceService.Enqueue (device ${item.devEui.toLowerCase()})`;
          if (!err && res && res.getId() !== '') resolve(res.getId());
          else if (!err) reject(new ChirpstackUnavailableError(`${what}: no queue item id in the response`));
          else if (UNAVAILABLE_CODES.has(err.code)) reject(new ChirpstackUnavailableError(`${what}: ${err.details || err.message}`));
          else reject(new ChirpstackRefusedError(`${what}: ${grpc.status[err.code] ?? err.code}: ${err.details || err.message}`, err.code));
        });
      });
    },
    close: () => {
      client.close();
      applications?.close();
    },
  };
}
