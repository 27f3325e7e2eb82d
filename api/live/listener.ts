/**
 * Owns the API's one LISTEN connection (src/db/listen.ts) on SPACE_EVENTS_CHANNEL (after
 * every (re)connect it tells the hub to catch up from space_events) and WEBHOOK_DISABLED_CHANNEL
 * (alerts for the tenant's admins; one missed while disconnected is not replayed).
 */
import type { Logger } from '../../src/log.js';
import { listen } from '../../src/db/listen.js';
import { SPACE_EVENTS_CHANNEL, WEBHOOK_DISABLED_CHANNEL, type SpaceEventNotice, type WebhookDisabledNotice } from '../../src/events.js';

/** application_name of the listener's connection (pg_stat_activity), so operators and tests can find it. */
export const LISTENER_APPLICATION_NAME = 'baygate-api-listen';

export interface ListenerOptions {
  databaseUrl: string;
  log: Logger;
  onNotice(n: SpaceEventNotice): void;
  onWebhookDisabled?(n: WebhookDisabledNotice): void;
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

function isWebhookDisabled(p: unknown): p is WebhookDisabledNotice {
  const n = p as Partial<WebhookDisabledNotice> | null;
  return typeof n === 'object' && n !== null && typeof n.tenant_id === 'string' && typeof n.subscription_id === 'string' &&
    typeof n.reason === 'string' && typeof n.at === 'string';
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
      [WEBHOOK_DISABLED_CHANNEL]: (payload) => {
        if (isWebhookDisabled(payload)) o.onWebhookDisabled?.(payload);
        else o.log.warn({ payload }, 'ignoring a malformed webhook-disabled notice');
      },
    },
    onConnected: o.onConnected,
    onDisconnected: o.onDisconnected,
  });
}
