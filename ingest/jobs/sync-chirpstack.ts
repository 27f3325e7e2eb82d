/**
 * sync_chirpstack: every 5 minutes, when CHIRPSTACK_API_URL is set, lists the devices of
 * every tenant's mapped ChirpStack applications through
 * ChirpStack's gRPC API (ingest/chirpstack-api.ts) and applies them per tenant
 * (src/storage/chirpstack.ts applySync): registered devices get ChirpStack's name, device
 * profile (as `model`), last seen and battery where baygate lacks them or ChirpStack's are
 * newer; devices no one registered appear on the tenant's unclaimed list
 * (GET /api/v6/devices/unclaimed); rows ChirpStack no longer lists, or that were registered
 * since, are dropped.
 *
 * Each tenant's devices are read from ChirpStack first, then written in one transaction
 * under that tenant's setting, so a ChirpStack failure halfway through a tenant leaves that
 * tenant as the previous run left it. The other tenants are still synced; then the run ends
 * as `failed` with ChirpStack's messages (ingest/jobs/index.ts records them in job_runs).
 *
 * Which key lists a tenant's applications (issue 17 §3): the tenant's own ChirpStack API
 * key, checked against those applications when the mapping was stored
 * (api/routes/tenant-chirpstack.ts), so ChirpStack itself keeps a tenant to its own
 * applications; the operator's CHIRPSTACK_API_TOKEN only for tenants that stored none (those
 * mapped before keys were asked for). A stored key that no longer opens (the server secret
 * changed) fails that tenant rather than falling back to the operator's wider key.
 */
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { applySync, listAllApplications, type ListedDevice, type SyncCounts } from '../../src/storage/chirpstack.js';
import { chirpstackKeyBox, listApiKeys } from '../../src/storage/chirpstack-keys.js';
import { createChirpstackApi, type ChirpstackApi } from '../../src/chirpstack-api.js';
import type { JobDef } from './job.js';

export interface ChirpstackSyncCounts extends SyncCounts {
  tenants: number;
  applications: number;
  /** Tenants listed with their own ChirpStack API key. */
  tenant_keys: number;
  /** Tenants with neither their own key nor CHIRPSTACK_API_TOKEN to fall back on: not listed. */
  without_key: number;
}

/** Gives the ChirpStack client for a key (one per key per run); null: no key for that tenant. */
export type ApiForTenant = (tenantId: string) => { api: ChirpstackApi; own: boolean } | Error | null;

/** What one run did, and ChirpStack's message for each tenant it could not list. */
export async function syncTenants(pool: Pool, apiFor: ApiForTenant, now: () => Date): Promise<{ counts: ChirpstackSyncCounts; failures: string[] }> {
  const mapped = await withTx(pool, {}, (c) => listAllApplications(c));
  const byTenant = new Map<string, string[]>();
  for (const m of mapped) byTenant.set(m.tenantId, [...(byTenant.get(m.tenantId) ?? []), m.applicationId]);
  const counts: ChirpstackSyncCounts = {
    tenants: byTenant.size, applications: mapped.length, tenant_keys: 0, without_key: 0,
    listed: 0, registered: 0, updated: 0, unclaimed: 0, registered_elsewhere: 0, removed: 0,
  };
  const failures: string[] = [];
  for (const [tenantId, applications] of byTenant) {
    const client = apiFor(tenantId);
    if (client === null) {
      counts.without_key++;
      continue;
    }
    if (client instanceof Error) {
      failures.push(`tenant ${tenantId}: ${client.message}`);
      continue;
    }
    const api = client.api;
    if (client.own) counts.tenant_keys++;
    // ChirpStack keeps a DevEUI in one application; the map also guards the batch upsert,
    // which may touch each row once.
    const listed = new Map<string, ListedDevice>();
    try {
      for (const applicationId of applications) {
        for (const d of await api.listDevices(applicationId)) listed.set(d.devEui, { ...d, applicationId });
      }
    } catch (err) {
      // One tenant's application that ChirpStack refuses (deleted, not under this API key)
      // must not keep the other tenants from syncing; this tenant keeps what it had.
      failures.push((err as Error).message);
      continue;
    }
    const c = await withTx(pool, { tenantId }, (tx) => applySync(tx, tenantId, [...listed.values()], now()));
    for (const k of ['listed', 'registered', 'updated', 'unclaimed', 'registered_elsewhere', 'removed'] as const) counts[k] += c[k];
  }
  return { counts, failures };
}

export const syncChirpstack: JobDef = {
  name: 'sync_chirpstack',
  schedule: '15 */5 * * * *', // every 5 minutes, at second 15 (away from the other jobs' ticks)
  async run({ pool, log, config, now }) {
    const url = config.chirpstackApiUrl;
    const token = config.chirpstackApiToken;
    if (!url) {
      return { status: 'skipped', counts: {}, detail: 'not configured: set CHIRPSTACK_API_URL (and CHIRPSTACK_API_TOKEN for tenants without their own key)' };
    }
    const keys = await withTx(pool, {}, (c) => listApiKeys(c, chirpstackKeyBox(config.jwtSecret)));
    if (!token && keys.size === 0) {
      return { status: 'skipped', counts: {}, detail: 'not configured: no tenant has stored its ChirpStack API key and CHIRPSTACK_API_TOKEN is not set' };
    }
    const clients = new Map<string, ChirpstackApi>();
    const clientFor = (key: string) => {
      let api = clients.get(key);
      if (!api) clients.set(key, (api = createChirpstackApi(url, key)));
      return api;
    };
    const apiFor: ApiForTenant = (tenantId) => {
      const own = keys.get(tenantId);
      if (own instanceof Error) return new Error(`its stored ChirpStack API key does not open (${own.message}); an admin must map its applications again with api_key`);
      if (own !== undefined) return { api: clientFor(own), own: true };
      return token ? { api: clientFor(token), own: false } : null;
    };
    try {
      const { counts, failures } = await syncTenants(pool, apiFor, now);
      if (failures.length > 0) {
        // A failed run records no counts (ingest/jobs/index.ts): what the other tenants got goes to the log.
        log.warn({ ...counts, failed_tenants: failures.length }, 'ChirpStack sync incomplete');
        throw new Error(`${failures.length} of ${counts.tenants} tenants not synced: ${failures.join('; ')}`);
      }
      if (counts.updated > 0 || counts.unclaimed > 0 || counts.removed > 0) log.info(counts, 'ChirpStack devices synced');
      return { status: 'succeeded', counts: { ...counts } };
    } finally {
      for (const api of clients.values()) api.close();
    }
  },
};
