/**
 * Owns the SQL of tenants' own ChirpStack API keys (tenant_chirpstack_api_keys, 0019): kept
 * sealed (src/secret-box.ts, bound to the tenant id), written by the API once ChirpStack has
 * accepted the key for every mapped application, read back only by the sync job. No reader
 * here returns a key to the API: it learns whether one is set, never what it is.
 */
import type { Queryable } from '../db/pool.js';
import { secretBox, type SecretBox } from '../secret-box.js';

/** The secret-box label of these keys: a key sealed for another purpose does not open here. */
const PURPOSE = 'chirpstack-api-key';

/** The box tenant ChirpStack keys are sealed with, from the server secret (config.jwtSecret). */
export function chirpstackKeyBox(serverSecret: string): SecretBox {
  return secretBox(serverSecret, PURPOSE);
}

/** Binds a sealed key to its row: moved to another tenant's row, it does not open. */
function context(tenantId: string): string {
  return `tenant_chirpstack_api_keys:${tenantId.toLowerCase()}`;
}

/** Whether the calling tenant has a key stored (RLS scopes the read). */
export async function hasApiKey(c: Queryable): Promise<boolean> {
  const r = await c.query(`SELECT 1 FROM tenant_chirpstack_api_keys`);
  return (r.rowCount ?? 0) > 0;
}

/**
 * The calling tenant's own key, opened, for checking a new mapping with the key already
 * proven; null when none is stored or it no longer opens (the server secret changed).
 */
export async function getApiKey(c: Queryable, box: SecretBox, tenantId: string): Promise<string | null> {
  const r = await c.query<{ sealed_key: string }>(`SELECT sealed_key FROM tenant_chirpstack_api_keys WHERE tenant_id = $1`, [tenantId]);
  const row = r.rows[0];
  if (!row) return null;
  try {
    return box.open(row.sealed_key, context(tenantId));
  } catch {
    return null;
  }
}

export async function putApiKey(c: Queryable, box: SecretBox, tenantId: string, apiKey: string): Promise<void> {
  await c.query(
    `INSERT INTO tenant_chirpstack_api_keys (tenant_id, sealed_key) VALUES ($1, $2)
     ON CONFLICT (tenant_id) DO UPDATE SET sealed_key = EXCLUDED.sealed_key, updated_at = now()`,
    [tenantId, box.seal(apiKey, context(tenantId))],
  );
}

export async function deleteApiKey(c: Queryable, tenantId: string): Promise<void> {
  await c.query(`DELETE FROM tenant_chirpstack_api_keys WHERE tenant_id = $1`, [tenantId]);
}

/**
 * Every tenant's key, for the sync job (ingest role, ingest_read policy): the key, or an
 * Error when its sealed form does not open with this server secret (JWT_SECRET changed
 * since it was stored), so the job can fail that tenant instead of using another key.
 */
export async function listApiKeys(c: Queryable, box: SecretBox): Promise<Map<string, string | Error>> {
  const r = await c.query<{ tenant_id: string; sealed_key: string }>(`SELECT tenant_id, sealed_key FROM tenant_chirpstack_api_keys`);
  const keys = new Map<string, string | Error>();
  for (const row of r.rows) {
    try {
      keys.set(row.tenant_id, box.open(row.sealed_key, context(row.tenant_id)));
    } catch (err) {
      keys.set(row.tenant_id, err as Error);
    }
  }
  return keys;
}
