/**
 * A real MQTT broker for a test file: the embedded aedes broker on a free port, or the
 * broker at MQTT_URL (Mosquitto in CI's second pass). Topics carry a per-file prefix so
 * files sharing an external broker never see each other's messages.
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Test } from 'tap';
import { startEmbeddedBroker } from '../../src/mqtt/broker.js';
import { createLogger } from '../../src/log.js';

export interface TestBroker {
  url: string;
  /** ChirpStack event topic template with this file's prefix. */
  template: string;
  /** True when the broker is external (MQTT_URL). */
  external: boolean;
  /** Unique id for client ids in this file. */
  id: string;
}

export async function testBroker(t: Test): Promise<TestBroker> {
  const id = randomBytes(4).toString('hex');
  const template = `bgt-${id}/application/{application_id}/device/{dev_eui}/event/{event}`;
  const external = process.env.MQTT_URL;
  if (external) return { url: external, template, external: true, id };
  const broker = await startEmbeddedBroker({ port: 0, host: '127.0.0.1', log: createLogger('silent') });
  t.teardown(() => broker.close());
  return { url: broker.url, template, external: false, id };
}

export async function testPublisher(t: Test, url: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { clientId: `bgt-pub-${randomBytes(4).toString('hex')}`, reconnectPeriod: 200 });
  t.teardown(() => client.endAsync());
  return client;
}
