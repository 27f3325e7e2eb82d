/**
 * Owns the embedded MQTT broker: aedes on a plain TCP server, for `npm start` without
 * MQTT_URL and for tests. Sessions live in aedes' in-memory persistence, so a restart of
 * this broker loses queued messages and subscriptions; production uses Mosquitto.
 *
 * It takes only known clients: a username and password from `identities`, checked in
 * constant time (src/mqtt/acl.ts), and each identity publishes and subscribes only within
 * its own topic filters. Anyone else gets CONNACK 5 "not authorized" (MQTT 3.1.1 §3.2.2.3;
 * aedes speaks 3.1.1 only). Packets over MQTT_MAX_PACKET_BYTES close their connection.
 */
import type { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from '../log.js';
import { PortInUseError } from '../net.js';
import { checkPassword, filterWithin, topicMatches, urlWithCredentials, type BrokerIdentity } from './acl.js';
import { MQTT_MAX_PACKET_BYTES, PacketSizeGuard } from './packet-size.js';

export interface EmbeddedBrokerOptions {
  /** TCP port; 0 lets the kernel pick a free one. */
  port: number;
  host?: string;
  log: Logger;
  /** The only clients admitted, each with its own topic filters (embeddedBrokerIdentities in src/mqtt/acl.ts). */
  identities: readonly BrokerIdentity[];
  /** Largest packet a client may send (default MQTT_MAX_PACKET_BYTES). */
  maxPacketBytes?: number;
}

export interface EmbeddedBroker {
  /** mqtt://host:port of the listening broker, without credentials. */
  url: string;
  port: number;
  /** mqtt://user:password@host:port for one of the identities. */
  urlFor(username: string): string;
  close(): Promise<void>;
}

/** MQTT 3.1.1 §3.2.2.3 Table 3.1: CONNACK return code 5. */
const NOT_AUTHORIZED = 5;

/** The variable a user changes when the embedded broker's port is taken (src/config.ts). */
const PORT_VARIABLE = 'MQTT_PORT';

export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const { log } = opts;
  const host = opts.host ?? '127.0.0.1';
  const identities = opts.identities;
  if (identities.length === 0) throw new Error('the embedded MQTT broker needs at least one identity');
  const maxPacketBytes = opts.maxPacketBytes ?? MQTT_MAX_PACKET_BYTES;
  /** The identity each authenticated client proved; a client absent here has none. */
  const identityOf = new WeakMap<Client, BrokerIdentity>();
  // aedes 1.x: creation is async because persistence is async (docs/MIGRATION.md).
  const aedes = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      const identity = checkPassword(identities, username, password);
      if (!identity) {
        log.warn({ clientId: client.id, username, remote: remoteOf(client) }, 'mqtt client refused: unknown user or wrong password');
        const err = Object.assign(new Error('not authorized'), { returnCode: NOT_AUTHORIZED }) as AuthenticateError;
        return done(err, false);
      }
      identityOf.set(client, identity);
      done(null, true);
    },
    // [MQTT-3.3.5-2]: a PUBLISH the server does not authorize is either acknowledged and
    // dropped or its connection closed; aedes closes it when this callback gets an error.
    authorizePublish(client, packet, done) {
      const identity = client ? identityOf.get(client) : undefined;
      if (identity && identity.publish.some((f) => topicMatches(f, packet.topic))) return done(null);
      log.warn({ clientId: client?.id, username: identity?.username, topic: packet.topic }, 'mqtt publish refused');
      done(new Error(`not authorized to publish to ${packet.topic}`));
    },
    // A refused filter is granted 0x80 "failure" in SUBACK [MQTT-3.9.3]; the connection stays.
    authorizeSubscribe(client, sub, done) {
      const identity = identityOf.get(client);
      if (identity && identity.subscribe.some((f) => filterWithin(f, sub.topic))) return done(null, sub);
      log.warn({ clientId: client.id, username: identity?.username, filter: sub.topic }, 'mqtt subscription refused');
      done(null, null);
    },
  });
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
    limitPacketSize(socket, new PacketSizeGuard(maxPacketBytes), log);
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
  const url = `mqtt://${host}:${port}`;
  return {
    url,
    port,
    urlFor(username) {
      const identity = identities.find((i) => i.username === username);
      if (!identity) throw new Error(`the embedded MQTT broker has no identity "${username}"`);
      return urlWithCredentials(url, identity.username, identity.password);
    },
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

/**
 * Closes a connection whose next packet declares more than the guard's limit, before
 * mqtt-packet buffers its body. aedes reads its socket only through read() on 'readable'
 * (lib/client.js nextBatch), so the check sits on read(): no extra stream, no copy, and
 * nothing on the write path that carries every delivery to subscribers.
 */
function limitPacketSize(socket: Socket, guard: PacketSizeGuard, log: Logger): void {
  const read = socket.read.bind(socket);
  socket.read = (size?: number) => {
    const chunk: unknown = read(size);
    if (!Buffer.isBuffer(chunk)) return chunk;
    const declared = guard.check(chunk);
    if (declared === null) return chunk;
    log.warn({ remote: socket.remoteAddress, declared, limit: guard.maxBytes }, 'mqtt packet too large; connection closed');
    socket.destroy();
    return null;
  };
}

function remoteOf(client: Client): string | undefined {
  return (client.conn as Partial<Socket> | undefined)?.remoteAddress;
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
