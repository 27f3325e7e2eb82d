/** Space routes: the parking spaces of a tenant's sites, their operator state and counts per state. */
import type { Pool, Queryable } from '../../src/db/pool.js';
import { appendSpaceEvents } from '../../src/storage/space-state.js';
import { holdingReservationIds } from '../../src/storage/reservations.js';
import { cancelReservation } from '../../src/reservation-transitions.js';

/** The cancellation_reason of reservations cancelled because their space was deleted. */
export const SPACE_DELETED_REASON = 'space deleted';
import { withTx } from '../../src/db/tx.js';
import { NotFoundError, ValidationError } from '../../src/errors.js';
import { SPACE_STATES } from '../../src/domain/state-machine.js';
import { listOf, pageWindow, pagination, uuid, timestamp, type Page } from '../../src/schemas/common.js';
import {
  deleteSpace,
  getSpace,
  insertSpace,
  listSpaces,
  spaceStats,
  updateSpace,
  type Space,
  type SpaceFilter,
  type SpaceInput,
  type SpaceRefusal,
} from '../../src/storage/spaces.js';
import type { RouteDef } from './route.js';

const state = { type: 'string', enum: SPACE_STATES } as const;

const fields = {
  site_id: uuid,
  code: { type: 'string', minLength: 1, maxLength: 100 },
  name: { type: ['string', 'null'], maxLength: 200 },
  display_name: { type: ['string', 'null'], maxLength: 200 },
  enabled: { type: 'boolean' },
  auto_release_minutes: { type: ['integer', 'null'], minimum: 1, maximum: 1440 },
  config: { type: 'object' },
  current_state: state,
} as const;

const createBody = { type: 'object', required: ['code'], properties: fields } as const;
const patchBody = { type: 'object', properties: fields } as const;

/** A duration: a number with s, m, h or d (minutes when bare), e.g. 30m, 2h. */
const DURATION = /^(\d{1,6})([smhd]?)$/;
const DURATION_SECONDS: Record<string, number> = { s: 1, m: 60, '': 60, h: 3_600, d: 86_400 };

export function durationSeconds(text: string): number {
  const m = DURATION.exec(text)!;
  return Number(m[1]) * DURATION_SECONDS[m[2]!]!;
}

const listQuery = {
  type: 'object',
  properties: {
    site_id: uuid,
    current_state: state,
    enabled: { type: 'boolean' },
    occupied_longer_than: {
      type: 'string',
      pattern: DURATION.source,
      description: 'Only spaces occupied longer than this (overstays), longest first: 90s, 30m, 2h, 1d (bare numbers are minutes)',
    },
    ...pagination,
  },
} as const;

export const spaceSchema = {
  type: 'object',
  properties: {
    id: uuid,
    tenant_id: uuid,
    site_id: uuid,
    code: { type: 'string' },
    name: { type: ['string', 'null'] },
    display_name: { type: ['string', 'null'] },
    enabled: { type: 'boolean' },
    auto_release_minutes: { type: ['integer', 'null'] },
    config: { type: 'object' },
    current_state: state,
    sensor_state: { type: 'string', enum: ['free', 'occupied', 'unknown'] },
    display_state: { type: ['string', 'null'] },
    state_changed_at: timestamp,
    sensor_device_id: { type: ['string', 'null'], format: 'uuid' },
    display_device_id: { type: ['string', 'null'], format: 'uuid' },
    created_at: timestamp,
    updated_at: timestamp,
  },
} as const;

const byState = {
  type: 'object',
  properties: Object.fromEntries(SPACE_STATES.map((s) => [s, { type: 'integer' }])),
} as const;

export const statsSchema = {
  type: 'object',
  properties: {
    total: { type: 'integer' },
    by_state: byState,
    sites: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          site_id: uuid,
          site_name: { type: 'string' },
          total: { type: 'integer' },
          by_state: byState,
          occupancy_percent: { type: 'number' },
        },
      },
    },
  },
} as const;

/** Turns a refused write into the error the client sees; passes a space through. */
/** An operator's edit; entering or leaving maintenance is recorded as a space event (live clients, webhooks). */
async function update(c: Queryable, tenantId: string, id: string, input: Partial<SpaceInput>): Promise<Space | SpaceRefusal> {
  const r = await updateSpace(c, id, input);
  if (typeof r === 'string') return r;
  if (r.transition) {
    const { from, to, cause } = r.transition;
    await appendSpaceEvents(c, tenantId, [
      { spaceId: id, siteId: r.space.site_id, from, to, cause, deviceId: null, reservationId: null, at: new Date(r.space.state_changed_at) },
    ]);
  }
  return r.space;
}

function outcome(r: Space | SpaceRefusal): Space {
  switch (r) {
    case 'missing':
      throw new NotFoundError('Space');
    case 'site_missing':
      throw new NotFoundError('Site', 'body.site_id');
    case 'no_default_site':
      throw new ValidationError('body.site_id is required: the tenant has no default site', [
        { field: 'body.site_id', message: 'body.site_id is required: the tenant has no default site' },
      ]);
    case 'state_not_settable': {
      const message = 'body.current_state: only maintenance can be set; other states come from sensors and reservations';
      throw new ValidationError(message, [{ field: 'body.current_state', message }]);
    }
    default:
      return r;
  }
}

export function spaceRoutes(deps: { pool: Pool }): RouteDef[] {
  const tx = <T>(tenantId: string, fn: Parameters<typeof withTx<T>>[2]) => withTx(deps.pool, { tenantId }, fn);
  // PUT replaces: fields it leaves out go back to their defaults. Two exceptions: site_id
  // left out keeps the space where it is (the default site is where new spaces go, not
  // where existing ones return), and current_state left out keeps the maintenance flag
  // (it is an operation on the state, not a stored attribute).
  const replace = (b: SpaceInput): SpaceInput => ({
    site_id: b.site_id,
    code: b.code,
    name: b.name ?? null,
    display_name: b.display_name ?? null,
    enabled: b.enabled ?? true,
    auto_release_minutes: b.auto_release_minutes ?? null,
    config: b.config ?? {},
    current_state: b.current_state,
  });
  return [
    {
      method: 'post', path: '/api/v6/spaces', summary: 'Create a space (in the default site when site_id is left out)',
      tag: 'spaces', auth: 'operator', body: createBody, status: 201, response: spaceSchema,
      handler: async (_ctx, { body, principal }) =>
        outcome(await tx(principal.tenantId, (c) => insertSpace(c, principal.tenantId, body as SpaceInput))),
    },
    {
      method: 'get', path: '/api/v6/spaces', summary: 'List spaces', tag: 'spaces', auth: 'viewer',
      query: listQuery, response: listOf(spaceSchema),
      handler: async (_ctx, { query, principal }) => {
        const q = query as Page & SpaceFilter & { occupied_longer_than?: string };
        const { limit, offset } = pageWindow(q);
        const filter: SpaceFilter = { site_id: q.site_id, current_state: q.current_state, enabled: q.enabled };
        if (q.occupied_longer_than !== undefined) filter.occupied_longer_than_seconds = durationSeconds(q.occupied_longer_than);
        return { ...(await tx(principal.tenantId, (c) => listSpaces(c, filter, limit, offset))), page: q.page, page_size: q.page_size };
      },
    },
    // Before /:id, so "stats" is not taken for an id.
    {
      method: 'get', path: '/api/v6/spaces/stats', summary: 'Space counts per state, overall and per site', tag: 'spaces',
      auth: 'viewer', response: statsSchema,
      handler: async (_ctx, { principal }) => tx(principal.tenantId, (c) => spaceStats(c)),
    },
    {
      method: 'get', path: '/api/v6/spaces/:id', summary: 'Get a space', tag: 'spaces', auth: 'viewer', response: spaceSchema,
      handler: async (_ctx, { params, principal }) => {
        const space = await tx(principal.tenantId, (c) => getSpace(c, params.id!));
        return outcome(space ?? 'missing');
      },
    },
    {
      method: 'put', path: '/api/v6/spaces/:id', summary: 'Replace a space', tag: 'spaces', auth: 'operator',
      body: createBody, response: spaceSchema,
      handler: async (_ctx, { body, params, principal }) =>
        outcome(await tx(principal.tenantId, (c) => update(c, principal.tenantId, params.id!, replace(body as SpaceInput)))),
    },
    {
      method: 'patch', path: '/api/v6/spaces/:id', summary: 'Update some fields of a space', tag: 'spaces', auth: 'operator',
      body: patchBody, response: spaceSchema,
      handler: async (_ctx, { body, params, principal }) =>
        outcome(await tx(principal.tenantId, (c) => update(c, principal.tenantId, params.id!, body as Partial<SpaceInput>))),
    },
    {
      method: 'delete', path: '/api/v6/spaces/:id', summary: 'Delete a space; its pending and active reservations are cancelled', tag: 'spaces', auth: 'operator',
      handler: async (_ctx, { params, principal }) => {
        const { tenantId, userId } = principal;
        const deleted = await withTx(deps.pool, { tenantId, userId }, async (c) => {
          // A driver must not keep a booking for a space that no longer exists.
          for (const id of await holdingReservationIds(c, params.id!)) {
            await cancelReservation(c, tenantId, id, userId, SPACE_DELETED_REASON);
          }
          return deleteSpace(c, params.id!);
        });
        if (!deleted) throw new NotFoundError('Space');
        return { status: 'deleted', id: params.id };
      },
    },
  ];
}
