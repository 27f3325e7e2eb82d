// Two ingest processes in one shared-subscription group split the feed: every uplink is
// applied exactly once, and although a device's frames reach both processes in any
// order, no space regresses (the state machine's fCnt/time guard and row locks hold).
// Runs on a real Mosquitto: MQTT_URL's, or a private one started from the `mosquitto`
// binary with deploy/mosquitto/mosquitto.conf (aedes has no shared subscriptions).
import t from 'tap';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { startIngest, type IngestProcess } from '../../ingest/main.js';
import { createLogger } from '../../src/log.js';
import { eventTopic, upEvent } from '../../src/simulator/events.js';
import { devEuiAt } from '../../src/simulator/payloads.js';
import { startPrivateMosquitto } from '../../bench/lib/mosquitto.js';
import { testConfig } from '../helpers/api.js';
import { testDb } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { fuzzScale, reportFigures } from '../helpers/fuzz.js';
import { seedFleets } from '../helpers/fleet.js';

const FIRST = '70B3D5E7AB000000';
const DEVICES = 40;
/** 1,000 uplinks in `npm test`; `npm run soak` multiplies them by FUZZ_SCALE. */
const COUNT = Math.round(1_000 * fuzzScale());
t.setTimeout(60_000 * Math.max(1, fuzzScale()));

t.test('two ingest processes share the feed', async (t) => {
  let url = process.env.MQTT_URL;
  if (!url) {
    const own = await startPrivateMosquitto();
    // plan(0, reason) marks the test skipped, with the reason in the report.
    if (!own) return t.plan(0, 'needs Mosquitto: set MQTT_URL or install the mosquitto binary (aedes has no shared subscriptions)');
    t.teardown(() => own.stop());
    url = own.url;
  }
  const db = await testDb(t);
  await seedFleets(db.owner, { id: '00000000-0000-4000-8000-00000000a5ca', name: 'Scale', slug: 'scale' }, [{ first: FIRST, devices: DEVICES }]);

  const id = randomBytes(4).toString('hex');
  const template = `bgt-${id}/application/{application_id}/device/{dev_eui}/event/{event}`;
  const log = createLogger('silent');
  const ingests: IngestProcess[] = [];
  for (const n of [1, 2]) {
    const config = testConfig({
      CHIRPSTACK_EVENT_TOPIC: template,
      MQTT_CLIENT_ID: `bgt-share-${id}-${n}`,
      MQTT_SHARE_GROUP: `bgt-${id}`,
      INGEST_BATCH_MAX_MS: '5',
    });
    const ingest = await startIngest({ config, databaseUrl: db.url, mqttUrl: url, log, metricsServer: false });
    t.teardown(() => ingest.stop());
    ingests.push(ingest);
  }
  await waitFor(() => ingests.every((i) => i.consumer.connected), 10_000, 'both subscribed');

  const pub = await mqtt.connectAsync(url, { clientId: `bgt-share-pub-${id}` });
  t.teardown(() => pub.endAsync());
  const t0 = Date.now() - 600_000;
  for (let i = 0; i < COUNT; i++) {
    const devEui = devEuiAt(FIRST, i % DEVICES);
    const fCnt = Math.floor(i / DEVICES) + 1;
    const ev = upEvent({ devEui, fCnt, fPort: 1, data: Buffer.from([fCnt % 2]), time: new Date(t0 + i * 10) });
    // Paced (awaited) so the machine's default Mosquitto limits never drop anything.
    await pub.publishAsync(eventTopic(template, devEui, 'up'), JSON.stringify(ev), { qos: 1 });
  }

  await waitFor(async () => Number((await db.owner.query('SELECT count(*) AS n FROM sensor_readings')).rows[0].n) >= COUNT, 60_000 * Math.max(1, fuzzScale()), 'all readings');
  const counts = await db.owner.query('SELECT count(*) AS n, count(DISTINCT deduplication_id) AS d FROM sensor_readings');
  t.equal(Number(counts.rows[0].n), COUNT, 'every uplink applied');
  t.equal(Number(counts.rows[0].d), COUNT, 'none twice');
  const received = ingests.map((i) => i.consumer.stats.received);
  t.ok(received.every((n) => n > 0), `both processes took a share (${received.join(' + ')})`);
  reportFigures(t, 'scale-out ingest', {
    uplinks: COUNT, applied: Number(counts.rows[0].d), lost: COUNT - Number(counts.rows[0].d),
    duplicates: Number(counts.rows[0].n) - Number(counts.rows[0].d), split: received.join('/'),
  });
  const last = Math.floor((COUNT - 1) / DEVICES) + 1;
  const states = await db.owner.query(`SELECT DISTINCT current_state FROM spaces`);
  t.same(states.rows, [{ current_state: last % 2 ? 'occupied' : 'free' }], 'every space ends at its last frame');
  const devices = await db.owner.query(`SELECT DISTINCT last_f_cnt FROM devices`);
  t.same(devices.rows, [{ last_f_cnt: last }], 'every device remembers its newest frame as the last applied');
});
