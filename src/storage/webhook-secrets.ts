/** Owns the SQL for inbound webhook secrets: the pre-auth lookup by slug, status and rotation. */
import type { Queryable } from '../db/pool.js';

/** The tenant a slug names and the secrets valid now; null when the slug is unknown or has no secret. */
export async function lookupInboundSecrets(c: Queryable, slug: string): Promise<{ tenantId: string; secrets: string[] } | null> {
  const r = await c.query<{ tenant_id: string; secret: string }>('SELECT tenant_id, secret FROM baygate_webhook_lookup($1)', [slug]);
  if (r.rows.length === 0) return null;
  return { tenantId: r.rows[0]!.tenant_id, secrets: r.rows.map((x) => x.secret) };
}

export interface InboundSecretStatus {
  configured: boolean;
  created_at: Date | null;
  /** When the previous secret stops being accepted; null when none is in its grace period. */
  previous_valid_until: Date | null;
}

export async function inboundSecretStatus(c: Queryable, tenantId: string): Promise<InboundSecretStatus> {
  const r = await c.query<{ current_at: Date | null; previous_until: Date | null }>(
    `SELECT max(created_at) FILTER (WHERE expires_at IS NULL) AS current_at,
            max(expires_at) FILTER (WHERE expires_at > now()) AS previous_until
       FROM webhook_inbound_secrets WHERE tenant_id = $1`,
    [tenantId],
  );
  const row = r.rows[0]!;
  return { configured: row.current_at !== null, created_at: row.current_at, previous_valid_until: row.previous_until };
}

/**
 * Makes `secret` the current one. The one it replaces stays valid for `graceSeconds`;
 * secrets already expired are deleted. The caller's transaction serialises rotations
 * (the unique index on the current secret turns a concurrent one into a conflict).
 */
export async function rotateInboundSecret(c: Queryable, tenantId: string, secret: string, graceSeconds: number): Promise<void> {
  await c.query(`DELETE FROM webhook_inbound_secrets WHERE tenant_id = $1 AND expires_at <= now()`, [tenantId]);
  await c.query(
    `UPDATE webhook_inbound_secrets SET expires_at = now() + make_interval(secs => $2)
      WHERE tenant_id = $1 AND expires_at IS NULL`,
    [tenantId, graceSeconds],
  );
  await c.query(`INSERT INTO webhook_inbound_secrets (tenant_id, secret) VALUES ($1, $2)`, [tenantId, secret]);
}
