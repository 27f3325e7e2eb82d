/**
 * Owns the ingest process's MQTT connection: connect, subscribe, and acknowledge each
 * QoS 1/2 message only once the caller settles it, in the order the messages arrived.
 *
 * Why not mqtt.js: it sends a QoS 1 PUBACK as soon as its `handleMessage` callback runs
 * and hands over one message at a time, so holding the PUBACK until a database COMMIT
 * would serialise ingest to one message per transaction. This consumer speaks MQTT
 * through mqtt-packet (the parser/generator inside mqtt.js) and keeps every delivered
 * message unacknowledged until `settle()`; PUBACKs then go out for the longest settled
 * prefix, in arrival order [MQTT-4.6.0-2], batched into one socket write.
 *
 * Delivery is at least once: a message delivered but not settled when the connection
 * drops is redelivered by the broker on the persistent session, so consumers must
 * tolerate duplicates. Do not rely on DUP to find them: Mosquitto sets it on redelivery
 * [MQTT-3.3.1-1], aedes 1.2 does not.
 */
import { isIP, connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions as TlsOptions } from 'node:tls';
import {
  generate,
  parser as createParser,
  type IConnackPacket,
  type IDisconnectPacket,
  type IPublishPacket,
  type ISubackPacket,
  type ISubscription,
  type Packet,
  type Parser,
} from 'mqtt-packet';
import type { Logger } from '../src/log.js';
import { MQTT_CONSUMER_MAX_PACKET_BYTES, PacketSizeGuard } from '../src/mqtt/packet-size.js';

export type QoS = 0 | 1 | 2;

/** One delivered PUBLISH. `settle()` may be called detached (`const s = msg.settle; s()`). */
export interface ConsumerMessage {
  topic: string;
  payload: Buffer;
  qos: QoS;
  /** Set by the broker on a redelivery [MQTT-3.3.1-1]; the message may have been seen before. */
  dup: boolean;
  /** Date.now() when handed to onMessage (later than arrival if maxPending held it back). */
  receivedAt: number;
  /** Marks the message done. QoS 0: no-op. Message from an earlier connection: no-op. */
  settle(): void;
}

export interface ConsumerStats {
  /** Connections that reached "subscribed". */
  connects: number;
  /** Of those, the ones after the first. */
  reconnects: number;
  /** PUBLISH packets handed to onMessage (all QoS). */
  received: number;
  /** PUBACKs (QoS 1) and PUBRECs (QoS 2) sent. */
  acked: number;
  /** QoS 1/2 messages delivered on the current connection and not yet acknowledged. */
  pending: number;
}

export interface MqttConsumerOptions {
  /** mqtt://[user:pass@]host[:1883] or mqtts://… (TLS via node:tls). */
  url: string;
  clientId: string;
  /** Topic filters, each already carrying any `$share/<group>/` prefix. */
  filters: readonly string[];
  /** Subscription QoS (default 1). */
  qos?: QoS;
  /** Default false: a persistent session, so the broker queues while we are down. */
  cleanSession?: boolean;
  /** Default 30; 0 disables keep-alive. */
  keepaliveSeconds?: number;
  /** 4 = MQTT 3.1.1 (default), 5 = MQTT 5. */
  protocolVersion?: 4 | 5;
  /** MQTT 5 only: most unacknowledged QoS 1/2 messages the broker may send us [MQTT-3.3.4-9]. */
  receiveMaximum?: number;
  /** MQTT 5 only: session expiry interval; default never when cleanSession is false. */
  sessionExpirySeconds?: number;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Time allowed from starting the TCP/TLS connect to receiving CONNACK. */
  connectTimeoutMs?: number;
  /**
   * At most this many delivered QoS 1/2 messages unsettled at once: at the limit, delivery
   * stops and the socket is paused until settle() frees a slot. QoS 0 messages, which
   * need no settle, do not count. Default: no limit.
   */
  maxPending?: number;
  /** Extra TLS options (ca, cert, key, rejectUnauthorized) for mqtts://. */
  tls?: TlsOptions;
  /**
   * Largest packet accepted from the broker (default MQTT_CONSUMER_MAX_PACKET_BYTES); a larger one
   * ends the connection, which then reconnects. Sent as Maximum Packet Size on MQTT 5, so
   * such a broker drops the message for us instead [MQTT-3.1.2-24].
   */
  maxPacketBytes?: number;
  log: Logger;
  /** Called in arrival order. Must not throw; a throw drops the connection (redelivery). */
  onMessage(msg: ConsumerMessage): void;
  /** Called after CONNACK accepted and every subscription was granted. */
  onConnect?(info: { sessionPresent: boolean }): void;
  /** Called when a connection that reached onConnect ends; err is null after close(). */
  onDisconnect?(err: Error | null): void;
  /** Called for each connection attempt that failed before onConnect (refused CONNACK, refused subscription, network error). */
  onError?(err: Error): void;
}

/** A CONNACK that refused the connection; `code` is the 3.1.1 return code or MQTT 5 reason code. */
export class MqttConnackError extends Error {
  constructor(
    readonly code: number,
    readonly protocolVersion: 4 | 5,
  ) {
    super(`broker refused the connection: ${connackReason(code)} (code ${code})`);
    this.name = 'MqttConnackError';
  }
}

const DEFAULT_KEEPALIVE_SECONDS = 30;
const DEFAULT_RECONNECT_MIN_MS = 1_000;
const DEFAULT_RECONNECT_MAX_MS = 30_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** After DISCONNECT, how long close() waits for the broker to close the TCP connection. */
const CLOSE_TIMEOUT_MS = 2_000;
/** MQTT 5 §3.1.2.11.2: 0xFFFFFFFF means the session never expires, as in 3.1.1. */
const SESSION_EXPIRY_NEVER = 0xffff_ffff;
/** Keeps 2 ** attempt finite; the delay is capped by reconnectMaxMs long before this. */
const MAX_BACKOFF_EXPONENT = 30;
/** Compact the in-flight array once this many acknowledged entries sit at its front. */
const COMPACT_AFTER = 1_024;
const DEFAULT_PORTS: Record<string, number> = { 'mqtt:': 1883, 'mqtts:': 8883 };

/** MQTT 3.1.1 §3.2.2.3, Table 3.1: CONNACK return codes. */
const CONNACK_V4: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'client identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
};
/** MQTT 5 §3.2.2.2: CONNACK reason codes (the refusals a broker commonly sends). */
const CONNACK_V5: Record<number, string> = {
  0x80: 'unspecified error',
  0x81: 'malformed packet',
  0x82: 'protocol error',
  0x83: 'implementation specific error',
  0x84: 'unsupported protocol version',
  0x85: 'client identifier not valid',
  0x86: 'bad user name or password',
  0x87: 'not authorized',
  0x88: 'server unavailable',
  0x89: 'server busy',
  0x8a: 'banned',
  0x8c: 'bad authentication method',
  0x95: 'packet too large',
  0x97: 'quota exceeded',
  0x9c: 'use another server',
  0x9d: 'server moved',
  0x9f: 'connection rate exceeded',
};

function connackReason(code: number): string {
  // A broker that does not speak MQTT 5 answers a v5 CONNECT with a 3.1.1 CONNACK
  // carrying 0x01 [MQTT-3.1.2-2], so small codes are read from the 3.1.1 table.
  return CONNACK_V5[code] ?? CONNACK_V4[code] ?? 'unknown reason';
}

interface Inflight {
  id: number;
  qos: 1 | 2;
  settled: boolean;
}

/** Everything that belongs to one TCP connection and dies with it. */
interface Connection {
  socket: Socket;
  parser: Parser;
  /** Follows packet boundaries so an oversized one is refused before it is buffered. */
  sizeGuard: PacketSizeGuard;
  /** Delivered QoS 1/2 messages in arrival order; [head, length) are not yet acknowledged. */
  inflight: Inflight[];
  head: number;
  unsettled: number;
  /** PUBLISH packets parsed but held back while maxPending or pause() stops delivery. */
  backlog: IPublishPacket[];
  /** QoS 2 packet ids answered with PUBREC and awaiting PUBREL [MQTT-4.3.3-2]. */
  pubrecSent: Set<number>;
  accepted: boolean;
  sessionPresent: boolean;
  ready: boolean;
  /** Keep-alive in force on this connection (ours, or the MQTT 5 server's). */
  keepaliveMs: number;
  closed: boolean;
  readingPaused: boolean;
  flushScheduled: boolean;
  pingOutstanding: boolean;
  /** Reading was paused while a PINGREQ was outstanding, so its PINGRESP may be unread. */
  pausedDuringPing: boolean;
  error: Error | null;
  connectTimer: NodeJS.Timeout | null;
  keepaliveTimer: NodeJS.Timeout | null;
  closeTimer: NodeJS.Timeout | null;
  onClosed: (() => void)[];
}

export class MqttConsumer {
  private readonly opts: MqttConsumerOptions;
  private readonly log: Logger;
  private readonly host: string;
  private readonly port: number;
  private readonly secure: boolean;
  private readonly username: string | undefined;
  private readonly password: Buffer | undefined;
  private readonly version: 4 | 5;
  private readonly packetOpts: { protocolVersion: 4 | 5 };
  /** Broker address without credentials, for logs. */
  readonly broker: string;

  private conn: Connection | null = null;
  private started = false;
  private closing = false;
  private closePromise: Promise<void> | null = null;
  private userPaused = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly counters = { connects: 0, reconnects: 0, received: 0, acked: 0 };

  constructor(opts: MqttConsumerOptions) {
    const url = new URL(opts.url);
    const port = DEFAULT_PORTS[url.protocol];
    if (port === undefined) throw new Error(`MQTT url must start with mqtt:// or mqtts://, got ${url.protocol}//`);
    if (opts.filters.length === 0) throw new Error('MqttConsumer needs at least one topic filter');
    if (opts.maxPending !== undefined && !(opts.maxPending >= 1)) throw new Error('maxPending must be at least 1');
    this.opts = opts;
    this.log = opts.log;
    this.secure = url.protocol === 'mqtts:';
    // WHATWG URL keeps brackets around IPv6 literals; sockets want them bare.
    this.host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = url.port ? Number(url.port) : port;
    this.username = url.username ? decodeURIComponent(url.username) : undefined;
    this.password = url.password ? Buffer.from(decodeURIComponent(url.password)) : undefined;
    this.version = opts.protocolVersion ?? 4;
    this.packetOpts = { protocolVersion: this.version };
    this.broker = `${url.protocol}//${url.host}`;
  }

  /** True between onConnect and onDisconnect: connected and subscribed. */
  get connected(): boolean {
    return this.conn?.ready === true;
  }

  /** True while the socket is not being read (maxPending reached, pause(), close()). */
  get readingPaused(): boolean {
    return this.conn?.readingPaused === true;
  }

  get stats(): ConsumerStats {
    const c = this.conn;
    return { ...this.counters, pending: c && !c.closed ? c.inflight.length - c.head : 0 };
  }

  /** Connects, and reconnects until close(). */
  start(): void {
    if (this.started || this.closing) return;
    this.started = true;
    this.connect();
  }

  /** Stops delivering messages and reading the socket; settled messages are still acknowledged. */
  pause(): void {
    this.userPaused = true;
    if (this.conn) this.updateReading(this.conn);
  }

  resume(): void {
    this.userPaused = false;
    if (this.conn) this.scheduleFlush(this.conn);
  }

  /**
   * Acknowledges what is settled, sends DISCONNECT and ends the connection; no reconnect.
   * It deliberately does not UNSUBSCRIBE: the persistent session keeps the subscription,
   * so the broker queues whatever is published while we are down and nothing is lost.
   * Unsettled messages stay unacknowledged and are redelivered on the next connect.
   */
  close(): Promise<void> {
    this.closePromise ??= new Promise<void>((resolve) => {
      this.closing = true;
      if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
      const conn = this.conn;
      if (!conn || conn.closed) return resolve();
      conn.onClosed.push(resolve);
      if (!conn.accepted) return void conn.socket.destroy();
      this.writeAcks(conn);
      const disconnect: IDisconnectPacket = this.version === 5 ? { cmd: 'disconnect', reasonCode: 0 } : { cmd: 'disconnect' };
      conn.socket.end(generate(disconnect, this.packetOpts));
      // Keep reading (and discarding) so the broker's FIN is seen and 'close' fires;
      // destroying with unread data would send RST, which may discard our DISCONNECT.
      conn.socket.resume();
      conn.closeTimer = setTimeout(() => conn.socket.destroy(), CLOSE_TIMEOUT_MS);
    });
    return this.closePromise;
  }

  private connect(): void {
    this.reconnectTimer = null;
    if (this.closing) return;
    const socket = this.secure
      ? tlsConnect({ host: this.host, port: this.port, servername: isIP(this.host) ? undefined : this.host, ...this.opts.tls })
      : tcpConnect({ host: this.host, port: this.port });
    const conn: Connection = {
      socket,
      parser: createParser(this.packetOpts),
      sizeGuard: new PacketSizeGuard(this.opts.maxPacketBytes ?? MQTT_CONSUMER_MAX_PACKET_BYTES),
      inflight: [],
      head: 0,
      unsettled: 0,
      backlog: [],
      pubrecSent: new Set(),
      accepted: false,
      sessionPresent: false,
      ready: false,
      keepaliveMs: (this.opts.keepaliveSeconds ?? DEFAULT_KEEPALIVE_SECONDS) * 1000,
      closed: false,
      readingPaused: false,
      flushScheduled: false,
      pingOutstanding: false,
      pausedDuringPing: false,
      error: null,
      connectTimer: null,
      keepaliveTimer: null,
      closeTimer: null,
      onClosed: [],
    };
    this.conn = conn;
    // PUBACKs are already batched per write; Nagle would only add latency to them.
    socket.setNoDelay(true);
    // 'close' always follows 'error'; it owns the clean-up and the reconnect.
    socket.on('error', (err) => {
      conn.error ??= err;
    });
    socket.on('close', () => this.onSocketClose(conn));
    socket.once(this.secure ? 'secureConnect' : 'connect', () => this.onSocketConnect(conn));
    socket.on('data', (chunk: Buffer) => {
      if (conn.closed || this.closing) return; // after DISCONNECT: drain, deliver nothing
      const declared = conn.sizeGuard.check(chunk);
      if (declared !== null) {
        return this.fail(conn, new Error(`MQTT packet of ${declared} bytes from broker exceeds the ${conn.sizeGuard.maxBytes}-byte limit`));
      }
      try {
        conn.parser.parse(chunk);
      } catch (err) {
        this.fail(conn, toError(err));
      }
    });
    conn.parser.on('packet', (packet: Packet) => this.onPacket(conn, packet));
    // A malformed packet: the spec says close the connection [MQTT-4.8.0-1]; we reconnect.
    conn.parser.on('error', (err: unknown) => this.fail(conn, new Error(`malformed MQTT packet from broker: ${toError(err).message}`)));
    const timeoutMs = this.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    conn.connectTimer = setTimeout(() => this.fail(conn, new Error(`no CONNACK from ${this.broker} within ${timeoutMs} ms`)), timeoutMs);
  }

  private onSocketConnect(conn: Connection): void {
    const clean = this.opts.cleanSession ?? false;
    const properties: { sessionExpiryInterval?: number; receiveMaximum?: number; maximumPacketSize?: number } = {};
    if (this.version === 5) {
      properties.maximumPacketSize = this.opts.maxPacketBytes ?? MQTT_CONSUMER_MAX_PACKET_BYTES;
      // MQTT 5 ends a session at disconnect unless an expiry interval is set (§3.1.2.11.2),
      // which would throw away everything queued for us while we are down.
      if (!clean) properties.sessionExpiryInterval = this.opts.sessionExpirySeconds ?? SESSION_EXPIRY_NEVER;
      if (this.opts.receiveMaximum !== undefined) properties.receiveMaximum = this.opts.receiveMaximum;
    }
    this.write(conn, {
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: this.version,
      clientId: this.opts.clientId,
      clean,
      keepalive: this.opts.keepaliveSeconds ?? DEFAULT_KEEPALIVE_SECONDS,
      username: this.username,
      password: this.password,
      ...(this.version === 5 ? { properties } : {}),
    });
  }

  private onPacket(conn: Connection, packet: Packet): void {
    if (conn.closed) return;
    switch (packet.cmd) {
      case 'connack':
        return this.onConnack(conn, packet);
      case 'suback':
        return this.onSuback(conn, packet);
      case 'publish':
        if (conn.backlog.length > 0 || !this.mayDeliver(conn)) conn.backlog.push(packet);
        else this.deliver(conn, packet);
        return this.updateReading(conn);
      case 'pubrel':
        // QoS 2, second half: the broker released the id; complete it [MQTT-4.3.3-2].
        conn.pubrecSent.delete(packet.messageId ?? 0);
        return this.write(conn, { cmd: 'pubcomp', messageId: packet.messageId ?? 0 });
      case 'pingresp':
        conn.pingOutstanding = false;
        conn.pausedDuringPing = false;
        return;
      case 'disconnect':
        // MQTT 5 brokers say why they close (§3.14.2.1), e.g. session taken over.
        return this.fail(conn, new Error(`broker sent DISCONNECT (reason 0x${(packet.reasonCode ?? 0).toString(16)})`));
      default:
        // We never publish or unsubscribe, so PUBACK/PUBREC/PUBCOMP/UNSUBACK are unexpected.
        this.log.debug({ cmd: packet.cmd }, 'ignoring unexpected MQTT packet');
    }
  }

  private onConnack(conn: Connection, packet: IConnackPacket): void {
    if (conn.connectTimer) clearTimeout(conn.connectTimer);
    conn.connectTimer = null;
    const code = (this.version === 5 ? packet.reasonCode : packet.returnCode) ?? 0;
    if (code !== 0) {
      // Bad credentials or an ACL are operator errors: say so loudly, keep retrying with
      // backoff so the gateway recovers by itself once the broker side is fixed.
      const err = new MqttConnackError(code, this.version);
      this.log.error({ broker: this.broker, clientId: this.opts.clientId, code }, err.message);
      return this.fail(conn, err);
    }
    conn.accepted = true;
    // [MQTT-3.2.2-21]: an MQTT 5 broker may impose its own keep-alive.
    const serverKeepAlive = packet.properties?.serverKeepAlive;
    if (serverKeepAlive !== undefined) conn.keepaliveMs = serverKeepAlive * 1000;
    if (conn.keepaliveMs > 0) conn.keepaliveTimer = setInterval(() => this.onKeepaliveTick(conn), conn.keepaliveMs);
    conn.sessionPresent = packet.sessionPresent;
    // Subscribe after every connect, even with a session present: the broker may have
    // lost its state (aedes' memory persistence, a Mosquitto without persistence), and
    // re-subscribing an existing filter only replaces it [MQTT-3.8.4-3]. In 3.1.1 that
    // also resends retained messages; MQTT 5 retain handling 1 avoids it (§3.8.3.1).
    const qos = this.opts.qos ?? 1;
    const subscriptions: ISubscription[] = this.opts.filters.map((topic) => (this.version === 5 ? { topic, qos, rh: 1 } : { topic, qos }));
    this.write(conn, { cmd: 'subscribe', messageId: 1, subscriptions });
  }

  private onSuback(conn: Connection, packet: ISubackPacket): void {
    const granted = packet.granted as number[];
    // One code per filter, in filter order [MQTT-3.9.3-1]; a refusal is 0x80 in 3.1.1
    // and any reason code >= 0x80 in MQTT 5 (§3.9.3 in both).
    const refused = this.opts.filters.filter((_, i) => (granted[i] ?? 0x80) >= 0x80);
    if (refused.length > 0) {
      const err = new Error(`broker refused subscription to ${refused.join(', ')} (check the broker ACL)`);
      this.log.error({ broker: this.broker, clientId: this.opts.clientId, granted }, err.message);
      return this.fail(conn, err);
    }
    const wanted = this.opts.qos ?? 1;
    if (granted.some((g) => g < wanted)) this.log.warn({ granted, wanted }, 'broker granted a lower QoS than requested');
    conn.ready = true;
    this.attempt = 0;
    if (this.counters.connects > 0) this.counters.reconnects++;
    this.counters.connects++;
    this.log.info({ broker: this.broker, clientId: this.opts.clientId, sessionPresent: conn.sessionPresent, filters: this.opts.filters }, 'mqtt connected and subscribed');
    this.callHook(() => this.opts.onConnect?.({ sessionPresent: conn.sessionPresent }));
  }

  private mayDeliver(conn: Connection): boolean {
    const max = this.opts.maxPending;
    return !this.userPaused && !this.closing && (max === undefined || conn.unsettled < max);
  }

  private deliver(conn: Connection, packet: IPublishPacket): void {
    const { qos } = packet;
    let entry: Inflight | null = null;
    if (qos === 1 || qos === 2) {
      const id = packet.messageId ?? 0;
      if (qos === 2 && conn.pubrecSent.has(id)) {
        // A resent QoS 2 PUBLISH we already answered: acknowledge again, deliver once [MQTT-4.3.3-2].
        this.write(conn, { cmd: 'pubrec', messageId: id });
        return;
      }
      entry = { id, qos, settled: false };
      conn.inflight.push(entry);
      conn.unsettled++;
    }
    this.counters.received++;
    const settled = entry;
    const msg: ConsumerMessage = {
      topic: packet.topic,
      payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
      qos,
      dup: packet.dup,
      receivedAt: Date.now(),
      settle: settled ? () => this.settle(conn, settled) : noop,
    };
    try {
      this.opts.onMessage(msg);
    } catch (err) {
      // The handler did not take the message; dropping the connection gets it redelivered
      // instead of leaving it unacknowledged and blocking every PUBACK behind it.
      this.log.error({ err, topic: packet.topic }, 'onMessage threw; reconnecting so the broker redelivers');
      this.fail(conn, toError(err));
    }
  }

  private settle(conn: Connection, entry: Inflight): void {
    if (entry.settled) return;
    entry.settled = true;
    // A message from an earlier connection: its packet id belonged to that connection,
    // and the broker redelivers it on the persistent session, so there is nothing to ack.
    if (conn.closed || conn !== this.conn) return;
    conn.unsettled--;
    this.scheduleFlush(conn);
  }

  /** Defers the PUBACK write so that every settle() in this turn of the event loop shares it. */
  private scheduleFlush(conn: Connection): void {
    if (conn.flushScheduled) return;
    conn.flushScheduled = true;
    setImmediate(() => {
      conn.flushScheduled = false;
      if (conn.closed) return;
      this.writeAcks(conn);
      // Delivering from here, not from settle(), keeps onMessage from re-entering itself.
      while (conn.backlog.length > 0 && this.mayDeliver(conn) && !conn.closed) this.deliver(conn, conn.backlog.shift()!);
      this.updateReading(conn);
    });
  }

  /** Acknowledges the longest settled prefix, in arrival order [MQTT-4.6.0-2], in one write. */
  private writeAcks(conn: Connection): void {
    if (conn.closed || !conn.socket.writable) return;
    const acks: Buffer[] = [];
    const { inflight } = conn;
    while (conn.head < inflight.length && inflight[conn.head]!.settled) {
      const e = inflight[conn.head++]!;
      if (e.qos === 1) acks.push(generate({ cmd: 'puback', messageId: e.id }, this.packetOpts));
      else {
        // QoS 2: PUBREC in PUBLISH order too [MQTT-4.6.0-3]; PUBCOMP follows the broker's PUBREL.
        acks.push(generate({ cmd: 'pubrec', messageId: e.id }, this.packetOpts));
        conn.pubrecSent.add(e.id);
      }
    }
    if (conn.head >= COMPACT_AFTER && conn.head * 2 >= inflight.length) {
      inflight.splice(0, conn.head);
      conn.head = 0;
    }
    if (acks.length === 0) return;
    conn.socket.write(acks.length === 1 ? acks[0]! : Buffer.concat(acks));
    this.counters.acked += acks.length;
  }

  /**
   * Pauses the socket while delivery is held back (maxPending reached, pause(), close()),
   * so TCP flow control pushes back on a broker that sends without limit, as aedes does;
   * memory is then bounded by maxPending plus one socket read of parsed packets.
   */
  private updateReading(conn: Connection): void {
    if (conn.closed) return;
    const hold = conn.backlog.length > 0 || !this.mayDeliver(conn);
    if (hold && !conn.readingPaused) {
      conn.readingPaused = true;
      if (conn.pingOutstanding) conn.pausedDuringPing = true;
      conn.socket.pause();
      this.log.debug({ unsettled: conn.unsettled, backlog: conn.backlog.length }, 'mqtt reading paused');
    } else if (!hold && conn.readingPaused) {
      conn.readingPaused = false;
      conn.socket.resume();
      this.log.debug({ unsettled: conn.unsettled }, 'mqtt reading resumed');
    }
  }

  /**
   * One PINGREQ per keep-alive interval [MQTT-3.1.2-23]; no PINGRESP by the next tick
   * means a dead connection (half-open TCP never errors by itself). While we are not
   * reading, an unread PINGRESP proves nothing either way, so the check waits.
   */
  private onKeepaliveTick(conn: Connection): void {
    if (conn.closed) return;
    if (conn.pingOutstanding) {
      if (conn.readingPaused) return;
      if (conn.pausedDuringPing) {
        conn.pausedDuringPing = false; // reading resumed: give the PINGRESP one more interval
        return;
      }
      return this.fail(conn, new Error(`no PINGRESP within ${conn.keepaliveMs} ms; connection presumed dead`));
    }
    conn.pingOutstanding = true;
    conn.pausedDuringPing = conn.readingPaused;
    this.write(conn, { cmd: 'pingreq' });
  }

  private write(conn: Connection, packet: Packet): void {
    if (conn.closed || !conn.socket.writable) return;
    conn.socket.write(generate(packet, this.packetOpts));
  }

  /** Ends a connection because of err; 'close' then reconnects. */
  private fail(conn: Connection, err: Error): void {
    if (conn.closed) return;
    conn.error ??= err;
    conn.socket.destroy();
  }

  private onSocketClose(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    for (const t of [conn.connectTimer, conn.closeTimer]) if (t) clearTimeout(t);
    if (conn.keepaliveTimer) clearInterval(conn.keepaliveTimer);
    conn.parser.removeAllListeners('packet');
    if (this.conn === conn) this.conn = null;
    const err = conn.error ?? (this.closing ? null : new Error('connection closed by broker'));
    if (conn.ready) {
      if (err) this.log.warn({ broker: this.broker, err: err.message, unsettled: conn.unsettled }, 'mqtt connection lost');
      else this.log.info({ broker: this.broker }, 'mqtt disconnected');
      this.callHook(() => this.opts.onDisconnect?.(err));
    } else if (err) {
      if (!(err instanceof MqttConnackError)) this.log.warn({ broker: this.broker, err: err.message }, 'mqtt connection attempt failed');
      this.callHook(() => this.opts.onError?.(err));
    }
    for (const done of conn.onClosed.splice(0)) done();
    if (!this.closing) this.scheduleReconnect();
  }

  /**
   * Exponential backoff with "equal jitter": half the delay fixed, half random, so
   * replicas that lost the broker together do not all return in the same millisecond.
   */
  private scheduleReconnect(): void {
    const min = this.opts.reconnectMinMs ?? DEFAULT_RECONNECT_MIN_MS;
    const max = this.opts.reconnectMaxMs ?? DEFAULT_RECONNECT_MAX_MS;
    const base = Math.min(max, min * 2 ** Math.min(this.attempt, MAX_BACKOFF_EXPONENT));
    this.attempt++;
    const delayMs = base / 2 + (Math.random() * base) / 2;
    this.log.debug({ delayMs: Math.round(delayMs), attempt: this.attempt }, 'mqtt reconnect scheduled');
    this.reconnectTimer = setTimeout(() => this.connect(), delayMs);
  }

  /** Runs a user hook; its exceptions are logged, never thrown into a socket callback. */
  private callHook(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err }, 'mqtt consumer hook threw');
    }
  }
}

export function createMqttConsumer(opts: MqttConsumerOptions): MqttConsumer {
  const consumer = new MqttConsumer(opts);
  consumer.start();
  return consumer;
}

function noop(): void {}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
