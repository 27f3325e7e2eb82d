/** Owns the SQL for display policies: a tenant's overrides of the default sign colours. */
import type { Queryable } from '../db/pool.js';
import type { DisplayRuleOverrides } from '../domain/display-policy.js';

export interface DisplayPolicyRow {
  rules: DisplayRuleOverrides;
  updated_at: Date | null;
}

/** The tenant's overrides; none stored: no overrides. Runs under the tenant's setting. */
export async function getDisplayPolicy(c: Queryable): Promise<DisplayPolicyRow> {
  const r = await c.query<DisplayPolicyRow>(`SELECT rules, updated_at FROM display_policies WHERE tenant_id = baygate_tenant()`);
  return r.rows[0] ?? { rules: {}, updated_at: null };
}

export async function putDisplayPolicy(c: Queryable, tenantId: string, rules: DisplayRuleOverrides, userId: string): Promise<DisplayPolicyRow> {
  const r = await c.query<DisplayPolicyRow>(
    `INSERT INTO display_policies (tenant_id, rules, updated_by, updated_at) VALUES ($1, $2, $3, now())
     ON CONFLICT (tenant_id) DO UPDATE SET rules = EXCLUDED.rules, updated_by = EXCLUDED.updated_by, updated_at = now()
     RETURNING rules, updated_at`,
    [tenantId, JSON.stringify(rules), userId],
  );
  return r.rows[0]!;
}
