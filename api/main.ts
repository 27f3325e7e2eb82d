/**
 * Composition root of the API process (`npm run start:api`): config, pool, schema check,
 * HTTP listener, and an orderly shutdown on SIGTERM/SIGINT.
 */
import type { Server } from 'node:http';
import { loadConfig, type Config } from '../src/config.js';
import { createLogger, type Logger } from '../src/log.js';
import { assertRlsBinds, createRuntimePool } from '../src/db/pool.js';
import { assertSchemaCurrent } from '../src/db/migrate.js';
import { assertPortFree } from '../src/net.js';
import { buildApp } from './app.js';
import { createApiServer, listenApi } from './server.js';
import { startLive } from './live/index.js';
import { createMetrics, type Metrics } from '../src/metrics.js';
import { ensureConsoleBuilt } from '../web/build.js';
import { installShutdown } from '../src/shutdown.js';
import type { Check } from '../src/readiness.js';

/** How long shutdown lets requests in flight finish (within src/shutdown.ts SHUTDOWN_TIMEOUT_MS). */
const REQUEST_DRAIN_MS = 5_000;

export interface ApiProcess {
  server: Server;
  url: string;
  stop(): Promise<void>;
}

export async function startApi(
  config: Config,
  databaseUrl: string,
  log: Logger,
  metrics: Metrics = createMetrics(),
  readyChecks?: Record<string, Check>,
): Promise<ApiProcess> {
  const pool = createRuntimePool(databaseUrl, 'baygate_app', { max: config.dbPoolMax, log, applicationName: 'baygate-api' });
  await assertSchemaCurrent(pool);
  await assertRlsBinds(pool);
  if (config.port !== 0) await assertPortFree(config.port, config.host, 'PORT');
  // The live stream: one LISTEN connection, SSE and WebSocket clients (api/live/).
  const live = await startLive({ config, pool, databaseUrl, log: log.child({ component: 'live' }), metrics });
  // `npm install` builds the console (prepare); a checkout that skipped it must not serve nothing at /.
  if (await ensureConsoleBuilt()) log.info('web console built into web/dist');
  const app = buildApp({ config, pool, log, metrics, live: live.hub, readyChecks });
  const server = createApiServer(config, app.callback());
  server.on('upgrade', live.upgrade);
  await listenApi(server, config.port, config.host);
  // After start-up an error on the listener is logged, not an uncaught 'error' event.
  server.on('error', (err) => log.error({ err }, 'API server error'));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  return {
    server,
    url,
    async stop() {
      // Stop taking work first: no new connections, idle keep-alive ones closed (Node ≥ 19).
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await live.stop(); // ends every stream, so server.close() is not kept waiting by them
      // Requests in flight may finish, up to a bound; whatever is left is then cut.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, REQUEST_DRAIN_MS)))]);
      clearTimeout(timer);
      server.closeAllConnections();
      await closed;
      await pool.end();
    },
  };
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const log = createLogger(config.logLevel, 'baygate-api');
  if (!config.databaseUrl) throw new Error('DATABASE_URL: is required for `start:api` (use `npm start` for the embedded database)');
  const api = await startApi(config, config.databaseUrl, log);
  // A second signal or the shutdown timeout forces the exit (src/shutdown.ts).
  installShutdown({ log, stop: () => api.stop() });
  log.info({ url: api.url }, 'API listening');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
