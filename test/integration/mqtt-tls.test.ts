// MQTT over TLS with client certificates (issue 17 §1): a private Mosquitto with a TLS
// listener and `require_certificate true` (mosquitto.conf(5)), and a CA and certificates
// this test makes with openssl. Ingest, given MQTT_CA_FILE, MQTT_CERT_FILE and MQTT_KEY_FILE,
// connects both its consumer and its display publisher (src/mqtt/connection.ts) and applies
// an uplink; a client without a certificate, or with one from another CA, is refused.
import t, { type Test } from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import mqtt from 'mqtt';
import { startIngest } from '../../ingest/main.js';
import { MqttConsumer } from '../../ingest/mqtt.js';
import { createLogger } from '../../src/log.js';
import { freePort } from '../../src/net.js';
import { eventTopic, upEvent } from '../../src/simulator/events.js';
import { testConfig } from '../helpers/api.js';
import { testDb } from '../helpers/db.js';
import { seedFleets } from '../helpers/fleet.js';
import { waitFor } from '../helpers/wait.js';

const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p));
const log = createLogger(process.env.LOG_LEVEL ?? 'silent', 'test-mqtt-tls');
const DEV_EUI = '70B3D5E7C0000001';

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA, and a certificate it signs for `cn` (with an IP subjectAltName for the server). */
function makeCa(dir: string, name: string): void {
  openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=baygate test ${name} CA`, '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`);
}
function makeCert(dir: string, ca: string, name: string, cn: string, serverIp?: string): void {
  openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, serverIp ? `subjectAltName=IP:${serverIp}\nextendedKeyUsage=serverAuth\n` : 'extendedKeyUsage=clientAuth\n');
  openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}-ca.pem`, '-CAkey', `${ca}-ca.key`, '-CAcreateserial', '-days', '1', '-extfile', ext, '-out', `${name}.pem`);
}

t.test('mqtts:// with a client certificate, against Mosquitto with require_certificate true', async (t) => {
  // Nothing here is skipped silently: .ci/run installs both.
  if (!MOSQUITTO) return t.fail('needs the mosquitto binary at /usr/sbin/mosquitto (apt-get install mosquitto)');
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    return t.fail('needs the openssl binary (apt-get install openssl)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'baygate-mqtt-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  makeCa(dir, 'good');
  makeCa(dir, 'other');
  makeCert(dir, 'good', 'server', '127.0.0.1', '127.0.0.1');
  makeCert(dir, 'good', 'client', 'baygate');
  makeCert(dir, 'other', 'stranger', 'baygate');
  // Started as root, Mosquitto drops to the `mosquitto` user (mosquitto.conf(5) `user`), which must read these.
  chmodSync(dir, 0o777);
  for (const f of ['good-ca.pem', 'server.pem', 'server.key']) chmodSync(join(dir, f), 0o644);

  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      `cafile ${join(dir, 'good-ca.pem')}`,
      `certfile ${join(dir, 'server.pem')}`,
      `keyfile ${join(dir, 'server.key')}`,
      'require_certificate true',
      // The certificate is the credential here; the ACL side is deploy/mosquitto's and broker-auth.test.ts's.
      'allow_anonymous true',
      'persistence false',
      // A file, not stdout: Mosquitto flushes its log file per line, stdout only when it fills.
      `log_dest file ${join(dir, 'mosquitto.log')}`,
      'log_type notice',
      'connection_messages true',
      '',
    ].join('\n'),
  );
  const broker = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  broker.stderr.on('data', (b) => (stderr += b));
  const logFile = join(dir, 'mosquitto.log');
  const brokerLog = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : stderr);
  const exited = new Promise<void>((r) => broker.once('exit', () => r()));
  t.teardown(async () => {
    broker.kill();
    await exited;
  });
  // Ready once the TLS listener completes a handshake with a good client certificate.
  const files = { ca: readFileSync(join(dir, 'good-ca.pem')), cert: readFileSync(join(dir, 'client.pem')), key: readFileSync(join(dir, 'client.key')) };
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const s = tlsConnect({ host: '127.0.0.1', port, ...files }, () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      }),
    10_000,
    `Mosquitto's TLS listener (log: ${brokerLog()})`,
    100,
  );
  const url = `mqtts://127.0.0.1:${port}`;

  t.test('ingest connects with the right certificate: an uplink is applied, and the display publisher is connected too', async (t) => {
    const db = await testDb(t);
    await seedFleets(db.owner, { id: '00000000-0000-4000-8000-0000000c1a55', name: 'TLS', slug: 'tls' }, [{ first: DEV_EUI, devices: 1 }]);
    const id = randomBytes(4).toString('hex');
    const template = `bgt-${id}/application/{application_id}/device/{dev_eui}/event/{event}`;
    const clientId = `bgt-tls-${id}`;
    const config = testConfig({
      MQTT_URL: url,
      MQTT_CA_FILE: join(dir, 'good-ca.pem'),
      MQTT_CERT_FILE: join(dir, 'client.pem'),
      MQTT_KEY_FILE: join(dir, 'client.key'),
      CHIRPSTACK_EVENT_TOPIC: template,
      MQTT_CLIENT_ID: clientId,
      INGEST_BATCH_MAX_MS: '5',
    });
    const ingest = await startIngest({ config, databaseUrl: db.url, mqttUrl: url, log, metricsServer: false });
    t.teardown(() => ingest.stop());
    await waitFor(() => ingest.consumer.connected, 10_000, 'ingest subscribed over TLS');
    // Mosquitto logs each client it accepts: the display publisher's is the consumer's id + "-displays".
    await waitFor(() => brokerLog().includes(`as ${clientId}-displays `), 10_000, 'the display publisher over TLS');
    const pub = await mqtt.connectAsync(url, { ...files, clientId: `bgt-tls-pub-${id}`, reconnectPeriod: 0 });
    t.teardown(() => pub.endAsync());
    await pub.publishAsync(eventTopic(template, DEV_EUI, 'up'), JSON.stringify(upEvent({ devEui: DEV_EUI, fCnt: 1, fPort: 1, data: Buffer.from([1]) })), { qos: 1 });
    await waitFor(async () => (await db.owner.query(`SELECT count(*)::int AS n FROM sensor_readings`)).rows[0].n === 1, 10_000, 'the uplink applied');
    t.pass('the uplink went through TLS and was applied');
  });

  const refused = async (t: Test, tls: { ca: Buffer; cert?: Buffer; key?: Buffer }, what: string, why: RegExp) => {
    const errors: Error[] = [];
    const consumer = new MqttConsumer({
      url,
      tls,
      clientId: `bgt-tls-refused-${randomBytes(3).toString('hex')}`,
      filters: ['bgt-refused/#'],
      cleanSession: true,
      reconnectMinMs: 50,
      reconnectMaxMs: 100,
      log,
      onMessage: () => {},
      onError: (e) => errors.push(e),
    });
    t.teardown(() => consumer.close());
    consumer.start();
    await waitFor(() => errors.length >= 2, 10_000, `${what}: two refused attempts`);
    t.equal(consumer.stats.connects, 0, `${what}: never connected`);
    t.match(errors[0]!.message, why, `${what}: the TLS handshake says why`);
  };

  t.test('refused without a client certificate', async (t) => {
    await refused(t, { ca: files.ca }, 'no certificate', /certificate required|handshake failure/);
  });

  t.test('refused with a certificate from another CA', async (t) => {
    await refused(t, { ca: files.ca, cert: readFileSync(join(dir, 'stranger.pem')), key: readFileSync(join(dir, 'stranger.key')) }, 'another CA', /unknown ca/);
  });
});
