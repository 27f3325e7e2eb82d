/**
 * A real MQTT broker for a test file: the embedded aedes broker on a free port, or the
 * broker at MQTT_URL (Mosquitto in CI's second pass). Topics carry a per-file prefix so
 * files sharing an external broker never see each other's messages.
 *
 * The embedded broker takes only its two identities, with the ACL npm start gives them
 * (src/mqtt/acl.ts), built from this file's topic templates: `url` is baygate's own (what
 * ingest uses), `chirpstackUrl` ChirpStack's (what a test publishing events or reading
 * commands uses). The machine's and CI's Mosquitto are anonymous: there both are MQTT_URL.
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Test } from 'tap';
import { startEmbeddedBroker } from '../../src/mqtt/broker.js';
import { BAYGATE_USERNAME, CHIRPSTACK_USERNAME, embeddedBrokerIdentities, type BrokerIdentity } from '../../src/mqtt/acl.js';
import { createLogger } from '../../src/log.js';

export interface TestBroker {
  /** As baygate's own identity: subscribes to events, publishes commands (ingest's MQTT_URL). */
  url: string;
  /** As ChirpStack's identity: publishes events, subscribes to commands. */
  chirpstackUrl: string;
  /** Without credentials (the embedded broker refuses it; MQTT_URL when external). */
  anonymousUrl: string;
  /** ChirpStack event topic template with this file's prefix. */
  template: string;
  /** ChirpStack command topic template with this file's prefix (CHIRPSTACK_COMMAND_TOPIC). */
  commandTemplate: string;
  /** True when the broker is external (MQTT_URL). */
  external: boolean;
  /** Unique id for client ids in this file. */
  id: string;
}

export async function testBroker(t: Test): Promise<TestBroker> {
  const id = randomBytes(4).toString('hex');
  const template = `bgt-${id}/application/{application_id}/device/{dev_eui}/event/{event}`;
  const commandTemplate = `bgt-${id}/application/{application_id}/device/{dev_eui}/command/{command}`;
  const external = process.env.MQTT_URL;
  if (external) return { url: external, chirpstackUrl: external, anonymousUrl: external, template, commandTemplate, external: true, id };
  const identities = embeddedBrokerIdentities({
    chirpstack: randomBytes(16).toString('base64url'),
    baygate: randomBytes(16).toString('base64url'),
    eventTopic: template,
    commandTopic: commandTemplate,
  });
  const broker = await startEmbeddedBroker({ port: 0, host: '127.0.0.1', log: createLogger('silent'), identities });
  t.teardown(() => broker.close());
  return {
    url: broker.urlFor(BAYGATE_USERNAME),
    chirpstackUrl: broker.urlFor(CHIRPSTACK_USERNAME),
    anonymousUrl: broker.url,
    template,
    commandTemplate,
    external: false,
    id,
  };
}

/** A publisher of ChirpStack events: ChirpStack's identity. */
export async function testPublisher(t: Test, broker: TestBroker): Promise<MqttClient> {
  const client = await mqtt.connectAsync(broker.chirpstackUrl, { clientId: `bgt-pub-${randomBytes(4).toString('hex')}`, reconnectPeriod: 200 });
  t.teardown(() => client.endAsync());
  return client;
}

/**
 * An identity that may publish and subscribe anywhere, for tests of MQTT plumbing (the
 * consumer, broker restarts) that use topics of their own. npm start never has one: its
 * identities come from embeddedBrokerIdentities (src/mqtt/acl.ts).
 */
export function allTopicsIdentity(): BrokerIdentity {
  return { username: 'bgt-test', password: randomBytes(16).toString('base64url'), publish: ['#'], subscribe: ['#'] };
}
