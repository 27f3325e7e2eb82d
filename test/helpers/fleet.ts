/**
 * A fleet of registered sensors for the ingest suites and benchmarks that push thousands of
 * uplinks: one new tenant, one space per sensor, each sensor assigned and commissioned.
 */
import type pg from 'pg';
import { devEuiAt } from '../../src/simulator/payloads.js';

export interface Fleet {
  /** The first DevEUI; the others follow it (src/simulator/payloads.ts devEuiAt). */
  first: string;
  devices: number;
}

export async function seedFleets(owner: pg.Pool, tenant: { id: string; name: string; slug: string }, fleets: Fleet[]): Promise<void> {
  const euis = fleets.flatMap((f) => Array.from({ length: f.devices }, (_, i) => devEuiAt(f.first, i)));
  await owner.query(`INSERT INTO tenants (id, name, slug) VALUES ($1, $2, $3)`, [tenant.id, tenant.name, tenant.slug]);
  await owner.query(`INSERT INTO sites (id, tenant_id, name, is_default) VALUES ($1, $1, 'Site', true)`, [tenant.id]);
  await owner.query(
    `WITH s AS (
       INSERT INTO spaces (tenant_id, site_id, code)
       SELECT $1, $1, 'S-' || lpad(n::text, 6, '0') FROM generate_series(1, $2) n
       RETURNING id, code)
     INSERT INTO devices (tenant_id, dev_eui, device_type, decoder, assigned_space_id, assigned_at, status, lifecycle_state)
     SELECT $1, e.eui, 'sensor', 'nwave-nps405', s.id, now(), 'assigned', 'commissioned'
       FROM unnest($3::text[]) WITH ORDINALITY AS e(eui, n)
       JOIN s ON s.code = 'S-' || lpad(e.n::text, 6, '0')`,
    [tenant.id, euis.length, euis],
  );
  // A deployment's tables have statistics; freshly filled ones have none until autovacuum's
  // next round (a minute or more), and without them the planner takes 11,000 rows for a few
  // dozen and picks plans that walk a whole tenant each batch.
  await owner.query('ANALYZE tenants, sites, spaces, devices');
}
