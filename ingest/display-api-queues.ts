/**
 * Owns which way each tenant's display downlinks reach ChirpStack: its gRPC API
 * (DeviceService.Enqueue with flush_queue, so the latest state replaces any older one still
 * queued there; chirpstack#892, PR #897) when CHIRPSTACK_API_URL is set and a key is at hand
 * for the tenant, else its MQTT command topic, as without the API.
 *
 * The key is chosen as the sync job chooses it (ingest/jobs/sync-chirpstack.ts): the tenant's
 * own stored key (issue 17 §3: ChirpStack itself then keeps the tenant to its own devices),
 * else the operator's CHIRPSTACK_API_TOKEN. A stored key that no longer opens (JWT_SECRET
 * changed) is never replaced by the operator's wider key: that tenant's downlinks go on MQTT,
 * and why is logged once.
 */
import type { Queryable } from '../src/db/pool.js';
import type { Config } from '../src/config.js';
import type { Logger } from '../src/log.js';
import { createChirpstackApi, type ChirpstackApi } from '../src/chirpstack-api.js';
import { chirpstackKeyBox, listApiKeys } from '../src/storage/chirpstack-keys.js';

/** What the display sender needs of a ChirpStack API client. */
export type DownlinkQueue = Pick<ChirpstackApi, 'enqueue'>;
/** The client a tenant's downlinks are enqueued with; null: they go on MQTT. */
export type QueueForTenant = (tenantId: string) => DownlinkQueue | null;

export interface DisplayApiQueues {
  /** Reads the tenants' keys (once per sender run with downlinks due, ingest's read policy) and gives the chooser. */
  forRun(c: Queryable): Promise<QueueForTenant>;
  close(): void;
}

/** null when CHIRPSTACK_API_URL is not set: every downlink goes on MQTT. */
export function displayApiQueues(
  config: Pick<Config, 'chirpstackApiUrl' | 'chirpstackApiToken' | 'jwtSecret'>,
  log: Logger,
  create: (url: string, key: string) => ChirpstackApi = createChirpstackApi,
): DisplayApiQueues | null {
  const url = config.chirpstackApiUrl;
  if (!url) return null;
  const box = chirpstackKeyBox(config.jwtSecret);
  // One client (one gRPC channel) per key, kept across runs; a key no longer stored is closed.
  const clients = new Map<string, ChirpstackApi>();
  const warned = new Set<string>();
  const clientFor = (key: string) => {
    let api = clients.get(key);
    if (!api) clients.set(key, (api = create(url, key)));
    return api;
  };
  return {
    async forRun(c) {
      const keys = await listApiKeys(c, box);
      const current = new Set([...keys.values()].filter((k): k is string => typeof k === 'string'));
      if (config.chirpstackApiToken) current.add(config.chirpstackApiToken);
      for (const [key, api] of clients) if (!current.has(key)) (api.close(), clients.delete(key));
      return (tenantId) => {
        const own = keys.get(tenantId);
        if (own instanceof Error) {
          if (!warned.has(tenantId)) {
            warned.add(tenantId);
            log.warn({ tenant_id: tenantId, err: own.message }, "the tenant's stored ChirpStack API key does not open; its display downlinks go on MQTT until an admin maps its applications again with api_key");
          }
          return null;
        }
        if (own !== undefined) return clientFor(own);
        return config.chirpstackApiToken ? clientFor(config.chirpstackApiToken) : null;
      };
    },
    close() {
      for (const api of clients.values()) api.close();
      clients.clear();
    },
  };
}
