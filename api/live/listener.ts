/**
 * Owns the API's one LISTEN connection on SPACE_EVENTS_CHANNEL (src/db/listen.ts): after
 * every (re)connect it tells the hub to catch up from space_events.
 */
import type { Logger } from '../../src/log.js';
import { listen } from '../../src/db/listen.js';
import { SPACE_EVENTS_CHANNEL, type SpaceEventNotice } from '../../src/events.js';

/** application_name of the listener's connection (pg_stat_activity), so operators and tests can find it. */
export const LISTENER_APPLICATION_NAME = 'baygate-api-listen';

export interface ListenerOptions {
  databaseUrl: string;
  log: Logger;
  onNotice(n: SpaceEventNotice): void;
  /** After the first connect and every reconnect, once LISTEN is in place again. */
  onConnected(): void;
  /** The connection was lost; reconnect attempts follow. */
  onDisconnected(attempt: number): void;
}

export interface Listener {
  connected(): boolean;
  stop(): Promise<void>;
}

function isNotice(p: unknown): p is SpaceEventNotice {
  const n = p as Partial<SpaceEventNotice> | null;
  return typeof n === 'object' && n !== null && typeof n.id === 'number' && typeof n.tenant_id === 'string';
}

export function startListener(o: ListenerOptions): Promise<Listener> {
  return listen({
    databaseUrl: o.databaseUrl,
    role: 'baygate_app',
    applicationName: LISTENER_APPLICATION_NAME,
    log: o.log,
    channels: {
      [SPACE_EVENTS_CHANNEL]: (payload) => {
        if (isNotice(payload)) o.onNotice(payload);
        else o.log.warn({ payload }, 'ignoring a malformed space event notice');
      },
    },
    onConnected: o.onConnected,
    onDisconnected: o.onDisconnected,
  });
}
