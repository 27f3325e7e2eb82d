/**
 * Gateway routes: a tenant's LoRaWAN gateways, added by hand or recorded by ingest when they
 * carry the tenant's uplinks; `status` is online while heard within GATEWAY_OFFLINE_MINUTES.
 */
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { ConflictError, NotFoundError } from '../../src/errors.js';
import { listOf, location, pageWindow, pagination, uuid, timestamp, type Page } from '../../src/schemas/common.js';
import {
  gatewayJson,
  getGateway,
  insertGateway,
  listGateways,
  softDeleteGateway,
  updateGateway,
  type GatewayInput,
  type GatewayRow,
} from '../../src/storage/gateways.js';
import { listGatewayEvents } from '../../src/storage/device-health.js';
import type { RouteDef } from './route.js';

/** Events a gateway's history shows by default, and at most. */
const DEFAULT_EVENTS = 50;
const MAX_EVENTS = 500;

const gatewayEventSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    gateway_id: uuid,
    kind: { enum: ['gateway_offline'] },
    since: { type: 'string', format: 'date-time', description: 'When the gateway was last heard before the outage' },
    device_count: { type: 'integer', description: 'Sensors found silent behind it' },
    at: timestamp,
  },
} as const;

const fields = {
  name: { type: 'string', minLength: 1, maxLength: 200 },
  location,
  metadata: { type: 'object' },
} as const;

const createBody = {
  type: 'object',
  required: ['gateway_eui', 'name'],
  properties: { gateway_eui: { type: 'string', pattern: '^[0-9A-Fa-f]{16}$' }, ...fields },
} as const;
const replaceBody = { type: 'object', required: ['name'], properties: fields } as const;

export const gatewaySchema = {
  type: 'object',
  properties: {
    id: uuid,
    tenant_id: uuid,
    gateway_eui: { type: 'string' },
    name: { type: ['string', 'null'] },
    location,
    metadata: { type: 'object' },
    status: { enum: ['online', 'offline'] },
    last_seen_at: { type: ['string', 'null'], format: 'date-time' },
    created_at: timestamp,
    updated_at: timestamp,
  },
} as const;

export function gatewayRoutes(deps: { pool: Pool; gatewayOfflineMinutes: number }): RouteDef[] {
  const tx = <T>(tenantId: string, fn: Parameters<typeof withTx<T>>[2]) => withTx(deps.pool, { tenantId }, fn);
  const minutes = deps.gatewayOfflineMinutes;
  const found = (g: GatewayRow | null) => {
    if (!g) throw new NotFoundError('Gateway');
    return gatewayJson(g);
  };
  return [
    {
      method: 'post', path: '/api/v6/gateways', summary: 'Add a gateway (takes over one ingest already recorded)', tag: 'gateways',
      auth: 'technician', body: createBody, status: 201, response: gatewaySchema,
      handler: async (_ctx, { body, principal }) => {
        const g = await tx(principal.tenantId, (c) => insertGateway(c, principal.tenantId, body as GatewayInput, minutes));
        if (!g) throw new ConflictError('A gateway with this EUI already exists');
        return gatewayJson(g);
      },
    },
    {
      method: 'get', path: '/api/v6/gateways', summary: 'List gateways', tag: 'gateways', auth: 'viewer',
      query: { type: 'object', properties: { status: { enum: ['online', 'offline'] }, ...pagination } },
      response: listOf(gatewaySchema),
      handler: async (_ctx, { query, principal }) => {
        const q = query as Page & { status?: 'online' | 'offline' };
        const { limit, offset } = pageWindow(q);
        const r = await tx(principal.tenantId, (c) => listGateways(c, { status: q.status }, minutes, limit, offset));
        return { items: r.items.map(gatewayJson), total: r.total, page: q.page, page_size: q.page_size };
      },
    },
    {
      method: 'get', path: '/api/v6/gateways/:id', summary: 'Get a gateway', tag: 'gateways', auth: 'viewer', response: gatewaySchema,
      handler: async (_ctx, { params, principal }) => found(await tx(principal.tenantId, (c) => getGateway(c, params.id!, minutes))),
    },
    {
      method: 'get', path: '/api/v6/gateways/:id/events', summary: "A gateway's outages (gateway_offline events), newest first",
      tag: 'gateways', auth: 'viewer',
      query: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: MAX_EVENTS, default: DEFAULT_EVENTS } } },
      response: { type: 'object', properties: { gateway_id: uuid, items: { type: 'array', items: gatewayEventSchema } } },
      handler: async (_ctx, { params, query, principal }) =>
        tx(principal.tenantId, async (c) => {
          if (!(await getGateway(c, params.id!, minutes))) throw new NotFoundError('Gateway');
          return { gateway_id: params.id, items: await listGatewayEvents(c, params.id!, (query as { limit: number }).limit) };
        }),
    },
    {
      method: 'put', path: '/api/v6/gateways/:id', summary: 'Replace the name, location and metadata of a gateway', tag: 'gateways',
      auth: 'technician', body: replaceBody, response: gatewaySchema,
      handler: async (_ctx, { body, params, principal }) => {
        const b = body as Omit<GatewayInput, 'gateway_eui'>;
        return found(
          await tx(principal.tenantId, (c) =>
            updateGateway(c, params.id!, { name: b.name, location: b.location ?? null, metadata: b.metadata ?? {} }, minutes),
          ),
        );
      },
    },
    {
      method: 'delete', path: '/api/v6/gateways/:id', summary: 'Delete a gateway', tag: 'gateways', auth: 'technician',
      response: { type: 'object', properties: { status: { const: 'deleted' }, id: uuid } },
      handler: async (_ctx, { params, principal }) => {
        if (!(await tx(principal.tenantId, (c) => softDeleteGateway(c, params.id!)))) throw new NotFoundError('Gateway');
        return { status: 'deleted', id: params.id };
      },
    },
  ];
}
