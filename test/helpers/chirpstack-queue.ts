/**
 * A stand-in for ChirpStack's device queue behind its gRPC API (the one system outside
 * baygate), served here over a real gRPC round trip from @chirpstack/chirpstack-api's
 * DeviceService definition, as test/integration/chirpstack-sync.test.ts serves List.
 *
 * DeviceService.Enqueue behaves as chirpstack/src/api/device.rs `enqueue` does: the API key
 * is checked; with flush_queue the device's items not yet sent (not pending) are deleted
 * first (`device_queue::flush_non_pending_for_dev_eui`); the item gets a new random id (a
 * client-sent id is ignored), which the response returns. Tests mark items sent (`send`) to
 * play the network server taking one for transmission.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Test } from 'tap';
import { DeviceServiceService } from '@chirpstack/chirpstack-api/api/device_grpc_pb.js';
import devicePb from '@chirpstack/chirpstack-api/api/device_pb.js';

export interface EnqueueCall {
  key: string | null;
  flushQueue: boolean;
  devEui: string;
  confirmed: boolean;
  fPort: number;
  data: Buffer;
  expiresAt: Date | null;
  /** The id the request carried (ChirpStack ignores it). */
  requestId: string;
  /** The id ChirpStack answered with. */
  id: string;
}

export interface QueueItem {
  id: string;
  data: Buffer;
  expiresAt: Date | null;
  /** Sent and awaiting its ack: flush_queue leaves it. */
  pending: boolean;
}

export interface FakeChirpstackQueue {
  /** host:port, for CHIRPSTACK_API_URL. */
  url: string;
  calls: EnqueueCall[];
  /** The device's queue as ChirpStack holds it, oldest first. */
  queue(devEui: string): QueueItem[];
  /** Plays the network server sending the device's first item: it becomes pending. */
  send(devEui: string): QueueItem | undefined;
  /** Plays the device acknowledging an item: ChirpStack deletes it from the queue. */
  acknowledged(devEui: string, id: string): void;
  /** The next Enqueue calls fail with this status (UNAVAILABLE: as if ChirpStack were down). */
  failNext(code: grpc.status, times?: number): void;
}

function bearer(metadata: grpc.Metadata): string | null {
  const h = metadata.get('authorization')[0];
  return typeof h === 'string' && h.startsWith('Bearer ') ? h.slice('Bearer '.length) : null;
}

/** `keys`: the API keys ChirpStack accepts; any other is UNAUTHENTICATED. */
export async function fakeChirpstackQueue(t: Test, keys: string[]): Promise<FakeChirpstackQueue> {
  const queues = new Map<string, QueueItem[]>();
  const calls: EnqueueCall[] = [];
  let failures: { code: grpc.status; times: number } | null = null;
  const queueOf = (devEui: string) => {
    let q = queues.get(devEui.toLowerCase());
    if (!q) queues.set(devEui.toLowerCase(), (q = []));
    return q;
  };

  const enqueue: grpc.handleUnaryCall<InstanceType<typeof devicePb.EnqueueDeviceQueueItemRequest>, InstanceType<typeof devicePb.EnqueueDeviceQueueItemResponse>> = (call, callback) => {
    const fail = (code: grpc.status, details: string) => callback(Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() }));
    if (failures && failures.times > 0) {
      failures.times--;
      fail(failures.code, 'injected failure');
      return;
    }
    const key = bearer(call.metadata);
    if (key === null || !keys.includes(key)) {
      fail(grpc.status.UNAUTHENTICATED, 'authentication failed: invalid token');
      return;
    }
    const qi = call.request.getQueueItem();
    if (!qi) {
      fail(grpc.status.INVALID_ARGUMENT, 'queue_item is missing');
      return;
    }
    const devEui = qi.getDevEui();
    if (!/^[0-9a-fA-F]{16}$/.test(devEui)) {
      fail(grpc.status.INVALID_ARGUMENT, 'invalid EUI64');
      return;
    }
    const q = queueOf(devEui);
    if (call.request.getFlushQueue()) q.splice(0, q.length, ...q.filter((i) => i.pending));
    const expires = qi.getExpiresAt();
    const item: QueueItem = { id: randomUUID(), data: Buffer.from(qi.getData_asU8()), expiresAt: expires ? expires.toDate() : null, pending: false };
    q.push(item);
    calls.push({
      key, flushQueue: call.request.getFlushQueue(), devEui, confirmed: qi.getConfirmed(), fPort: qi.getFPort(),
      data: item.data, expiresAt: item.expiresAt, requestId: qi.getId(), id: item.id,
    });
    const res = new devicePb.EnqueueDeviceQueueItemResponse();
    res.setId(item.id);
    callback(null, res);
  };

  const server = new grpc.Server();
  // Only Enqueue is served; grpc-js answers UNIMPLEMENTED for the rest.
  server.addService(DeviceServiceService, { enqueue } as unknown as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  t.teardown(() => new Promise<void>((r) => server.tryShutdown(() => r())));
  return {
    url: `127.0.0.1:${port}`,
    calls,
    queue: (devEui) => [...queueOf(devEui)],
    send(devEui) {
      const item = queueOf(devEui).find((i) => !i.pending);
      if (item) item.pending = true;
      return item;
    },
    acknowledged(devEui, id) {
      const q = queueOf(devEui);
      const i = q.findIndex((x) => x.id === id);
      if (i >= 0) q.splice(i, 1);
    },
    failNext(code, times = 1) {
      failures = { code, times };
    },
  };
}
