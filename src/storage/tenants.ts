/** Owns the SQL for tenants. */
import type { Queryable } from '../db/pool.js';

export async function insertTenant(c: Queryable, t: { id: string; name: string; slug: string }): Promise<void> {
  await c.query('INSERT INTO tenants (id, name, slug) VALUES ($1, $2, $3)', [t.id, t.name, t.slug]);
}
