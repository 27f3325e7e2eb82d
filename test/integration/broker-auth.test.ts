// The embedded broker takes only known clients (issue 17 §1): anonymous and wrong-password
// clients get CONNACK 5 "not authorized"; ChirpStack's identity publishes events and reads
// commands only, baygate's reads events and publishes commands only; an oversized packet
// closes its connection and the broker carries on; ingest's consumer survives one too.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient, type Packet } from 'mqtt';
import { MqttConnackError, MqttConsumer, type ConsumerMessage } from '../../ingest/mqtt.js';
import { startEmbeddedBroker } from '../../src/mqtt/broker.js';
import { BAYGATE_USERNAME, CHIRPSTACK_USERNAME, embeddedBrokerIdentities, urlWithCredentials } from '../../src/mqtt/acl.js';
import { MQTT_MAX_PACKET_BYTES } from '../../src/mqtt/packet-size.js';
import { createLogger } from '../../src/log.js';
import { waitFor } from '../helpers/wait.js';

const log = createLogger(process.env.LOG_LEVEL ?? 'silent', 'test-broker-auth');
const APP = '6c0a2b8e-2c4a-4d2e-9a51-0f6c7e3d1a11';
const EUI = '0102030405060708';
const EVENT = `application/${APP}/device/${EUI}/event/up`;
const COMMAND = `application/${APP}/device/${EUI}/command/down`;

const passwords = { chirpstack: randomBytes(16).toString('base64url'), baygate: randomBytes(16).toString('base64url') };
const identities = embeddedBrokerIdentities({
  ...passwords,
  eventTopic: 'application/{application_id}/device/{dev_eui}/event/{event}',
  commandTopic: 'application/{application_id}/device/{dev_eui}/command/{command}',
});

let n = 0;
async function client(t: Test, url: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { clientId: `bgt-auth-${++n}`, reconnectPeriod: 0 });
  t.teardown(() => c.endAsync(true));
  return c;
}

/** The return code the broker grants one filter, read from its SUBACK (mqtt.js rejects on 0x80). */
function granted(c: MqttClient, filter: string): Promise<number> {
  return new Promise((resolve) => {
    const onPacket = (p: Packet) => {
      if (p.cmd !== 'suback') return;
      c.off('packetreceive', onPacket);
      resolve(p.granted[0] as number);
    };
    c.on('packetreceive', onPacket);
    c.subscribe(filter, { qos: 1 }, () => {});
  });
}

/** Messages a client receives, by topic. */
function inbox(c: MqttClient): { topic: string; payload: string }[] {
  const got: { topic: string; payload: string }[] = [];
  c.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }));
  return got;
}

t.test('embedded broker: authentication and least privilege', async (t) => {
  const broker = await startEmbeddedBroker({ port: 0, host: '127.0.0.1', log, identities });
  t.teardown(() => broker.close());
  const chirpstackUrl = broker.urlFor(CHIRPSTACK_USERNAME);
  const baygateUrl = broker.urlFor(BAYGATE_USERNAME);

  t.test('anonymous and wrong-password clients get CONNACK 5 "not authorized"', async (t) => {
    const refused = async (url: string, what: string) => {
      const err = await mqtt.connectAsync(url, { clientId: `bgt-auth-${++n}`, reconnectPeriod: 0 }).then(
        (c) => {
          void c.endAsync(true);
          return null;
        },
        (e: Error & { code?: number }) => e,
      );
      t.equal(err?.code, 5, `${what}: return code 5`);
      t.match(err?.message, /Not authorized/i, `${what}: not authorized`);
    };
    await refused(broker.url, 'anonymous');
    await refused(urlWithCredentials(broker.url, CHIRPSTACK_USERNAME, 'wrong'), 'wrong password');
    await refused(urlWithCredentials(broker.url, CHIRPSTACK_USERNAME, passwords.baygate), "the other identity's password");
    await refused(urlWithCredentials(broker.url, 'admin', passwords.chirpstack), 'unknown user');
    // ingest's consumer reports the refusal as such and keeps retrying.
    const errors: Error[] = [];
    const consumer = new MqttConsumer({ url: broker.url, clientId: `bgt-auth-${++n}`, filters: ['application/+/device/+/event/+'], log, reconnectMinMs: 20, reconnectMaxMs: 50, onMessage: () => {}, onError: (e) => errors.push(e) });
    t.teardown(() => consumer.close());
    consumer.start();
    await waitFor(() => errors.length >= 2, 5_000, 'two refused attempts');
    t.ok(errors.every((e) => e instanceof MqttConnackError && e.code === 5), 'MqttConnackError code 5');
    t.match(errors[0]!.message, /not authorized/);
  });

  t.test('ChirpStack publishes events and reads commands; nothing else', async (t) => {
    const cs = await client(t, chirpstackUrl);
    const bg = await client(t, baygateUrl);
    const csGot = inbox(cs);
    const bgGot = inbox(bg);
    t.equal(await granted(cs, '#'), 128, "ChirpStack's identity cannot subscribe to #");
    t.equal(await granted(cs, 'application/+/device/+/event/+'), 128, 'nor read events');
    t.equal(await granted(cs, 'application/+/device/+/command/+'), 1, 'it reads commands');
    t.equal(await granted(bg, '#'), 128, "baygate's identity cannot subscribe to # either");
    t.equal(await granted(bg, '$SYS/#'), 128, 'nor $SYS');
    t.equal(await granted(bg, 'application/+/device/+/command/+'), 128, 'nor read commands');
    t.equal(await granted(bg, 'application/+/device/+/event/+'), 1, 'it reads events');

    await cs.publishAsync(EVENT, 'uplink', { qos: 1 });
    await bg.publishAsync(COMMAND, 'downlink', { qos: 1 });
    await waitFor(() => bgGot.length === 1 && csGot.length === 1, 5_000, 'the allowed messages');
    t.same(bgGot, [{ topic: EVENT, payload: 'uplink' }], 'baygate got the event');
    t.same(csGot, [{ topic: COMMAND, payload: 'downlink' }], 'ChirpStack got the command');

    // A refused PUBLISH closes the connection [MQTT-3.3.5-2]; nothing is delivered.
    const forger = await client(t, chirpstackUrl);
    const closed = new Promise<void>((r) => forger.once('close', () => r()));
    forger.publish(COMMAND, 'forged command', { qos: 1 });
    await closed;
    const forger2 = await client(t, baygateUrl);
    const closed2 = new Promise<void>((r) => forger2.once('close', () => r()));
    forger2.publish(EVENT, 'forged uplink', { qos: 0 });
    await closed2;
    // A marker after the refusals, on each allowed path: once it arrives, a forged message would have too.
    await cs.publishAsync(EVENT, 'marker', { qos: 1 });
    await bg.publishAsync(COMMAND, 'marker', { qos: 1 });
    await waitFor(() => bgGot.length === 2 && csGot.length === 2, 5_000, 'the markers');
    t.same(bgGot.map((m) => m.payload), ['uplink', 'marker'], 'no forged uplink reached baygate');
    t.same(csGot.map((m) => m.payload), ['downlink', 'marker'], 'no forged command reached ChirpStack');
  });

  t.test('an oversized packet closes its connection; the broker carries on', async (t) => {
    const bg = await client(t, baygateUrl);
    const got = inbox(bg);
    await bg.subscribeAsync('application/+/device/+/event/+', { qos: 1 });
    const big = await client(t, chirpstackUrl);
    const closed = new Promise<void>((r) => big.once('close', () => r()));
    big.publish(EVENT, Buffer.alloc(MQTT_MAX_PACKET_BYTES + 1), { qos: 0 });
    await closed;
    const cs = await client(t, chirpstackUrl);
    await cs.publishAsync(EVENT, Buffer.alloc(MQTT_MAX_PACKET_BYTES - 1024), { qos: 1 });
    await waitFor(() => got.length === 1, 5_000, 'a packet under the limit');
    t.equal(got[0]!.payload.length, MQTT_MAX_PACKET_BYTES - 1024, 'only the one under the limit arrived');
  });
});

t.test("ingest's consumer: a packet over its limit ends that connection, then it carries on", async (t) => {
  // A broker with a larger limit than the consumer's, so the big message reaches the consumer.
  const broker = await startEmbeddedBroker({ port: 0, host: '127.0.0.1', log, identities, maxPacketBytes: 4 * MQTT_MAX_PACKET_BYTES });
  t.teardown(() => broker.close());
  const messages: ConsumerMessage[] = [];
  const disconnects: (Error | null)[] = [];
  const consumer = new MqttConsumer({
    url: broker.urlFor(BAYGATE_USERNAME),
    clientId: `bgt-auth-${++n}`,
    filters: ['application/+/device/+/event/+'],
    cleanSession: true,
    qos: 0,
    maxPacketBytes: MQTT_MAX_PACKET_BYTES,
    reconnectMinMs: 20,
    reconnectMaxMs: 50,
    log,
    onMessage: (m) => messages.push(m),
    onDisconnect: (e) => disconnects.push(e),
  });
  t.teardown(() => consumer.close());
  consumer.start();
  await waitFor(() => consumer.connected, 5_000, 'connected');
  const cs = await client(t, broker.urlFor(CHIRPSTACK_USERNAME));
  await cs.publishAsync(EVENT, Buffer.alloc(MQTT_MAX_PACKET_BYTES + 1), { qos: 0 });
  await waitFor(() => disconnects.length === 1 && consumer.connected, 5_000, 'disconnected and back');
  t.match(disconnects[0]?.message, /exceeds the 262144-byte limit/);
  await cs.publishAsync(EVENT, 'small', { qos: 0 });
  await waitFor(() => messages.length === 1, 5_000, 'the next message');
  t.equal(messages[0]!.payload.toString(), 'small');
});
