// The broker restarts mid-stream: ingest reconnects, subscribes again, and applies every
// uplink the broker kept exactly once (counted in SQL). On Mosquitto with persistence (as
// deploy/mosquitto/mosquitto.conf runs it) the broker keeps the QoS 1 messages queued or in
// flight for ingest's persistent session across a clean restart (mosquitto.conf(5),
// `persistence`); ingest acknowledges only after its commit, so what it had not committed
// comes again and the deduplicationId makes the second copy a no-op. The private Mosquitto
// does not depend on MQTT_URL, so this runs in both CI passes. The embedded aedes broker
// keeps sessions in memory: a restart forgets them, so there it shows that ingest subscribes
// again by itself on a broker that no longer knows it.
// Bounded here; `npm run soak` runs it at FUZZ_SCALE (more uplinks, more restarts).
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { startIngest, type IngestProcess } from '../../ingest/main.js';
import { startEmbeddedBroker } from '../../src/mqtt/broker.js';
import { BAYGATE_USERNAME, CHIRPSTACK_USERNAME, embeddedBrokerIdentities } from '../../src/mqtt/acl.js';
import { createLogger } from '../../src/log.js';
import { eventTopic, upEvent } from '../../src/simulator/events.js';
import { devEuiAt } from '../../src/simulator/payloads.js';
import { startPrivateMosquitto, type PrivateMosquitto } from '../../bench/lib/mosquitto.js';
import type { Pool } from '../../src/db/pool.js';
import { testConfig } from '../helpers/api.js';
import { testDb } from '../helpers/db.js';
import { fuzzScale, reportFigures } from '../helpers/fuzz.js';
import { waitFor } from '../helpers/wait.js';
import { seedFleets } from '../helpers/fleet.js';

const FIRST = '70B3D5E7B7000000';
const DEVICES = 20;
const scale = fuzzScale();
/** Uplinks per run and broker restarts during it: 600 and 1 in `npm test`. */
const COUNT = 600 * scale;
const RESTARTS = Math.max(1, Math.round(scale));
const log = createLogger('silent');
t.setTimeout(60_000 * Math.max(1, scale));

/** A tenant with DEVICES sensors, each assigned to a space. */
const seed = (owner: Pool) => seedFleets(owner, { id: '00000000-0000-4000-8000-0000000b7e57', name: 'Restart', slug: 'restart' }, [{ first: FIRST, devices: DEVICES }]);

function uplink(template: string, i: number): [topic: string, payload: string] {
  const devEui = devEuiAt(FIRST, i % DEVICES);
  const fCnt = Math.floor(i / DEVICES) + 1;
  const ev = upEvent({ devEui, fCnt, fPort: 1, data: Buffer.from([fCnt % 2]), time: new Date(Date.now() - 600_000 + i * 10) });
  return [eventTopic(template, devEui, 'up'), JSON.stringify(ev)];
}

async function readings(owner: Pool): Promise<{ n: number; distinct: number }> {
  const r = await owner.query('SELECT count(*)::int AS n, count(DISTINCT deduplication_id)::int AS d FROM sensor_readings');
  return { n: r.rows[0].n, distinct: r.rows[0].d };
}

async function ingestOn(t: Test, url: string, template: string, clientId: string, dbUrl: string): Promise<IngestProcess> {
  // Batches held 100 ms: uplinks sit delivered-but-unacknowledged when the broker stops.
  const config = testConfig({ CHIRPSTACK_EVENT_TOPIC: template, MQTT_CLIENT_ID: clientId, INGEST_BATCH_MAX_MS: '100' });
  const ingest = await startIngest({ config, databaseUrl: dbUrl, mqttUrl: url, log, metricsServer: false });
  t.teardown(() => ingest.stop());
  await waitFor(() => ingest.consumer.connected, 10_000, 'ingest subscribed');
  return ingest;
}

async function publisher(t: Test, url: string, id: string): Promise<MqttClient> {
  // A short reconnect period: the broker is back within a second and publishing resumes.
  const pub = await mqtt.connectAsync(url, { clientId: `bgt-restart-pub-${id}`, reconnectPeriod: 100 });
  t.teardown(() => pub.endAsync(true));
  return pub;
}

t.test('Mosquitto with persistence restarts mid-stream: every kept uplink applied once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'baygate-broker-restart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let broker: PrivateMosquitto | null = await startPrivateMosquitto({ persistenceDir: dir });
  // plan(0, reason) marks the test skipped, with the reason in the report.
  if (!broker) return t.plan(0, 'needs the mosquitto binary (apt-get install mosquitto)');
  t.teardown(() => broker?.stop());
  const port = Number(new URL(broker.url).port);
  const db = await testDb(t);
  await seed(db.owner);
  const id = randomBytes(4).toString('hex');
  const template = `bgt-${id}/application/{application_id}/device/{dev_eui}/event/{event}`;
  const ingest = await ingestOn(t, broker.url, template, `bgt-restart-${id}`, db.url);
  const pub = await publisher(t, broker.url, id);

  const restartEvery = Math.floor(COUNT / (RESTARTS + 1));
  let restarts = 0;
  const unackedAtStop: number[] = [];
  for (let i = 0; i < COUNT; i++) {
    const [topic, payload] = uplink(template, i);
    // Awaited: once PUBACK arrives the broker has the uplink, and it is ingest's to apply.
    await pub.publishAsync(topic, payload, { qos: 1 });
    if ((i + 1) % restartEvery === 0 && restarts < RESTARTS) {
      restarts++;
      unackedAtStop.push(ingest.consumer.stats.pending);
      // SIGTERM: Mosquitto writes its persistence file on the way out.
      await broker!.stop();
      broker = null;
      await waitFor(() => !ingest.consumer.connected, 10_000, 'ingest to notice the broker is gone');
      broker = await startPrivateMosquitto({ port, persistenceDir: dir });
      await waitFor(() => ingest.consumer.connected, 20_000, 'ingest to reconnect and subscribe again');
    }
  }

  await waitFor(async () => (await readings(db.owner)).n >= COUNT, 60_000, `${COUNT} readings`);
  const got = await readings(db.owner);
  t.same(got, { n: COUNT, distinct: COUNT }, 'every uplink applied, none twice');
  t.equal(ingest.consumer.stats.reconnects, RESTARTS, 'ingest reconnected once per restart');
  const last = Math.floor((COUNT - 1) / DEVICES) + 1;
  const states = await db.owner.query(`SELECT DISTINCT current_state FROM spaces`);
  t.same(states.rows, [{ current_state: last % 2 ? 'occupied' : 'free' }], 'every space ends at its last frame');
  const dead = await db.owner.query('SELECT count(*)::int AS n FROM dead_letters');
  t.equal(dead.rows[0].n, 0, 'nothing dead-lettered');
  reportFigures(t, 'broker-restart mosquitto', {
    uplinks: COUNT, restarts, applied: got.distinct, lost: COUNT - got.distinct, duplicates: got.n - got.distinct,
    unacked_at_stop: unackedAtStop.join('/'), redelivered: ingest.consumer.stats.received - COUNT,
  });
});

t.test('the embedded broker restarts: ingest subscribes again on a broker that forgot its session', async (t) => {
  const id = randomBytes(4).toString('hex');
  const template = `bgt-${id}/application/{application_id}/device/{dev_eui}/event/{event}`;
  // npm start's two identities and ACL: ingest as baygate, the publisher as ChirpStack.
  const identities = embeddedBrokerIdentities({
    chirpstack: randomBytes(16).toString('base64url'),
    baygate: randomBytes(16).toString('base64url'),
    eventTopic: template,
    commandTopic: `bgt-${id}/application/{application_id}/device/{dev_eui}/command/{command}`,
  });
  let broker = await startEmbeddedBroker({ port: 0, host: '127.0.0.1', log, identities });
  t.teardown(() => broker.close());
  const db = await testDb(t);
  await seed(db.owner);
  const ingest = await ingestOn(t, broker.urlFor(BAYGATE_USERNAME), template, `bgt-restart-aedes-${id}`, db.url);
  const pub = await publisher(t, broker.urlFor(CHIRPSTACK_USERNAME), id);
  const half = Math.floor(COUNT / 2);

  for (let i = 0; i < half; i++) await pub.publishAsync(...uplink(template, i), { qos: 1 });
  // aedes keeps sessions and queued messages in memory: only what ingest committed survives a
  // restart, so the restart waits for the first half to be applied.
  await waitFor(async () => (await readings(db.owner)).n >= half, 30_000, 'the first half applied');
  await broker.close();
  await waitFor(() => !ingest.consumer.connected, 10_000, 'ingest to notice the broker is gone');
  broker = await startEmbeddedBroker({ port: broker.port, host: '127.0.0.1', log, identities });
  await waitFor(() => ingest.consumer.connected, 20_000, 'ingest to reconnect and subscribe again');
  for (let i = half; i < COUNT; i++) await pub.publishAsync(...uplink(template, i), { qos: 1 });

  await waitFor(async () => (await readings(db.owner)).n >= COUNT, 60_000, `${COUNT} readings`);
  const got = await readings(db.owner);
  t.same(got, { n: COUNT, distinct: COUNT }, 'uplinks after the restart applied too, none twice');
  t.equal(ingest.consumer.stats.reconnects, 1, 'ingest reconnected once');
  reportFigures(t, 'broker-restart aedes', { uplinks: COUNT, restarts: 1, applied: got.distinct, lost: COUNT - got.distinct, duplicates: got.n - got.distinct });
});
