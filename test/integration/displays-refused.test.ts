// Regression (issue 17 §5): one display downlink the broker refuses must not stall the
// sender for the others. aedes closes a connection whose PUBLISH it does not authorize
// [MQTT-3.3.5-2], and mqtt.js resends unacknowledged QoS 1 publishes first on reconnect,
// so a refused one kept in its store would close every new connection before anything else
// went out. Here the broker's ACL lets baygate command one application and not another
// (a valid UUID, so the sender's own topic check passes it); the other displays still get
// their downlinks, on the first run and on later ones.
//
// Always on the embedded broker: it is the one whose ACL this test sets (Mosquitto acknowledges
// and drops a refused publish instead, which cannot stall anything).
import t from 'tap';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { startIngest } from '../../ingest/main.js';
import { startEmbeddedBroker } from '../../src/mqtt/broker.js';
import { BAYGATE_USERNAME, CHIRPSTACK_USERNAME, templateFilter, type BrokerIdentity } from '../../src/mqtt/acl.js';
import { createLogger } from '../../src/log.js';
import { testApi, testConfig } from '../helpers/api.js';
import { waitFor } from '../helpers/wait.js';

const ALLOWED_APP = '6c0a2b8e-2c4a-4d2e-9a51-0f6c7e3d1a11';
const REFUSED_APP = '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0';
const log = createLogger(process.env.LOG_LEVEL ?? 'silent', 'test-displays-refused');

t.test('a display whose downlink the broker refuses cannot stall the others', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('refused');
  const id = randomBytes(4).toString('hex');
  const eventTopic = `bgt-${id}/application/{application_id}/device/{dev_eui}/event/{event}`;
  const commandTopic = `bgt-${id}/application/{application_id}/device/{dev_eui}/command/{command}`;
  const password = () => randomBytes(16).toString('base64url');
  // npm start's identities, except that baygate may command ALLOWED_APP's devices only.
  const identities: BrokerIdentity[] = [
    { username: CHIRPSTACK_USERNAME, password: password(), publish: [templateFilter(eventTopic)], subscribe: [templateFilter(commandTopic)] },
    { username: BAYGATE_USERNAME, password: password(), publish: [`bgt-${id}/application/${ALLOWED_APP}/device/+/command/+`], subscribe: [templateFilter(eventTopic)] },
  ];
  const broker = await startEmbeddedBroker({ port: 0, host: '127.0.0.1', log, identities });
  t.teardown(() => broker.close());
  const config = testConfig({ CHIRPSTACK_EVENT_TOPIC: eventTopic, CHIRPSTACK_COMMAND_TOPIC: commandTopic, MQTT_CLIENT_ID: `bgt-refused-${id}`, INGEST_BATCH_MAX_MS: '5' });
  const ingest = await startIngest({ config, databaseUrl: api.db.url, mqttUrl: broker.urlFor(BAYGATE_USERNAME), log, metricsServer: false });
  t.teardown(() => ingest.stop());

  // ChirpStack's side: reads every command.
  const received: string[] = [];
  const sub = await mqtt.connectAsync(broker.urlFor(CHIRPSTACK_USERNAME), { clientId: `bgt-refused-cs-${id}` });
  t.teardown(() => sub.endAsync());
  sub.on('message', (topic) => received.push(topic));
  await sub.subscribeAsync(templateFilter(commandTopic), { qos: 1 });

  const downlinks = async (deviceId: string) => (await api.request('GET', `/api/v6/devices/${deviceId}/downlinks`, { token })).body.items as any[];
  let n = 0;
  const display = async (applicationId: string) => {
    n++;
    const space = (await api.request('POST', '/api/v6/spaces', { token, json: { code: `R-${n}` } })).body;
    const eui = `20202037052501${String(n).padStart(2, '0')}`;
    const r = await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: eui, device_type: 'display', config: { application_id: applicationId, display_encoding: 'generic' } } });
    t.equal(r.status, 201, `display ${n} registered`);
    const a = await api.request('POST', `/api/v6/devices/${r.body.id}/assign`, { token, json: { space_id: space.id } });
    t.equal(a.status, 200);
    return { id: r.body.id as string, eui: eui.toLowerCase() };
  };

  // The refused display first: its downlink has the lowest id, so every run claims it first.
  const refused = await display(REFUSED_APP);
  const others = [await display(ALLOWED_APP), await display(ALLOWED_APP), await display(ALLOWED_APP)];
  await ingest.jobs.runOnce('display_downlinks');
  for (const d of others) {
    await waitFor(async () => (await downlinks(d.id))[0]?.status === 'published', 20_000, `display ${d.eui} published despite the refused one`);
  }
  await waitFor(() => others.every((d) => received.some((topic) => topic.includes(`/device/${d.eui}/`))), 10_000, 'their commands reached ChirpStack');
  const [bad] = await downlinks(refused.id);
  t.equal(bad.status, 'pending', 'the refused downlink stays pending, for a later attempt');
  t.match(bad.last_error, /publish failed/, 'and says its publish failed');
  t.notOk(received.some((topic) => topic.includes(refused.eui)), 'nothing for the refused display reached ChirpStack');

  // A later run, with the refused row still pending and due: a new display still gets its downlink.
  const late = await display(ALLOWED_APP);
  await ingest.jobs.runOnce('display_downlinks');
  await waitFor(async () => (await downlinks(late.id))[0]?.status === 'published', 20_000, 'a later display published too');
  await waitFor(() => received.some((topic) => topic.includes(`/device/${late.eui}/`)), 10_000, "the later display's command reached ChirpStack");
});
