/**
 * Raw throughput of the MQTT consumer (ingest/mqtt.ts), no database: the consumer settles
 * each message on arrival, so the figures are the ceiling the ingest pipeline works under.
 *
 * Two modes, MESSAGES QoS 1 messages of PAYLOAD_BYTES each, published by one mqtt.js
 * client as fast as it can:
 * - live: published while the consumer is connected (publisher and consumer race);
 * - backlog: published while the consumer is away on its persistent session, then timed
 *   from reconnect to the last PUBACK (the consumer alone, as after an ingest outage).
 * Brokers: the embedded aedes; the broker at BENCH_MQTT_URL (default the local Mosquitto
 * on mqtt://127.0.0.1:1883, whatever its config); and, when the `mosquitto` binary is on
 * PATH, a private Mosquitto started with deploy/mosquitto/mosquitto.conf's queue and
 * in-flight limits. Run: `npx tsx bench/mqtt-consumer-raw.ts`; the last line printed is
 * one JSON object with the figures.
 */
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { MqttConsumer } from '../ingest/mqtt.js';
import { startEmbeddedBroker } from '../src/mqtt/broker.js';
import { benchIdentity } from './lib/broker.js';
import { createLogger } from '../src/log.js';
import { startPrivateMosquitto } from './lib/mosquitto.js';

const MESSAGES = 50_000;
/** About the size of a ChirpStack v4 `up` event without rxInfo detail. */
const PAYLOAD_BYTES = 256;
/** A run ends when everything is acknowledged, or when nothing more arrives for this long. */
const IDLE_MS = 3_000;
const POLL_MS = 5;

const log = createLogger(process.env.LOG_LEVEL ?? 'warn', 'bench-mqtt');

type Mode = 'live' | 'backlog';

interface Result {
  broker: string;
  mode: Mode;
  published: number;
  publishMs: number;
  received: number;
  acked: number;
  duplicates: number;
  /** live: first publish to last delivery; backlog: reconnect to last delivery. */
  elapsedMs: number;
  msgsPerSec: number;
}

const until = (cond: () => boolean) =>
  new Promise<void>((resolve) => {
    const poll = setInterval(() => cond() && (clearInterval(poll), resolve()), POLL_MS);
  });

async function measure(broker: string, url: string, mode: Mode): Promise<Result> {
  const id = randomBytes(4).toString('hex');
  const topic = `bench-${id}/up`;
  const clientId = `bench-sub-${id}`;
  let received = 0;
  let duplicates = 0;
  let lastProgress = Date.now();
  const newConsumer = (cleanSession: boolean) =>
    new MqttConsumer({
      url,
      clientId,
      filters: [topic],
      cleanSession,
      log,
      onMessage: (m) => {
        received++;
        if (m.dup) duplicates++;
        lastProgress = Date.now();
        m.settle();
      },
    });

  // backlog: subscribe on a persistent session, then go away so the broker queues for us.
  let consumer = newConsumer(mode === 'live');
  consumer.start();
  await until(() => consumer.connected);
  if (mode === 'backlog') await consumer.close();

  const pub = await mqtt.connectAsync(url, { clientId: `bench-pub-${id}`, reconnectPeriod: 0 });
  pub.on('error', (err) => log.error({ err }, 'publisher error'));
  const payload = randomBytes(PAYLOAD_BYTES / 2).toString('hex');
  const publishStart = Date.now();
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < MESSAGES; i++) sends.push(pub.publishAsync(topic, payload, { qos: 1 }));
  await Promise.all(sends);
  const publishMs = Date.now() - publishStart;
  await pub.endAsync();

  let start = publishStart;
  if (mode === 'backlog') {
    consumer = newConsumer(false);
    start = lastProgress = Date.now();
    consumer.start();
  }
  await until(() => consumer.stats.acked >= MESSAGES || Date.now() - lastProgress > IDLE_MS);
  // Measured to the last delivery, not to the idle timeout that may have ended the wait.
  const elapsedMs = Math.max(1, lastProgress - start);
  const { acked } = consumer.stats;
  await consumer.close();
  if (mode === 'backlog') {
    // A clean-session CONNECT discards the session we left on the broker [MQTT-3.1.2-6].
    await (await mqtt.connectAsync(url, { clientId, clean: true, reconnectPeriod: 0 })).endAsync();
  }
  return { broker, mode, published: MESSAGES, publishMs, received, acked, duplicates, elapsedMs, msgsPerSec: Math.round((acked / elapsedMs) * 1000) };
}

async function main(): Promise<void> {
  const results: Result[] = [];
  const run = async (name: string, url: string) => {
    for (const mode of ['live', 'backlog'] as const) {
      const r = await measure(name, url, mode);
      console.log(`${r.broker} ${r.mode}: ${r.acked}/${r.published} acked in ${r.elapsedMs} ms = ${r.msgsPerSec} msg/s (publisher ${r.publishMs} ms)`);
      results.push(r);
    }
  };

  const identity = benchIdentity(null);
  const aedes = await startEmbeddedBroker({ port: 0, log, identities: [identity] });
  try {
    await run('aedes (embedded)', aedes.urlFor(identity.username));
  } finally {
    await aedes.close();
  }

  const external = process.env.BENCH_MQTT_URL ?? 'mqtt://127.0.0.1:1883';
  try {
    await run(`mosquitto ${new URL(external).host} (its own config)`, external);
  } catch (err) {
    console.error(`skipped ${external}: ${err instanceof Error ? err.message : String(err)}`);
  }

  const own = await startPrivateMosquitto();
  if (own) {
    try {
      await run('mosquitto (deploy limits)', own.url);
    } finally {
      await own.stop();
    }
  } else console.error('skipped private mosquitto: `mosquitto` not on PATH');

  console.log(JSON.stringify({ messages: MESSAGES, payloadBytes: PAYLOAD_BYTES, node: process.version, results }));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
