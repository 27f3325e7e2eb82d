/** Owns the SQL for sites: a tenant's parking locations, each with its own time zone. */
import type { Queryable } from '../db/pool.js';

export interface SiteInput {
  name: string;
  address?: string | null;
  timezone?: string;
  location?: { lat: number; lon: number } | null;
  config?: Record<string, unknown>;
  is_default?: boolean;
}

const COLUMNS = `id, tenant_id, name, address, timezone, lat, lon, config, is_default, created_at, updated_at`;

interface SiteRow {
  id: string;
  tenant_id: string;
  name: string;
  address: string | null;
  timezone: string;
  lat: number | null;
  lon: number | null;
  config: Record<string, unknown>;
  is_default: boolean;
  created_at: Date;
  updated_at: Date;
}

/** A site as the API shows it. */
export function siteJson(r: SiteRow) {
  return {
    id: r.id,
    tenant_id: r.tenant_id,
    name: r.name,
    address: r.address,
    timezone: r.timezone,
    location: r.lat === null || r.lon === null ? null : { lat: r.lat, lon: r.lon },
    config: r.config,
    is_default: r.is_default,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

export type Site = ReturnType<typeof siteJson>;

export async function insertSite(c: Queryable, tenantId: string, s: SiteInput): Promise<Site> {
  const r = await c.query<SiteRow>(
    `INSERT INTO sites (tenant_id, name, address, timezone, lat, lon, config, is_default)
     VALUES ($1, $2, $3, coalesce($4, 'UTC'), $5, $6, coalesce($7, '{}'::jsonb), coalesce($8, false))
     RETURNING ${COLUMNS}`,
    [
      tenantId,
      s.name,
      s.address ?? null,
      s.timezone ?? null,
      s.location?.lat ?? null,
      s.location?.lon ?? null,
      s.config ?? null,
      s.is_default ?? null,
    ],
  );
  return siteJson(r.rows[0]!);
}

export async function getSite(c: Queryable, id: string): Promise<Site | null> {
  const r = await c.query<SiteRow>(`SELECT ${COLUMNS} FROM sites WHERE id = $1 AND deleted_at IS NULL`, [id]);
  return r.rows[0] ? siteJson(r.rows[0]) : null;
}

export async function listSites(c: Queryable, limit: number, offset: number): Promise<{ items: Site[]; total: number }> {
  const [rows, count] = await Promise.all([
    c.query<SiteRow>(
      `SELECT ${COLUMNS} FROM sites WHERE deleted_at IS NULL
        ORDER BY is_default DESC, created_at, id LIMIT $1 OFFSET $2`,
      [limit, offset],
    ),
    c.query<{ n: number }>(`SELECT count(*) AS n FROM sites WHERE deleted_at IS NULL`),
  ]);
  return { items: rows.rows.map(siteJson), total: count.rows[0]!.n };
}

/** Applies the given fields; a field left undefined keeps its value (PATCH), PUT passes them all. */
export async function updateSite(c: Queryable, id: string, s: Partial<SiteInput>): Promise<Site | null> {
  const hasLocation = s.location !== undefined;
  const r = await c.query<SiteRow>(
    `UPDATE sites SET
        name = coalesce($2, name),
        address = CASE WHEN $3::boolean THEN $4 ELSE address END,
        timezone = coalesce($5, timezone),
        lat = CASE WHEN $6::boolean THEN $7 ELSE lat END,
        lon = CASE WHEN $6::boolean THEN $8 ELSE lon END,
        config = coalesce($9, config),
        updated_at = now()
      WHERE id = $1 AND deleted_at IS NULL
      RETURNING ${COLUMNS}`,
    [
      id,
      s.name ?? null,
      s.address !== undefined,
      s.address ?? null,
      s.timezone ?? null,
      hasLocation,
      s.location?.lat ?? null,
      s.location?.lon ?? null,
      s.config ?? null,
    ],
  );
  return r.rows[0] ? siteJson(r.rows[0]) : null;
}

/** Soft-deletes a site that holds no spaces; returns 'has_spaces' otherwise. */
export async function deleteSite(c: Queryable, id: string): Promise<'deleted' | 'missing' | 'has_spaces'> {
  const spaces = await c.query(`SELECT 1 FROM spaces WHERE site_id = $1 AND deleted_at IS NULL LIMIT 1`, [id]);
  if (spaces.rowCount) {
    const exists = await c.query(`SELECT 1 FROM sites WHERE id = $1 AND deleted_at IS NULL`, [id]);
    return exists.rowCount ? 'has_spaces' : 'missing';
  }
  const r = await c.query(
    `UPDATE sites SET deleted_at = now(), is_default = false, updated_at = now() WHERE id = $1 AND deleted_at IS NULL`,
    [id],
  );
  return r.rowCount ? 'deleted' : 'missing';
}

/** The tenant's default site, where spaces created without site_id go. */
/** Of the given ids, those that are no live site of the tenant (RLS hides other tenants' sites). */
export async function missingSiteIds(c: Queryable, ids: string[]): Promise<string[]> {
  const r = await c.query<{ id: string }>(
    `SELECT x.id FROM unnest($1::uuid[]) AS x(id)
      WHERE NOT EXISTS (SELECT 1 FROM sites s WHERE s.id = x.id AND s.deleted_at IS NULL)`,
    [ids],
  );
  return r.rows.map((x) => x.id);
}

export async function defaultSiteId(c: Queryable): Promise<string | null> {
  const r = await c.query<{ id: string }>(`SELECT id FROM sites WHERE is_default AND deleted_at IS NULL LIMIT 1`);
  return r.rows[0]?.id ?? null;
}
