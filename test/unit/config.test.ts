// loadConfig fails fast naming the variable, requires JWT_SECRET in production and, in
// development, generates one once and keeps it in DATA_DIR so tokens survive a restart.
import t, { type Test } from 'tap';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.js';

const SECRET = 'a-secret-of-at-least-thirty-two-characters';

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'baygate-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('NODE_ENV=production without JWT_SECRET is refused, naming the variable', async (t) => {
  const dir = tempDir(t);
  t.throws(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: dir }), { name: 'ConfigError', variable: 'JWT_SECRET', message: /JWT_SECRET.*production/ });
  t.throws(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: dir, JWT_SECRET: '' }), { variable: 'JWT_SECRET', message: /production/ }, 'empty counts as missing');
  const c = loadConfig({ NODE_ENV: 'production', DATA_DIR: dir, JWT_SECRET: SECRET });
  t.equal(c.jwtSecret, SECRET);
  t.equal(c.production, true);
  t.same(readdirSync(dir), [], 'production never writes a generated secret');
});

t.test('a JWT_SECRET shorter than 32 characters is refused in every mode', async (t) => {
  const dir = tempDir(t);
  for (const NODE_ENV of ['production', 'development']) {
    t.throws(() => loadConfig({ NODE_ENV, DATA_DIR: dir, JWT_SECRET: 'x'.repeat(31) }), { variable: 'JWT_SECRET', message: /at least 32/ }, NODE_ENV);
  }
});

t.test('development: a secret is generated once into DATA_DIR and kept', async (t) => {
  const dir = join(tempDir(t), 'not-yet-there');
  const first = loadConfig({ DATA_DIR: dir });
  t.equal(first.production, false);
  t.ok(first.jwtSecret.length >= 32, 'long enough for HS256');
  t.equal(readFileSync(join(dir, 'jwt-secret'), 'utf8').trim(), first.jwtSecret, 'kept in DATA_DIR');
  t.equal(statSync(join(dir, 'jwt-secret')).mode & 0o777, 0o600, 'readable by its owner only');
  t.equal(loadConfig({ DATA_DIR: dir }).jwtSecret, first.jwtSecret, 'the next start reuses it');
  t.equal(loadConfig({ DATA_DIR: dir, JWT_SECRET: SECRET }).jwtSecret, SECRET, 'a given secret wins');
});

t.test('defaults, and bad values name their variable', async (t) => {
  const dir = tempDir(t);
  const c = loadConfig({ DATA_DIR: dir });
  t.match(c, { port: 8001, mqttPort: 1883, embeddedPgPort: 0, logLevel: 'info', accessTokenMinutes: 60, refreshTokenDays: 30, databaseUrl: undefined, mqttUrl: undefined });
  t.ok(Object.isFrozen(c), 'frozen');
  const cases: [string, string][] = [
    ['PORT', 'http'],
    ['PORT', '65536'],
    ['MQTT_PORT', '-1'],
    ['EMBEDDED_PG_PORT', '5432.5'],
    ['ACCESS_TOKEN_MINUTES', '0'],
    ['REFRESH_TOKEN_DAYS', 'thirty'],
    ['WEBHOOK_ALLOW_PRIVATE', 'yes'],
  ];
  for (const [name, value] of cases) {
    let caught: unknown;
    try {
      loadConfig({ DATA_DIR: dir, [name]: value });
    } catch (err) {
      caught = err;
    }
    t.ok(caught instanceof ConfigError, `${name}=${value} is refused`);
    t.match(caught, { variable: name, message: new RegExp(`^${name}: .*"${value}"`) }, `${name}=${value}: the message names the variable and the value`);
  }
  t.match(loadConfig({ DATA_DIR: dir, DATABASE_URL: 'postgres://x@h/db', MQTT_URL: 'mqtt://h:1883' }), { databaseUrl: 'postgres://x@h/db', mqttUrl: 'mqtt://h:1883' });
});
