/** Owns the SQL for tenants. */
import type { Queryable } from '../db/pool.js';

export async function insertTenant(c: Queryable, t: { id: string; name: string; slug: string }): Promise<void> {
  await c.query('INSERT INTO tenants (id, name, slug) VALUES ($1, $2, $3)', [t.id, t.name, t.slug]);
}

/** Every tenant's id (the ingest role reads them all: jobs that act per tenant iterate over these). */
export async function listTenantIds(c: Queryable): Promise<string[]> {
  const r = await c.query<{ id: string }>('SELECT id FROM tenants ORDER BY id');
  return r.rows.map((t) => t.id);
}
