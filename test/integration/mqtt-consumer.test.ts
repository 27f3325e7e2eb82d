// MqttConsumer (ingest/mqtt.ts) against real brokers: the embedded aedes always, and the
// broker at MQTT_URL (Mosquitto in CI) as well when it is set. Acknowledgement is observed
// the way it matters: what the broker redelivers after the connection drops.
import t from 'tap';
import type { Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Socket } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { MqttConnackError, MqttConsumer, type ConsumerMessage, type MqttConsumerOptions } from '../../ingest/mqtt.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/mqtt/broker.js';
import { createLogger } from '../../src/log.js';
import { PortInUseError } from '../../src/net.js';
import { waitFor } from '../helpers/wait.js';
import { allTopicsIdentity } from '../helpers/mqtt.js';

const log = createLogger(process.env.LOG_LEVEL ?? 'silent', 'test-mqtt-consumer');
/** Reconnects fast in tests; production defaults are 1 s to 30 s. */
const RECONNECT = { reconnectMinMs: 20, reconnectMaxMs: 200 };

// One prefix per run, one topic and client id per test: parallel runs on a shared
// Mosquitto never see each other's messages or take over each other's sessions.
const run = randomBytes(4).toString('hex');
let seq = 0;
const uniq = (what: string) => `bgt-${run}-${what}-${++seq}`;

/**
 * Client ids that may have left a persistent session behind, removed from the external
 * broker at the end (ids only ever used on aedes cost one no-op clean CONNECT there).
 */
const sessions = new Set<string>();

/** A clean-session CONNECT discards a client's stored session [MQTT-3.1.2-6]. */
async function dropSessions(url: string): Promise<void> {
  for (const clientId of sessions) {
    const c = await mqtt.connectAsync(url, { clientId, clean: true, reconnectPeriod: 0 });
    await c.endAsync();
  }
}

const texts = (msgs: ConsumerMessage[]) => msgs.map((m) => m.payload.toString());
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => String(from + i));
/** Lets the consumer's deferred PUBACK flush (setImmediate) run. */
const flushTurns = async () => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};

/**
 * Ends a consumer the orderly way and starts another with the same client id: close()
 * returns only after the broker has closed the connection, so it has processed every
 * acknowledgement sent before our DISCONNECT. (After a cut, acks still in flight may be
 * lost, and redelivering those is correct, so a cut cannot show that nothing comes back.)
 */
async function reconnectFresh(t: Test, url: string, c: Consumed, opts: Partial<MqttConsumerOptions> & Pick<MqttConsumerOptions, 'clientId' | 'filters'>): Promise<Consumed> {
  await c.consumer.close();
  const next = consume(t, url, opts);
  await waitFor(() => next.consumer.connected, 10_000, 'reconnected');
  return next;
}

interface Consumed {
  consumer: MqttConsumer;
  messages: ConsumerMessage[];
  errors: Error[];
  /** Most messages ever delivered and unsettled at once. */
  maxUnsettled: () => number;
}

function consume(t: Test, url: string, opts: Partial<MqttConsumerOptions> & Pick<MqttConsumerOptions, 'clientId' | 'filters'>): Consumed {
  const messages: ConsumerMessage[] = [];
  const errors: Error[] = [];
  let unsettled = 0;
  let maxUnsettled = 0;
  const consumer = new MqttConsumer({
    url,
    log,
    ...RECONNECT,
    ...opts,
    onMessage: (m) => {
      // Wrap settle to count what is outstanding, as the ingest pipeline would see it.
      if (m.qos > 0) {
        unsettled++;
        maxUnsettled = Math.max(maxUnsettled, unsettled);
        const settle = m.settle;
        let done = false;
        m.settle = () => {
          if (!done) unsettled--;
          done = true;
          settle();
        };
      }
      messages.push(m);
      opts.onMessage?.(m);
    },
    onError: (err) => {
      errors.push(err);
      opts.onError?.(err);
    },
    onDisconnect: (err) => {
      unsettled = 0; // those messages now belong to the broker again
      opts.onDisconnect?.(err);
    },
  });
  if (!opts.cleanSession) sessions.add(opts.clientId);
  consumer.start();
  t.teardown(() => consumer.close());
  return { consumer, messages, errors, maxUnsettled: () => maxUnsettled };
}

async function publisher(t: Test, url: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { clientId: uniq('pub'), reconnectPeriod: 100 });
  t.teardown(() => client.endAsync());
  return client;
}

function publish(pub: MqttClient, topic: string, payloads: string[], qos: 0 | 1 = 1): Promise<unknown> {
  return Promise.all(payloads.map((p) => pub.publishAsync(topic, p, { qos })));
}

/** A TCP relay in front of the broker; cut() drops every connection as a network failure would. */
async function startProxy(t: Test, brokerUrl: string): Promise<{ url: string; cut(): void }> {
  const target = new URL(brokerUrl);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 1883), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {}); // a cut connection errors; that is the point
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  server.on('error', (err) => log.error({ err }, 'test proxy error'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cut = () => {
    for (const s of sockets) s.destroy();
  };
  t.teardown(() => {
    cut();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const auth = target.username ? `${target.username}:${target.password}@` : '';
  return { url: `mqtt://${auth}127.0.0.1:${port}`, cut };
}

/** The tests every broker must pass. */
function brokerSuite(t: Test, url: string, external: boolean): void {
  t.test('delivers QoS 1 messages in publish order and acknowledges each once settled', async (t) => {
    const topic = uniq('order');
    // Settled on arrival: Mosquitto sends at most max_inflight_messages (default 20)
    // unacknowledged messages, so holding all 200 would stall it.
    const c = consume(t, url, { clientId: uniq('sub'), filters: [topic], onMessage: (m) => m.settle() });
    await waitFor(() => c.consumer.connected, 5_000, 'connected');
    t.ok(c.consumer.stats.connects === 1 && c.consumer.stats.reconnects === 0, 'one connect, no reconnect');
    const pub = await publisher(t, url);
    const sent = range(0, 200);
    await publish(pub, topic, sent);
    await waitFor(() => c.messages.length === sent.length, 10_000, 'all delivered');
    t.same(texts(c.messages), sent, 'arrival order is publish order');
    t.ok(c.messages.every((m) => m.topic === topic && m.qos === 1 && !m.dup && m.receivedAt > 0), 'message fields');
    await waitFor(() => c.consumer.stats.acked === sent.length, 5_000, 'all acknowledged');
    t.match(c.consumer.stats, { received: sent.length, acked: sent.length, pending: 0 });
  });

  t.test('withholds PUBACK until settle: unsettled messages come back after a dropped connection', async (t) => {
    const proxy = await startProxy(t, url);
    const topic = uniq('withhold');
    const opts = { clientId: uniq('sub'), filters: [topic], cleanSession: false };
    const c = consume(t, proxy.url, opts);
    await waitFor(() => c.consumer.connected, 5_000, 'connected');
    const pub = await publisher(t, url);
    const sent = range(0, 20); // within Mosquitto's default max_inflight_messages (20)
    await publish(pub, topic, sent);
    await waitFor(() => c.messages.length === sent.length, 5_000, 'first delivery');
    const first = c.messages.splice(0);
    await flushTurns();
    t.equal(c.consumer.stats.acked, 0, 'no PUBACK without settle');

    proxy.cut();
    await waitFor(() => c.consumer.stats.reconnects === 1 && c.messages.length === sent.length, 10_000, 'redelivery');
    t.same(texts(c.messages), sent, 'every unsettled message redelivered, in order');
    // aedes 1.2 resends the stored packet as it was first sent, DUP clear (lib/handlers/
    // connect.js emptyQueue), against [MQTT-3.3.1-1]; Mosquitto sets it. Nothing may rely on DUP.
    if (external) t.ok(c.messages.every((m) => m.dup), 'redeliveries carry DUP [MQTT-3.3.1-1]');

    // Settling a message from the dead connection must not acknowledge anything on this one.
    for (const m of first) m.settle();
    await flushTurns();
    t.equal(c.consumer.stats.acked, 0, 'settle() of an earlier connection is a no-op');
    t.equal(c.consumer.stats.pending, sent.length);

    for (const m of c.messages.splice(0)) m.settle();
    await waitFor(() => c.consumer.stats.acked === sent.length, 5_000, 'acknowledged');

    const d = await reconnectFresh(t, url, c, opts);
    t.same(d.messages, [], 'nothing redelivered by the time the session resumed');
    // The broker sends a session's queued messages before anything published later.
    await publish(pub, topic, ['sentinel']);
    await waitFor(() => d.messages.length > 0, 5_000, 'sentinel');
    t.same(texts(d.messages), ['sentinel'], 'nothing settled is redelivered');
  });

  t.test('settling out of order acknowledges only the settled prefix', async (t) => {
    const topic = uniq('prefix');
    const opts = { clientId: uniq('sub'), filters: [topic] };
    const c = consume(t, url, opts);
    await waitFor(() => c.consumer.connected, 5_000, 'connected');
    const pub = await publisher(t, url);
    await publish(pub, topic, range(0, 5));
    await waitFor(() => c.messages.length === 5, 5_000, 'delivered');
    const [m0, m1, m2] = c.messages.splice(0);
    m1!.settle();
    m2!.settle();
    await flushTurns();
    t.equal(c.consumer.stats.acked, 0, 'a settled message behind an unsettled one waits [MQTT-4.6.0-2]');
    m0!.settle();
    await waitFor(() => c.consumer.stats.acked === 3, 5_000, 'prefix acknowledged');
    await flushTurns();
    t.equal(c.consumer.stats.acked, 3, 'only the prefix');
    t.equal(c.consumer.stats.pending, 2);

    const d = await reconnectFresh(t, url, c, opts);
    await waitFor(() => d.messages.length === 2, 10_000, 'redelivery');
    t.same(texts(d.messages), ['3', '4'], 'only the unacknowledged tail comes back');
  });

  t.test('QoS 0 messages need no settle', async (t) => {
    const topic = uniq('qos0');
    const c = consume(t, url, { clientId: uniq('sub'), filters: [topic] });
    await waitFor(() => c.consumer.connected, 5_000, 'connected');
    const pub = await publisher(t, url);
    await publish(pub, topic, ['a', 'b'], 0);
    await publish(pub, topic, ['c'], 1);
    await waitFor(() => c.messages.length === 3, 5_000, 'delivered');
    t.same(c.messages.map((m) => [m.payload.toString(), m.qos]), [['a', 0], ['b', 0], ['c', 1]]);
    t.equal(c.consumer.stats.pending, 1, 'only the QoS 1 message is pending');
    c.messages[2]!.settle(); // the QoS 0 ones are never settled
    await waitFor(() => c.consumer.stats.acked === 1, 5_000, 'QoS 1 acknowledged');
    t.equal(c.consumer.stats.pending, 0, 'unsettled QoS 0 messages do not block acknowledgement');
    c.messages[0]!.settle(); // harmless
    await flushTurns();
    t.equal(c.consumer.stats.acked, 1);
  });

  t.test('QoS 2 deliveries follow the same settle rule (PUBREC after settle)', async (t) => {
    const proxy = await startProxy(t, url);
    const topic = uniq('qos2');
    const opts = { clientId: uniq('sub'), filters: [topic], qos: 2 as const };
    const c = consume(t, proxy.url, opts);
    await waitFor(() => c.consumer.connected, 5_000, 'connected');
    const pub = await publisher(t, url);
    await Promise.all(['0', '1', '2'].map((p) => pub.publishAsync(topic, p, { qos: 2 })));
    await waitFor(() => c.messages.length === 3, 5_000, 'delivered');
    t.same(c.messages.map((m) => m.qos), [2, 2, 2]);
    await flushTurns();
    t.equal(c.consumer.stats.acked, 0, 'no PUBREC without settle');
    c.messages.splice(0);
    proxy.cut();
    await waitFor(() => c.consumer.stats.reconnects === 1 && c.messages.length === 3, 10_000, 'redelivery');
    t.same(texts(c.messages), ['0', '1', '2'], 'unsettled QoS 2 messages come back');
    c.messages[0]!.settle();
    await waitFor(() => c.consumer.stats.acked === 1, 5_000, 'PUBREC for the settled one');
    // The broker now holds a PUBREL for '0' (sent on the next connection) and PUBLISHes for the rest.
    const d = await reconnectFresh(t, url, c, opts);
    await waitFor(() => d.messages.length === 2, 10_000, 'redelivery');
    t.same(texts(d.messages), ['1', '2'], 'the settled one is not redelivered');
    for (const m of d.messages) m.settle();
    await waitFor(() => d.consumer.stats.acked === 2, 5_000, 'PUBREC sent');
    const e = await reconnectFresh(t, url, d, opts);
    await pub.publishAsync(topic, 'sentinel', { qos: 2 });
    await waitFor(() => e.messages.length > 0, 5_000, 'sentinel');
    t.same(texts(e.messages), ['sentinel'], 'nothing settled is redelivered');
  });

  t.test('maxPending stops reading until messages are settled', async (t) => {
    const topic = uniq('maxpending');
    const maxPending = 10;
    const c = consume(t, url, { clientId: uniq('sub'), filters: [topic], maxPending });
    await waitFor(() => c.consumer.connected, 5_000, 'connected');
    const pub = await publisher(t, url);
    const sent = range(0, 100);
    // The broker acknowledges the publisher regardless of us, so once this resolves the
    // broker has had every message to send.
    await publish(pub, topic, sent);
    await waitFor(() => c.messages.length === maxPending && c.consumer.readingPaused, 5_000, 'paused at maxPending');
    t.equal(c.messages.length, maxPending, 'no more delivered than maxPending');
    // Settle whatever arrives, a few at a time, off the delivery path.
    let settled = 0;
    while (settled < sent.length) {
      await waitFor(() => c.messages.length > settled, 5_000, `message ${settled}`);
      for (const m of c.messages.slice(settled, settled + 3)) m.settle();
      settled = Math.min(c.messages.length, settled + 3);
    }
    t.same(texts(c.messages), sent, 'everything delivered, in order');
    t.ok(c.maxUnsettled() <= maxPending, `never more than maxPending unsettled (max ${c.maxUnsettled()})`);
    await waitFor(() => c.consumer.stats.acked === sent.length && !c.consumer.readingPaused, 5_000, 'all acknowledged, reading');
  });

  t.test('close() acknowledges what is settled and keeps the subscription', async (t) => {
    const topic = uniq('close');
    const clientId = uniq('sub');
    const a = consume(t, url, { clientId, filters: [topic] });
    await waitFor(() => a.consumer.connected, 5_000, 'connected');
    const pub = await publisher(t, url);
    await publish(pub, topic, range(0, 4));
    await waitFor(() => a.messages.length === 4, 5_000, 'delivered');
    a.messages[0]!.settle();
    a.messages[1]!.settle();
    await a.consumer.close(); // settled in this very turn: close() must flush them itself
    t.equal(a.consumer.connected, false);
    t.equal(a.consumer.stats.acked, 2);

    // Published while nobody is connected: the persistent session queues it.
    await publish(pub, topic, ['while-down']);
    const b = consume(t, url, { clientId, filters: [topic] });
    await waitFor(() => b.messages.length === 3, 10_000, 'redelivered and queued');
    t.same(texts(b.messages), ['2', '3', 'while-down']);
  });

  t.test('resubscribes after reconnecting on a clean session', async (t) => {
    // With cleanSession the broker forgets the subscription when the connection drops,
    // so receiving anything afterwards proves the consumer subscribed again.
    const proxy = await startProxy(t, url);
    const topic = uniq('resub');
    const connects: boolean[] = [];
    const c = consume(t, proxy.url, { clientId: uniq('sub'), filters: [topic], cleanSession: true, onConnect: (i) => connects.push(i.sessionPresent) });
    await waitFor(() => c.consumer.connected, 5_000, 'connected');
    proxy.cut();
    await waitFor(() => c.consumer.stats.reconnects === 1 && c.consumer.connected, 10_000, 'reconnected');
    t.same(connects, [false, false], 'no session present with cleanSession');
    const pub = await publisher(t, url);
    await publish(pub, topic, ['after']);
    await waitFor(() => c.messages.length === 1, 5_000, 'delivered after resubscribe');
    c.messages[0]!.settle();
  });

  if (external) {
    t.test('MQTT 5: the session survives a dropped connection; receiveMaximum bounds the first window', async (t) => {
      const proxy = await startProxy(t, url);
      const topic = uniq('v5');
      const receiveMaximum = 5;
      const c = consume(t, proxy.url, { clientId: uniq('sub'), filters: [topic], protocolVersion: 5, receiveMaximum, sessionExpirySeconds: 300 });
      await waitFor(() => c.consumer.connected, 5_000, 'connected');
      const pub = await publisher(t, url);
      const sent = range(0, 12);
      await publish(pub, topic, sent);
      await waitFor(() => c.messages.length === receiveMaximum, 5_000, 'first window');
      await flushTurns();
      t.equal(c.messages.length, receiveMaximum, 'before any PUBACK the broker sent no more than receiveMaximum');
      t.equal(c.consumer.readingPaused, false, 'held back by the broker, not by us');
      proxy.cut();
      await waitFor(() => c.consumer.stats.reconnects === 1 && c.messages.length === 2 * receiveMaximum, 10_000, 'redelivery');
      const redelivered = c.messages.slice(receiveMaximum);
      t.same(texts(redelivered), range(0, receiveMaximum), 'session expiry kept the session: unsettled window redelivered');
      t.ok(redelivered.every((m) => m.dup), 'with DUP');
      c.messages.splice(0, receiveMaximum);
      let settled = 0;
      while (settled < sent.length) {
        await waitFor(() => c.messages.length > settled, 5_000, `message ${settled}`);
        c.messages[settled]!.settle();
        settled++;
      }
      t.same(texts(c.messages), sent, 'everything delivered once more, in order');
      await waitFor(() => c.consumer.stats.acked === sent.length, 5_000, 'acknowledged');
      // Mosquitto 2.0.11 stops honouring receive maximum once the first PUBACK frees a slot
      // and it has a backlog (fixed in later 2.0.x); maxPending is the bound we control.
      t.comment(`most unsettled at once: ${c.maxUnsettled()} (receiveMaximum ${receiveMaximum})`);
    });
  }
}

t.test('embedded aedes broker', async (t) => {
  // The consumer's own topics, so one identity that may use any (broker-auth.test.ts tests the ACL).
  const identity = allTopicsIdentity();
  const identities = [identity];
  const broker = await startEmbeddedBroker({ port: 0, log, identities });
  t.teardown(() => broker.close());
  const url = broker.urlFor(identity.username);
  brokerSuite(t, url, false);

  t.test('a port in use is refused naming MQTT_PORT', async (t) => {
    await t.rejects(startEmbeddedBroker({ port: broker.port, log, identities }), PortInUseError);
    await t.rejects(startEmbeddedBroker({ port: broker.port, log, identities }), /MQTT_PORT/);
  });

  t.test('a refused CONNACK is reported and retried with backoff', async (t) => {
    // aedes speaks MQTT 3.1.1 only and answers an MQTT 5 CONNECT with return code 1.
    const c = consume(t, url, { clientId: uniq('sub'), filters: [uniq('refused')], protocolVersion: 5 });
    await waitFor(() => c.errors.length >= 3, 5_000, 'three refused attempts');
    t.ok(c.errors.every((e) => e instanceof MqttConnackError && e.code === 1), 'refusal code 1');
    t.match(c.errors[0]!.message, /unacceptable protocol version/);
    t.equal(c.consumer.connected, false);
    t.equal(c.consumer.stats.connects, 0);
  });

  t.test('reconnects and resubscribes after the broker restarts', async (t) => {
    let own: EmbeddedBroker = await startEmbeddedBroker({ port: 0, log, identities });
    t.teardown(() => own.close());
    const topic = uniq('restart');
    const disconnects: (Error | null)[] = [];
    const c = consume(t, own.urlFor(identity.username), { clientId: uniq('sub'), filters: [topic], onDisconnect: (e) => disconnects.push(e) });
    await waitFor(() => c.consumer.connected, 5_000, 'connected');
    await own.close();
    await waitFor(() => !c.consumer.connected && disconnects.length === 1, 5_000, 'disconnect noticed');
    t.ok(disconnects[0] instanceof Error, 'onDisconnect gets the cause');
    // aedes keeps sessions in memory, so the new broker knows nothing of our subscription:
    // only a resubscribe makes the next message arrive.
    own = await startEmbeddedBroker({ port: own.port, log, identities });
    await waitFor(() => c.consumer.stats.reconnects === 1 && c.consumer.connected, 10_000, 'reconnected');
    const pub = await publisher(t, own.urlFor(identity.username));
    await publish(pub, topic, ['after-restart']);
    await waitFor(() => c.messages.length === 1, 5_000, 'delivered after restart');
    t.equal(c.messages[0]!.payload.toString(), 'after-restart');
    c.messages[0]!.settle();
  });
});

const externalUrl = process.env.MQTT_URL;
if (externalUrl) {
  t.test(`broker at MQTT_URL (${new URL(externalUrl).host})`, async (t) => {
    // Mosquitto keeps persistent sessions (on disk) until told otherwise; leave none behind.
    t.teardown(() => dropSessions(externalUrl));
    brokerSuite(t, externalUrl, true);
  });
}
