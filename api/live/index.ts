/**
 * Composition of the live stream in the API process: the hub, its LISTEN connection and
 * the WebSocket endpoint, started and stopped together (api/main.ts, test/helpers/api.ts).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../../src/config.js';
import type { Pool } from '../../src/db/pool.js';
import type { Logger } from '../../src/log.js';
import type { Metrics } from '../../src/metrics.js';
import { LiveHub } from './hub.js';
import { startListener } from './listener.js';
import { wsEndpoint } from './ws.js';

export { LiveHub } from './hub.js';

export interface LiveOptions {
  config: Config;
  /** The API's runtime pool (baygate_app): events are read under RLS with the tenant set. */
  pool: Pool;
  databaseUrl: string;
  log: Logger;
  metrics?: Pick<Metrics, 'liveClients' | 'liveEventsSent'>;
}

export interface Live {
  hub: LiveHub;
  /** The http server's 'upgrade' listener (WebSocket at /api/v6/ws). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Ends every stream and closes the LISTEN connection. */
  stop(): Promise<void>;
}

export async function startLive(o: LiveOptions): Promise<Live> {
  const { config, log } = o;
  const hub = new LiveHub({
    pool: o.pool,
    log,
    replayMaxEvents: config.liveReplayMaxEvents,
    replayMaxHours: config.liveReplayMaxHours,
    heartbeatMs: config.liveHeartbeatMs,
    clientBufferBytes: config.liveClientBufferBytes,
    metrics: o.metrics,
  });
  const listener = await startListener({
    databaseUrl: o.databaseUrl,
    log,
    onNotice: (n) => hub.notice(n),
    onWebhookDisabled: (n) => hub.webhookDisabled(n),
    onConnected: () => {
      hub.stats.listener.connected = true;
      hub.catchUp();
    },
    onDisconnected: () => {
      hub.stats.listener.connected = false;
      hub.stats.listener.reconnects++;
    },
  }).catch(async (err) => {
    await hub.close();
    throw err;
  });
  const ws = wsEndpoint({ hub, pool: o.pool, jwtSecret: config.jwtSecret, log });
  let stopping: Promise<void> | null = null;
  return {
    hub,
    upgrade: (req, socket, head) => ws.upgrade(req, socket, head),
    stop() {
      stopping ??= (async () => {
        await hub.close();
        await ws.close();
        await listener.stop();
      })();
      return stopping;
    },
  };
}
