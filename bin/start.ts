/**
 * `npm start`: the whole system on one machine with zero setup. Starts an embedded
 * PostgreSQL (unless DATABASE_URL is set) and an embedded MQTT broker (unless MQTT_URL
 * is set), migrates, then runs ingest and the API in this one process. Ctrl-C stops it
 * all in reverse order; data stays in DATA_DIR for the next start. `npm start` runs it as
 * `node --import tsx bin/start.ts` (src/shutdown.ts SIGNAL_ECHO_MS says why not the tsx CLI).
 */
import { ConfigError, loadConfig, type Config } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { startEmbeddedPostgres, type EmbeddedDb } from '../src/db/embedded.js';
import { createOwnerPool } from '../src/db/pool.js';
import { migrate } from '../src/db/migrate.js';
import { startEmbeddedBroker } from '../src/mqtt/broker.js';
import { BAYGATE_USERNAME, CHIRPSTACK_USERNAME, embeddedBrokerIdentities, urlWithCredentials } from '../src/mqtt/acl.js';
import { startIngest } from '../ingest/main.js';
import { startApi } from '../api/main.js';
import { createMetrics } from '../src/metrics.js';
import { SIGNAL_ECHO_MS } from '../src/shutdown.js';
import { hostname } from 'node:os';

/**
 * After a first Ctrl-C, shutdown gets this long before the process exits anyway.
 * (A terminal's Ctrl-C also reaches the embedded PostgreSQL, which shares our process
 * group and shuts down at once; nothing is lost by that, as uncommitted batches are not
 * acknowledged.)
 */
const SHUTDOWN_TIMEOUT_MS = 15_000;
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    // A configuration mistake is the user's to fix: its message names the variable; a stack trace would bury it.
    if (!(err instanceof ConfigError)) throw err;
    console.error(`baygate failed to start: ${err.message}`);
    process.exit(1);
  }
  const log = createLogger(config.logLevel, 'baygate');
  const stops: (() => Promise<void>)[] = [];
  let stoppingSince = 0;
  const shutdown = async (code: number) => {
    if (stoppingSince) {
      // A person's second Ctrl-C (not an echo of the first) forces the exit.
      if (Date.now() - stoppingSince > SIGNAL_ECHO_MS) process.exit(1);
      return;
    }
    stoppingSince = Date.now();
    setTimeout(() => process.exit(1), SHUTDOWN_TIMEOUT_MS).unref();
    for (const stop of stops.reverse()) {
      await stop().catch((err) => log.warn({ err }, 'error while stopping'));
    }
    console.log('baygate stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  try {
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      const db: EmbeddedDb = await startEmbeddedPostgres({
        dataDir: config.dataDir,
        port: config.embeddedPgPort,
        log,
        // Shutdown below stops the database itself, last, after ingest committed its batch.
        keepSignalHandlers: false,
      });
      stops.push(() => db.stop());
      databaseUrl = db.url;
      log.info({ port: db.port, dataDir: config.dataDir }, `embedded PostgreSQL on 127.0.0.1:${db.port}`);
    }
    const owner = createOwnerPool(databaseUrl, { max: 1, log, applicationName: 'baygate-migrate' });
    const applied = await migrate(owner).finally(() => owner.end());
    if (applied.length) log.info({ applied }, 'migrations applied');

    let mqttUrl = config.mqttUrl;
    let chirpstackUrl: string | null = null;
    if (!mqttUrl) {
      // src/config.ts generated the passwords (DATA_DIR/mqtt-credentials.json) when MQTT_URL is unset.
      const passwords = config.embeddedBrokerPasswords;
      if (!passwords) throw new ConfigError('MQTT_URL', 'is required when NODE_ENV=production: the embedded broker is for development');
      const identities = embeddedBrokerIdentities({ ...passwords, eventTopic: config.chirpstackEventTopic, commandTopic: config.chirpstackCommandTopic });
      const broker = await startEmbeddedBroker({ port: config.mqttPort, host: config.host, log, identities });
      stops.push(() => broker.close());
      // Ingest (consumer and display publisher) is baygate's own identity.
      mqttUrl = broker.urlFor(BAYGATE_USERNAME);
      chirpstackUrl = urlWithCredentials(`mqtt://${reachableHost(config.host)}:${broker.port}`, CHIRPSTACK_USERNAME, passwords.chirpstack);
      log.info(`embedded MQTT broker on ${broker.url} (username and password required)`);
    }

    // One registry for both: the API's /metrics then shows ingest's figures too, and no
    // second metrics port is opened.
    const metrics = createMetrics();
    const ingest = await startIngest({ config, databaseUrl, mqttUrl, log: log.child({ process: 'ingest' }), metrics, metricsServer: false });
    stops.push(() => ingest.stop());
    // One /ready for the whole system: the API's, with ingest's MQTT session among its checks.
    const api = await startApi(config, databaseUrl, log.child({ process: 'api' }), metrics, ingest.readyChecks);
    stops.push(() => api.stop());
    log.info(`API on ${api.url} (health: ${api.url}/health)`);
    // The one place the ChirpStack identity's password is shown, on purpose: it is what a
    // user copies into ChirpStack's [integration.mqtt] `server` (README "Run it").
    // It goes to the terminal only, never through the logger; before "baygate is up", so
    // whoever waits for that line has this one too.
    if (chirpstackUrl) console.log(`ChirpStack [integration.mqtt] server: ${chirpstackUrl} (credentials in ${config.dataDir}/mqtt-credentials.json)`);
    // A plain line for people and for the start-up test, whatever LOG_LEVEL says.
    console.log(`baygate is up: API ${api.url}, MQTT ${mqttUrl.replace(/\/\/[^@/]*@/, '//***@')}`);
  } catch (err) {
    console.error(`baygate failed to start: ${err instanceof Error ? err.message : String(err)}`);
    await shutdown(1);
  }
}

/** A wildcard listen address is no address to give ChirpStack: name this machine instead. */
function reachableHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return hostname();
  return host.includes(':') ? `[${host}]` : host;
}

void main();
