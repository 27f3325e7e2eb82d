/** Site routes: a tenant's parking locations. */
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { ConflictError, NotFoundError } from '../../src/errors.js';
import { listOf, location, pageWindow, pagination, uuid, timestamp, type Page } from '../../src/schemas/common.js';
import { deleteSite, getSite, insertSite, listSites, updateSite, type SiteInput } from '../../src/storage/sites.js';
import type { RouteDef } from './route.js';

const fields = {
  name: { type: 'string', minLength: 1, maxLength: 200 },
  address: { type: ['string', 'null'], maxLength: 500 },
  timezone: { type: 'string', format: 'timezone' },
  location,
  config: { type: 'object' },
} as const;

const createBody = { type: 'object', required: ['name'], properties: fields } as const;
const patchBody = { type: 'object', properties: fields } as const;

export const siteSchema = {
  type: 'object',
  properties: {
    id: uuid,
    tenant_id: uuid,
    name: { type: 'string' },
    address: { type: ['string', 'null'] },
    timezone: { type: 'string' },
    location,
    config: { type: 'object' },
    is_default: { type: 'boolean' },
    created_at: timestamp,
    updated_at: timestamp,
  },
} as const;

export function siteRoutes(deps: { pool: Pool }): RouteDef[] {
  const tx = <T>(tenantId: string, fn: Parameters<typeof withTx<T>>[2]) => withTx(deps.pool, { tenantId }, fn);
  const found = <T>(v: T | null): T => {
    if (v === null) throw new NotFoundError('Site');
    return v;
  };
  // PUT replaces: fields it leaves out go back to their defaults.
  const replace = (b: SiteInput): SiteInput => ({
    name: b.name,
    address: b.address ?? null,
    timezone: b.timezone ?? 'UTC',
    location: b.location ?? null,
    config: b.config ?? {},
  });
  return [
    {
      method: 'post', path: '/api/v6/sites', summary: 'Create a site', tag: 'sites', auth: 'admin',
      body: createBody, status: 201, response: siteSchema,
      handler: async (_ctx, { body, principal }) => tx(principal.tenantId, (c) => insertSite(c, principal.tenantId, body as SiteInput)),
    },
    {
      method: 'get', path: '/api/v6/sites', summary: 'List sites', tag: 'sites', auth: 'viewer',
      query: { type: 'object', properties: pagination }, response: listOf(siteSchema),
      handler: async (_ctx, { query, principal }) => {
        const q = query as Page;
        const { limit, offset } = pageWindow(q);
        return { ...(await tx(principal.tenantId, (c) => listSites(c, limit, offset))), page: q.page, page_size: q.page_size };
      },
    },
    {
      method: 'get', path: '/api/v6/sites/:id', summary: 'Get a site', tag: 'sites', auth: 'viewer', response: siteSchema,
      handler: async (_ctx, { params, principal }) => found(await tx(principal.tenantId, (c) => getSite(c, params.id!))),
    },
    {
      method: 'put', path: '/api/v6/sites/:id', summary: 'Replace a site', tag: 'sites', auth: 'admin',
      body: createBody, response: siteSchema,
      handler: async (_ctx, { body, params, principal }) =>
        found(await tx(principal.tenantId, (c) => updateSite(c, params.id!, replace(body as SiteInput)))),
    },
    {
      method: 'patch', path: '/api/v6/sites/:id', summary: 'Update some fields of a site', tag: 'sites', auth: 'admin',
      body: patchBody, response: siteSchema,
      handler: async (_ctx, { body, params, principal }) =>
        found(await tx(principal.tenantId, (c) => updateSite(c, params.id!, body as Partial<SiteInput>))),
    },
    {
      method: 'delete', path: '/api/v6/sites/:id', summary: 'Delete a site that holds no spaces', tag: 'sites', auth: 'admin',
      handler: async (_ctx, { params, principal }) => {
        const outcome = await tx(principal.tenantId, (c) => deleteSite(c, params.id!));
        if (outcome === 'missing') throw new NotFoundError('Site');
        if (outcome === 'has_spaces') throw new ConflictError('The site still has spaces: delete or move them first');
        return { status: 'deleted', id: params.id };
      },
    },
  ];
}
