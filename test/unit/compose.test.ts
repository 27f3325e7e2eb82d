// docker-compose.yml, checked without a Docker engine: every service, image, port,
// dependency and health check; the baygate services set every variable production needs,
// and only variables src/config.ts reads, with a configuration loadConfig accepts; the
// files the stack mounts exist; ChirpStack publishes JSON at QoS 1 on the topic ingest
// reads; the Dockerfile is multi-stage, production-only and non-root.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.js';
import defaults from '../../config/defaults.json' with { type: 'json' };
import pkg from '../../package.json' with { type: 'json' };
import { INGEST_NODE_FLAGS } from '../../ingest/main.js';

const ROOT = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, ROOT), 'utf8');
// Compose resolves YAML merge keys (`<<: *baygate-env`); so must we.
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string } | string;
  command?: string | string[];
  environment?: Record<string, string> | string[];
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] | string };
  entrypoint?: string[] | string;
  restart?: string;
}

const services = compose.services;
const BAYGATE = ['baygate-api', 'baygate-ingest'];

function env(name: string): Record<string, string> {
  const e = services[name]!.environment ?? {};
  if (Array.isArray(e)) return Object.fromEntries(e.map((kv) => kv.split(/=(.*)/s).slice(0, 2) as [string, string]));
  return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, String(v)]));
}

/** What compose makes of `${VAR:?msg}` / `${VAR:-default}` given `given`; throws on a missing required one. */
function interpolate(value: string, given: Record<string, string>): string {
  return value.replace(/\$\{([A-Z_][A-Z0-9_]*)(?::([?-])([^}]*))?\}/g, (_m, name: string, op?: string, arg?: string) => {
    if (given[name] !== undefined && given[name] !== '') return given[name]!;
    if (op === '?') throw new Error(`${name} is required: ${arg}`);
    if (op === '-') return arg ?? '';
    return '';
  });
}

/** The variables src/config.ts reads (the same parse as test/unit/config-docs.test.ts). */
const configVariables = new Set([...read('src/config.ts').matchAll(/\benv,\s*'([A-Z][A-Z0-9_]*)'/g)].map((m) => m[1]!));

const SECRETS = {
  JWT_SECRET: 'x'.repeat(40),
  POSTGRES_PASSWORD: 'pg-password',
  CHIRPSTACK_POSTGRES_PASSWORD: 'cs-password',
  CHIRPSTACK_API_SECRET: 'cs-secret',
  MQTT_CHIRPSTACK_PASSWORD: 'mqtt-cs-password',
  MQTT_BAYGATE_PASSWORD: 'mqtt-bg-password',
  MQTT_GATEWAY_BRIDGE_PASSWORD: 'mqtt-gw-password',
};

t.test('services and images', async (t) => {
  t.same(
    Object.keys(services).sort(),
    ['baygate-api', 'baygate-ingest', 'baygate-migrate', 'chirpstack', 'chirpstack-gateway-bridge', 'mosquitto', 'postgres', 'redis'].sort(),
  );
  t.equal(services.postgres!.image, 'postgres:16');
  t.equal(services.mosquitto!.image, 'eclipse-mosquitto:2');
  t.equal(services.chirpstack!.image, 'chirpstack/chirpstack:4');
  t.equal(services['chirpstack-gateway-bridge']!.image, 'chirpstack/chirpstack-gateway-bridge:4');
  t.match(services.redis!.image, /^redis:/);
  for (const name of ['baygate-migrate', ...BAYGATE]) {
    const build = services[name]!.build;
    t.ok(build, `${name} is built from the repository`);
    const context = typeof build === 'string' ? build : build!.context;
    const dockerfile = typeof build === 'string' ? 'Dockerfile' : (build!.dockerfile ?? 'Dockerfile');
    t.equal(context, '.');
    t.ok(existsSync(new URL(dockerfile, ROOT)), `${dockerfile} exists`);
  }
  t.same(services['baygate-migrate']!.command, ['node', 'bin/baygate.js', 'migrate']);
  t.equal(services['baygate-migrate']!.restart, 'no', 'the migration runs once');
  t.same(services['baygate-api']!.command, ['node', '--import', 'tsx', 'api/main.ts']);
  t.same(services['baygate-ingest']!.command, ['node', ...INGEST_NODE_FLAGS, '--import', 'tsx', 'ingest/main.ts']);
  t.equal(pkg.scripts['start:ingest'], ['node', ...INGEST_NODE_FLAGS, '--import', 'tsx', 'ingest/main.ts'].join(' '), 'npm run start:ingest runs it the same way');
  for (const cmd of [services['baygate-api']!.command, services['baygate-ingest']!.command]) {
    t.ok(existsSync(new URL((cmd as string[]).at(-1)!, ROOT)), `${(cmd as string[]).at(-1)} exists`);
  }
});

t.test('ports', async (t) => {
  const ports = (name: string) => services[name]!.ports ?? [];
  t.same(ports('baygate-api'), [`${defaults.PORT}:${defaults.PORT}`], 'API on PORT');
  t.same(ports('baygate-ingest'), [`${defaults.METRICS_PORT}:${defaults.METRICS_PORT}`], 'ingest metrics on METRICS_PORT');
  t.same(ports('mosquitto'), [], 'MQTT is not published on the host unless an override opts in');
  for (const [name, s] of Object.entries(services)) {
    t.notOk((s.ports ?? []).some((p) => /(^|:)1883(\/|$)/.test(String(p))), `${name} publishes no 1883`);
  }
  t.same(ports('chirpstack'), ['8080:8080']);
  t.same(ports('chirpstack-gateway-bridge'), ['1700:1700/udp'], 'Semtech UDP packet forwarders');
  t.same(ports('postgres'), [], 'PostgreSQL is not published');
  t.equal(env('baygate-api').PORT, String(defaults.PORT));
  t.equal(env('baygate-ingest').METRICS_PORT, String(defaults.METRICS_PORT));
});

t.test('dependencies and health checks', async (t) => {
  const healthy = new Set(Object.entries(services).filter(([, s]) => s.healthcheck).map(([n]) => n));
  for (const name of ['postgres', 'redis', 'mosquitto', ...BAYGATE]) t.ok(healthy.has(name), `${name} has a health check`);
  for (const [name, s] of Object.entries(services)) {
    const deps = s.depends_on ?? {};
    t.notOk(Array.isArray(deps), `${name} states a condition for each dependency`);
    for (const [dep, { condition }] of Object.entries(deps as Record<string, { condition: string }>)) {
      t.ok(services[dep], `${name} → ${dep} is a service`);
      if (condition === 'service_healthy') t.ok(healthy.has(dep), `${name} waits for ${dep}'s health check`);
    }
  }
  const deps = (name: string) => services[name]!.depends_on as Record<string, { condition: string }>;
  for (const name of BAYGATE) {
    t.equal(deps(name)['baygate-migrate']?.condition, 'service_completed_successfully', `${name} starts after the migration`);
    t.equal(deps(name).postgres?.condition, 'service_healthy');
  }
  t.equal(deps('baygate-ingest').mosquitto?.condition, 'service_healthy');
  t.equal(deps('baygate-migrate').postgres?.condition, 'service_healthy');
  for (const dep of ['postgres', 'redis', 'mosquitto']) t.ok(deps('chirpstack')[dep], `chirpstack needs ${dep}`);

  const probe = (name: string) => JSON.stringify(services[name]!.healthcheck!.test);
  t.match(probe('baygate-api'), `127.0.0.1:${defaults.PORT}/ready`, 'the API is healthy when ready');
  t.match(probe('baygate-ingest'), `127.0.0.1:${defaults.METRICS_PORT}/ready`, 'ingest is healthy when ready (DB, schema, MQTT)');
});

t.test('the baygate services set what production reads, and nothing else', async (t) => {
  for (const name of ['baygate-migrate', ...BAYGATE]) {
    for (const key of Object.keys(env(name))) t.ok(configVariables.has(key), `${name} sets ${key}, which src/config.ts reads`);
    t.equal(env(name).NODE_ENV, 'production');
    t.match(env(name).DATABASE_URL, /@postgres:5432\//);
  }
  for (const name of BAYGATE) {
    t.match(env(name).JWT_SECRET, /^\$\{JWT_SECRET:\?[^}]*\}$/, `${name}: JWT_SECRET comes from the environment, with no default`);
  }
  t.equal(env('baygate-ingest').MQTT_URL, 'mqtt://baygate:${MQTT_BAYGATE_PASSWORD:?set MQTT_BAYGATE_PASSWORD}@mosquitto:1883', "ingest is baygate's identity, its password from the environment");
  t.ok(env('baygate-ingest').MQTT_CLIENT_ID, 'ingest names its persistent session');

  const resolved = (name: string) => Object.fromEntries(Object.entries(env(name)).map(([k, v]) => [k, interpolate(v, SECRETS)]));
  t.throws(() => interpolate(env('baygate-api').JWT_SECRET!, {}), /JWT_SECRET is required/, 'compose refuses to start without JWT_SECRET');
  const api = loadConfig(resolved('baygate-api'));
  t.match(api, { production: true, port: defaults.PORT, host: '0.0.0.0', jwtSecret: SECRETS.JWT_SECRET });
  t.equal(new URL(api.databaseUrl!).hostname, 'postgres');
  t.equal(decodeURIComponent(new URL(api.databaseUrl!).password), SECRETS.POSTGRES_PASSWORD);
  const ingest = loadConfig(resolved('baygate-ingest'));
  t.match(ingest, { production: true, metricsPort: defaults.METRICS_PORT, mqttClientId: 'baygate-ingest-1' });
  t.equal(new URL(ingest.mqttUrl!).hostname, 'mosquitto');
  t.equal(new URL(ingest.mqttUrl!).username, 'baygate');
  t.equal(decodeURIComponent(new URL(ingest.mqttUrl!).password), SECRETS.MQTT_BAYGATE_PASSWORD);
  t.equal(ingest.chirpstackEventTopic, defaults.CHIRPSTACK_EVENT_TOPIC);
  for (const name of ['postgres', 'chirpstack', 'mosquitto', 'chirpstack-gateway-bridge']) {
    for (const [k, v] of Object.entries(env(name))) {
      if (/PASSWORD|SECRET/.test(k)) t.match(v, /^\$\{[A-Z_]+:\?[^}]*\}$/, `${name}: ${k} has no default`);
    }
  }
});

t.test('mounted files exist', async (t) => {
  let mounts = 0;
  for (const [name, s] of Object.entries(services)) {
    for (const v of s.volumes ?? []) {
      const [source] = v.split(':');
      if (!source!.startsWith('.')) {
        t.ok(compose.volumes && source! in compose.volumes, `${name}: named volume ${source} is declared`);
        continue;
      }
      mounts++;
      t.ok(existsSync(new URL(source!, ROOT)), `${name} mounts ${source}, which exists`);
    }
  }
  t.ok(mounts >= 4, `${mounts} bind mounts checked`);
});

t.test('ChirpStack publishes what ingest reads', async (t) => {
  const toml = read('deploy/chirpstack/chirpstack.toml');
  t.match(toml, /^\s*enabled=\["mqtt"\]/m, 'the MQTT integration is enabled');
  t.match(toml, /^\s*json=true/m, 'JSON encoding');
  t.match(toml, /^\s*qos=1/m, 'at least once');
  const topic = /^\s*event_topic="([^"]+)"/m.exec(toml)?.[1];
  t.equal(topic?.replace(/\{\{\s*(\w+)\s*\}\}/g, '{$1}'), env('baygate-ingest').CHIRPSTACK_EVENT_TOPIC, 'the topic ingest subscribes to');
  t.match(toml, /secret="\$CHIRPSTACK_API_SECRET"/, 'the API secret comes from the environment');
  const regions = JSON.parse(/enabled_regions=(\[[^\]]*\])/.exec(toml)![1]!) as string[];
  for (const r of regions) {
    t.ok(existsSync(new URL(`deploy/chirpstack/region_${r}.toml`, ROOT)), `region ${r} has its file`);
    t.match(read(`deploy/chirpstack/region_${r}.toml`), `id="${r}"`);
  }
  for (const v of ['MQTT_BROKER_HOST', 'REDIS_HOST', 'POSTGRESQL_HOST', 'CHIRPSTACK_POSTGRES_PASSWORD', 'CHIRPSTACK_API_SECRET']) {
    t.ok(env('chirpstack')[v], `chirpstack gets ${v} for its configuration`);
  }
  const mosquitto = read('deploy/mosquitto/mosquitto.conf');
  t.match(mosquitto, /^listener 1883/m);
  t.match(mosquitto, /^persistence true$/m, 'queues survive a broker restart');
  const autosave = Number(/^autosave_interval (\d+)$/m.exec(mosquitto)?.[1]);
  t.ok(autosave > 0 && autosave <= 60, `queues reach disk within a minute, not the default half hour (autosave_interval ${autosave})`);
  t.match(read('deploy/chirpstack-gateway-bridge/chirpstack-gateway-bridge.toml'), 'tcp://mosquitto:1883');
  t.match(read('deploy/postgres/initdb/001-chirpstack.sh'), 'CREATE DATABASE chirpstack');
});

t.test('Mosquitto takes only known clients, each on its own topics (issue 17)', async (t) => {
  const conf = read('deploy/mosquitto/mosquitto.conf');
  t.match(conf, /^allow_anonymous false$/m, 'no anonymous clients');
  t.notMatch(conf, /^allow_anonymous true/m);
  t.match(conf, /^password_file \/mosquitto\/auth\/passwd$/m, 'a password file');
  t.match(conf, /^acl_file \/mosquitto\/auth\/acl$/m, 'an ACL file');
  t.match(conf, /^max_packet_size 262144$/m, "the embedded broker's packet bound (MQTT_MAX_PACKET_BYTES)");
  t.match(conf, /^#listener 8883$/m, 'a TLS listener, documented');
  t.match(conf, /^#require_certificate true$/m);
  const mosquitto = services.mosquitto!;
  t.same(mosquitto.entrypoint, ['/bin/sh', '/mosquitto/config/entrypoint.sh'], 'the password file is built at container start');
  const entry = read('deploy/mosquitto/entrypoint.sh');
  for (const user of ['chirpstack', 'baygate', 'gateway-bridge', 'healthcheck']) t.match(entry, new RegExp(`mosquitto_passwd -b "\\$dir/passwd" ${user} `), `${user} gets its password`);
  for (const v of ['MQTT_CHIRPSTACK_PASSWORD', 'MQTT_BAYGATE_PASSWORD', 'MQTT_GATEWAY_BRIDGE_PASSWORD']) {
    t.match(entry, `: "\${${v}:?`, `entrypoint.sh refuses to start without ${v}`);
    t.match(env('mosquitto')[v], new RegExp(`^\\$\\{${v}:\\?[^}]*\\}$`), `compose requires ${v}, with no default`);
    t.throws(() => interpolate(env('mosquitto')[v]!, {}), new RegExp(`${v} is required`));
  }
  // The ACL: every identity, each only its own topics.
  const acl = read('deploy/mosquitto/acl');
  const rules: Record<string, string[]> = {};
  let user = '';
  for (const line of acl.split('\n')) {
    const m = /^user (\S+)$/.exec(line);
    if (m) rules[(user = m[1]!)] = [];
    else if (/^topic /.test(line)) rules[user]!.push(line.slice('topic '.length));
  }
  t.same(rules.baygate, ['read application/+/device/+/event/+', 'write application/+/device/+/command/+'], 'baygate: events in, commands out');
  t.same(rules.chirpstack!.slice(0, 2), ['write application/+/device/+/event/+', 'read application/+/device/+/command/+'], 'ChirpStack: events out, commands in');
  for (const [who, topics] of Object.entries(rules)) {
    for (const topic of topics) t.notMatch(topic, /#/, `${who} has no # rule (${topic})`);
    t.notOk(topics.some((x) => /^readwrite /.test(x)), `${who}: no readwrite rule`);
  }
  t.notMatch(acl, /^pattern /m, 'no pattern rule applies to every client');
  // ChirpStack's own configuration uses its identity, from the environment.
  t.match(read('deploy/chirpstack/chirpstack.toml'), /username="chirpstack"\s+password="\$MQTT_CHIRPSTACK_PASSWORD"/);
  t.match(read('deploy/chirpstack/region_eu868.toml'), /username="chirpstack"\s+password="\$MQTT_CHIRPSTACK_PASSWORD"/);
  t.equal(env('chirpstack').MQTT_CHIRPSTACK_PASSWORD, '${MQTT_CHIRPSTACK_PASSWORD:?set MQTT_CHIRPSTACK_PASSWORD}');
  t.equal(env('chirpstack-gateway-bridge').INTEGRATION__MQTT__AUTH__GENERIC__USERNAME, 'gateway-bridge');
});

t.test('no secret is committed in the deployment files', async (t) => {
  const files = [
    'docker-compose.yml', 'deploy/mosquitto/mosquitto.conf', 'deploy/mosquitto/acl', 'deploy/mosquitto/entrypoint.sh',
    'deploy/chirpstack/chirpstack.toml', 'deploy/chirpstack/region_eu868.toml', 'deploy/chirpstack-gateway-bridge/chirpstack-gateway-bridge.toml',
  ];
  let checked = 0;
  for (const f of files) {
    const text = read(f);
    // A password or secret is given only as a variable ($NAME, ${NAME…}) or left empty.
    for (const m of text.matchAll(/^\s*[\w.-]*(?:password|secret)[\w.-]*\s*[=:]\s*"?([^"\s#]*)"?/gim)) {
      const value = m[1]!;
      t.ok(value === '' || value.startsWith('$'), `${f}: ${m[0].trim()} is a variable or empty`);
      checked++;
    }
    t.notMatch(text, /mqtt:\/\/[^:/\s]+:(?!\$\{)[^@\s]+@/, `${f}: no literal password in an MQTT URL`);
  }
  t.ok(checked >= 10, `${checked} password and secret settings checked`);
});

t.test('Dockerfile: multi-stage, production dependencies only, non-root', async (t) => {
  const dockerfile = read('Dockerfile');
  t.ok((dockerfile.match(/^FROM /gm) ?? []).length >= 2, 'multi-stage');
  t.match(dockerfile, /npm ci --omit=dev/, 'production dependencies only, as locked');
  t.match(dockerfile, /^USER node$/m, 'runs as the unprivileged node user');
  t.notMatch(dockerfile, /^USER root$/m);
  t.match(dockerfile, /^CMD \["node", "--import", "tsx", "api\/main.ts"\]$/m);
  for (const dir of ['config', 'migrations', 'src', 'api', 'ingest', 'bin']) t.match(dockerfile, new RegExp(`^COPY ${dir} `, 'm'), `copies ${dir}/`);
  const ignore = read('.dockerignore').split('\n').map((l) => l.trim());
  for (const entry of ['node_modules', '.data', '.git', '.env']) t.ok(ignore.includes(entry), `.dockerignore keeps ${entry} out`);
});
