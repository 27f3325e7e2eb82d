/**
 * Runs the real ingest process (consumer + pipeline) in the test's process against the
 * test database and broker, and gives tests a publisher of ChirpStack events.
 */
import type { Test } from 'tap';
import type { MqttClient } from 'mqtt';
import { startIngest, type IngestProcess } from '../../ingest/main.js';
import { createLogger } from '../../src/log.js';
import { eventPayload, eventTopic, upEvent, type EventEncoding, type UplinkSpec } from '../../src/simulator/events.js';
import { testConfig } from './api.js';
import { testBroker, testPublisher, type TestBroker } from './mqtt.js';
import type { TestDb } from './db.js';

export interface TestIngest {
  broker: TestBroker;
  ingest: IngestProcess;
  pub: MqttClient;
  /** Publishes a ChirpStack `up` event at QoS 1, JSON unless `encoding` says protobuf (`json=false`). */
  up(spec: UplinkSpec, encoding?: EventEncoding): Promise<void>;
  /** Publishes any payload on a ChirpStack event topic of the template (the simulator's application unless given). */
  raw(devEui: string, event: string, payload: Buffer | string, applicationId?: string): Promise<void>;
}

export async function testIngest(t: Test, db: TestDb, overrides: Record<string, string> = {}): Promise<TestIngest> {
  const broker = await testBroker(t);
  const config = testConfig({
    CHIRPSTACK_EVENT_TOPIC: broker.template,
    // The broker's ACL allows this file's command topics only (test/helpers/mqtt.ts).
    CHIRPSTACK_COMMAND_TOPIC: broker.commandTemplate,
    MQTT_CLIENT_ID: `bgt-ingest-${broker.id}`,
    INGEST_BATCH_MAX_MS: '5',
    ...overrides,
  });
  const ingest = await startIngest({ config, databaseUrl: db.url, mqttUrl: broker.url, log: createLogger(config.logLevel, 'test-ingest'), metricsServer: false });
  t.teardown(() => ingest.stop());
  const pub = await testPublisher(t, broker);
  const raw = async (devEui: string, event: string, payload: Buffer | string, applicationId?: string) => {
    await pub.publishAsync(eventTopic(broker.template, devEui, event, applicationId), payload, { qos: 1 });
  };
  return {
    broker,
    ingest,
    pub,
    raw,
    // ChirpStack publishes an application's events under its own id (integration/mqtt.rs).
    up: (spec, encoding) => raw(spec.devEui, 'up', eventPayload('up', upEvent(spec), encoding), spec.applicationId),
  };
}
