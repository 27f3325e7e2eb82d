/**
 * The tenant's ChirpStack applications: which application ids' devices the sync_chirpstack
 * job (ingest/jobs/sync-chirpstack.ts) brings in for it, and whose unregistered DevEUIs it
 * sees at GET /api/v6/devices/unclaimed. Admins only: the mapping decides what a tenant sees.
 */
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { getApplications, replaceApplications } from '../../src/storage/chirpstack.js';
import type { RouteDef } from './route.js';

/** More applications than one ChirpStack deployment gives one customer; bounds the request. */
const MAX_APPLICATIONS = 100;

const mappingSchema = {
  type: 'object',
  required: ['application_ids'],
  properties: {
    application_ids: {
      type: 'array',
      items: { type: 'string', format: 'uuid', description: 'A ChirpStack v4 application id' },
      maxItems: MAX_APPLICATIONS,
      uniqueItems: true,
    },
  },
  additionalProperties: false,
} as const;

export function tenantChirpstackRoutes(deps: { pool: Pool }): RouteDef[] {
  return [
    {
      method: 'get', path: '/api/v6/tenants/current/chirpstack', summary: "The ChirpStack applications mapped to the caller's tenant",
      tag: 'tenants', auth: 'admin', response: mappingSchema,
      handler: async (_ctx, { principal }) => ({
        application_ids: await withTx(deps.pool, { tenantId: principal.tenantId }, (c) => getApplications(c)),
      }),
    },
    {
      method: 'put', path: '/api/v6/tenants/current/chirpstack',
      summary: "Replace the ChirpStack applications mapped to the caller's tenant (409 when another tenant holds one)",
      tag: 'tenants', auth: 'admin', body: mappingSchema, response: mappingSchema,
      handler: async (_ctx, { body, principal }) => {
        // ChirpStack prints UUIDs in lowercase; uuid columns compare them in any case anyway.
        const ids = [...new Set((body as { application_ids: string[] }).application_ids.map((id) => id.toLowerCase()))];
        return {
          application_ids: await withTx(deps.pool, { tenantId: principal.tenantId, userId: principal.userId }, (c) =>
            replaceApplications(c, principal.tenantId, ids),
          ),
        };
      },
    },
  ];
}
