// The MQTT part of loadConfig: the embedded broker's passwords generated once into DATA_DIR
// (mode 0600, stable across starts, never in production), and the TLS files' rules.
import t, { type Test } from 'tap';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';

const SECRET = 'a-secret-of-at-least-thirty-two-characters';

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'baygate-config-mqtt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('embedded broker passwords: generated once, 0600, kept', async (t) => {
  const dir = tempDir(t);
  const first = loadConfig({ DATA_DIR: dir, JWT_SECRET: SECRET }).embeddedBrokerPasswords!;
  t.match(first, { chirpstack: /^[A-Za-z0-9_-]{43}$/, baygate: /^[A-Za-z0-9_-]{43}$/ }, 'two URL-safe 256-bit passwords');
  t.not(first.chirpstack, first.baygate);
  t.same(readdirSync(dir), ['mqtt-credentials.json'], 'one file, no temporary left behind');
  t.equal(statSync(join(dir, 'mqtt-credentials.json')).mode & 0o777, 0o600, 'readable by its owner only');
  t.same(loadConfig({ DATA_DIR: dir, JWT_SECRET: SECRET }).embeddedBrokerPasswords, first, 'the next start reads the same');
  t.equal(loadConfig({ DATA_DIR: tempDir(t), JWT_SECRET: SECRET, MQTT_URL: 'mqtt://h:1883' }).embeddedBrokerPasswords, undefined, 'none with MQTT_URL');
  const prod = tempDir(t);
  t.equal(loadConfig({ NODE_ENV: 'production', DATA_DIR: prod, JWT_SECRET: SECRET }).embeddedBrokerPasswords, undefined, 'none in production');
  t.same(readdirSync(prod), [], 'production writes nothing');
  writeFileSync(join(dir, 'mqtt-credentials.json'), '{"chirpstack": ""}');
  t.throws(() => loadConfig({ DATA_DIR: dir, JWT_SECRET: SECRET }), { variable: 'DATA_DIR', message: /mqtt-credentials\.json/ }, 'a damaged file is named');
});

t.test('MQTT TLS files', async (t) => {
  const dir = tempDir(t);
  const pem = join(dir, 'x.pem');
  writeFileSync(pem, 'pem');
  const base = { DATA_DIR: dir, JWT_SECRET: SECRET };
  const c = loadConfig({ ...base, MQTT_URL: 'mqtts://h:8883', MQTT_CA_FILE: pem, MQTT_CERT_FILE: pem, MQTT_KEY_FILE: pem });
  t.match(c, { mqttCaFile: pem, mqttCertFile: pem, mqttKeyFile: pem });
  t.throws(() => loadConfig({ ...base, MQTT_URL: 'mqtts://h:8883', MQTT_CA_FILE: join(dir, 'missing.pem') }), { variable: 'MQTT_CA_FILE', message: /does not exist/ });
  t.throws(() => loadConfig({ ...base, MQTT_URL: 'mqtts://h:8883', MQTT_CERT_FILE: pem }), { variable: 'MQTT_KEY_FILE', message: /together/ }, 'a certificate needs its key');
  t.throws(() => loadConfig({ ...base, MQTT_URL: 'mqtts://h:8883', MQTT_KEY_FILE: pem }), { variable: 'MQTT_CERT_FILE', message: /together/ }, 'a key needs its certificate');
  t.throws(() => loadConfig({ ...base, MQTT_URL: 'mqtt://h:1883', MQTT_CA_FILE: pem }), { variable: 'MQTT_CA_FILE', message: /mqtts/ }, 'TLS files without mqtts://');
});
