/**
 * Owns the embedded MQTT broker: aedes on a plain TCP server, for `npm start` without
 * MQTT_URL and for tests. Sessions live in aedes' in-memory persistence, so a restart of
 * this broker loses queued messages and subscriptions; production uses Mosquitto.
 */
import type { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import type { Logger } from '../log.js';
import { PortInUseError } from '../net.js';

export interface EmbeddedBrokerOptions {
  /** TCP port; 0 lets the kernel pick a free one. */
  port: number;
  host?: string;
  log: Logger;
}

export interface EmbeddedBroker {
  /** mqtt://host:port of the listening broker. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** The variable a user changes when the embedded broker's port is taken (src/config.ts). */
const PORT_VARIABLE = 'MQTT_PORT';

export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const { log } = opts;
  const host = opts.host ?? '127.0.0.1';
  // aedes 1.x: creation is async because persistence is async (docs/MIGRATION.md).
  const aedes = await Aedes.createBroker();
  // A misbehaving client is that client's problem: log it, never let it reach the process.
  aedes.on('clientError', (client, err) => log.debug({ clientId: client?.id, err: err.message }, 'mqtt client error'));
  aedes.on('connectionError', (client, err) => log.debug({ clientId: client?.id, err: err.message }, 'mqtt connection error'));
  // aedes emits 'error' on the broker for persistence failures (aedes.js), but its typings
  // omit the event; listen through the EventEmitter type so one never crashes the process.
  const emitter: EventEmitter = aedes;
  emitter.on('error', (err: unknown) => log.error({ err }, 'embedded mqtt broker error'));

  // aedes.close() disconnects MQTT clients, but a socket that never sent CONNECT is not
  // yet an aedes client; track sockets so close() never waits on one of those.
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', (err) => log.debug({ err: err.message }, 'mqtt socket error'));
    aedes.handle(socket);
  });

  try {
    await listen(server, opts.port, host);
  } catch (err) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new PortInUseError(opts.port, PORT_VARIABLE);
    throw err;
  }
  // After listen succeeded, a server error is logged rather than thrown from an event.
  server.on('error', (err) => log.error({ err }, 'embedded mqtt server error'));

  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  let closing: Promise<void> | null = null;
  return {
    url: `mqtt://${host}:${port}`,
    port,
    close() {
      closing ??= (async () => {
        // Stop accepting first, or a client reconnecting quickly lands on a closed broker.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
        for (const s of sockets) s.destroy();
        await closed;
      })();
      return closing;
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
