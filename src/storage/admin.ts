/**
 * Owns the SQL the operator CLI runs as the database owner (DATABASE_URL's user), across
 * tenants: finding a tenant by slug and the system status. Runtime code never calls these;
 * they read every tenant's rows, which RLS keeps the runtime roles from doing. Counts are
 * whole-table only when the owner is a superuser or BYPASSRLS (FORCE ROW LEVEL SECURITY
 * applies policies to a plain table owner too).
 */
import type { Queryable } from '../db/pool.js';

export async function findTenantBySlug(c: Queryable, slug: string): Promise<{ id: string; name: string; slug: string } | null> {
  const r = await c.query<{ id: string; name: string; slug: string }>('SELECT id, name, slug FROM tenants WHERE slug = $1', [slug]);
  return r.rows[0] ?? null;
}

export interface SystemStatus {
  tenants: number;
  users: number;
  sites: number;
  spaces: number;
  spaces_by_state: Record<string, number>;
  devices: number;
  readings: number;
  last_uplink: { at: string; dev_eui: string } | null;
  dead_letters: number;
  unclaimed_devices: number;
}

export async function systemStatus(c: Queryable): Promise<SystemStatus> {
  const counts = await c.query<Record<string, number>>(
    `SELECT (SELECT count(*) FROM tenants) AS tenants,
            (SELECT count(*) FROM users WHERE deleted_at IS NULL) AS users,
            (SELECT count(*) FROM sites WHERE deleted_at IS NULL) AS sites,
            (SELECT count(*) FROM devices WHERE deleted_at IS NULL) AS devices,
            (SELECT count(*) FROM sensor_readings) AS readings,
            (SELECT count(*) FROM dead_letters) AS dead_letters,
            (SELECT count(*) FROM unclaimed_devices) AS unclaimed_devices`,
  );
  const states = await c.query<{ state: string; n: number }>(
    `SELECT current_state AS state, count(*) AS n FROM spaces WHERE deleted_at IS NULL GROUP BY current_state ORDER BY current_state`,
  );
  // sensor_readings_received_idx makes this an index scan from the newest end.
  const last = await c.query<{ received_at: Date; dev_eui: string }>(
    'SELECT received_at, dev_eui FROM sensor_readings ORDER BY received_at DESC LIMIT 1',
  );
  const row = counts.rows[0]!;
  const byState = Object.fromEntries(states.rows.map((s) => [s.state, Number(s.n)]));
  const lastRow = last.rows[0];
  return {
    tenants: Number(row.tenants),
    users: Number(row.users),
    sites: Number(row.sites),
    spaces: Object.values(byState).reduce((a, b) => a + b, 0),
    spaces_by_state: byState,
    devices: Number(row.devices),
    readings: Number(row.readings),
    last_uplink: lastRow ? { at: lastRow.received_at.toISOString(), dev_eui: lastRow.dev_eui } : null,
    dead_letters: Number(row.dead_letters),
    unclaimed_devices: Number(row.unclaimed_devices),
  };
}
