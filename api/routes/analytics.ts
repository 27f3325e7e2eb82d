/**
 * Analytics routes: parking sessions and per-bucket occupancy metrics, with the Curb Data
 * Specification's metric names (definitions in src/storage/analytics.ts).
 */
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { ValidationError } from '../../src/errors.js';
import { listOf, pageWindow, pagination, uuid, timestamp, type Page } from '../../src/schemas/common.js';
import { listSessions, occupancyMetrics, type BucketMetrics, type Interval } from '../../src/storage/analytics.js';
import type { DocumentedRoute } from '../../src/openapi.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Ranges are bounded so one request stays one cheap statement: 31 days of hours, 366 of days. */
const MAX_RANGE_MS: Record<Interval, number> = { hour: 31 * DAY_MS, day: 366 * DAY_MS };
/** Without `from`, the range is the last day (hours) or the last week (days). */
const DEFAULT_RANGE_MS: Record<Interval, number> = { hour: DAY_MS, day: 7 * DAY_MS };
/** Sessions listed without `from` start within the last day; at most a year per request. */
const SESSIONS_DEFAULT_MS = DAY_MS;
const SESSIONS_MAX_MS = 366 * DAY_MS;

const range = {
  from: { ...timestamp, description: 'Start of the range (inclusive)' },
  to: { ...timestamp, description: 'End of the range (exclusive); default now' },
} as const;

const sessionSchema = {
  type: 'object',
  properties: {
    space_id: uuid,
    code: { type: 'string' },
    site_id: uuid,
    started_at: timestamp,
    ended_at: { type: ['string', 'null'], format: 'date-time' },
    dwell_seconds: { type: ['number', 'null'] },
    end_state: { type: ['string', 'null'] },
    start_event_id: { type: 'integer' },
    end_event_id: { type: ['integer', 'null'] },
    device_id: { type: ['string', 'null'], format: 'uuid' },
  },
} as const;

const nullableNumber = { type: ['number', 'null'] } as const;

const bucketSchema = {
  type: 'object',
  properties: {
    start: timestamp,
    end: timestamp,
    date: { type: 'string', description: "Local date of the bucket's start (site time zone)" },
    hour: { type: ['integer', 'null'], description: "Local hour of the bucket's start; null for days" },
    spaces: { type: 'integer' },
    total_sessions: { type: 'integer' },
    turnover: nullableNumber,
    average_dwell_time: nullableNumber,
    occupancy_percent: nullableNumber,
    unknown_percent: nullableNumber,
    per_space: {
      type: ['array', 'null'],
      items: { type: 'object', properties: { space_id: uuid, occupancy_percent: nullableNumber, unknown_percent: nullableNumber } },
    },
  },
} as const;

const occupancyResponse = {
  type: 'object',
  properties: {
    interval: { type: 'string', enum: ['hour', 'day'] },
    from: timestamp,
    to: timestamp,
    sites: { type: 'array', items: { type: 'object', properties: { site_id: uuid, buckets: { type: 'array', items: bucketSchema } } } },
  },
} as const;

/** Resolves and checks a requested range. */
function window(q: { from?: string; to?: string }, defaultMs: number, maxMs: number): { from: Date; to: Date } {
  const to = q.to ? new Date(q.to) : new Date();
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - defaultMs);
  if (from >= to) throw new ValidationError('query.from must be before query.to', [{ field: 'query.from', message: 'query.from must be before query.to' }]);
  if (to.getTime() - from.getTime() > maxMs) {
    const message = `query.from: the range may span at most ${maxMs / DAY_MS} days`;
    throw new ValidationError(message, [{ field: 'query.from', message }]);
  }
  return { from, to };
}

export function analyticsRoutes(deps: { pool: Pool }): DocumentedRoute[] {
  return [
    {
      method: 'get', path: '/api/v6/analytics/sessions', summary: 'Parking sessions derived from space state changes', tag: 'analytics',
      auth: 'viewer', response: listOf(sessionSchema),
      query: { type: 'object', properties: { site_id: uuid, space_id: uuid, ...range, ...pagination } },
      description:
        'A session starts when a space becomes occupied and ends at its next change of state (normally to free; ' +
        '`end_state` tells). Sessions that started in [from, to) are listed, oldest first; `ended_at` and `dwell_seconds` ' +
        'are null while the space is still occupied.',
      handler: async (_ctx, { query, principal }) => {
        const q = query as Page & { site_id?: string; space_id?: string; from?: string; to?: string };
        const { from, to } = window(q, SESSIONS_DEFAULT_MS, SESSIONS_MAX_MS);
        const { limit, offset } = pageWindow(q);
        const r = await withTx(deps.pool, { tenantId: principal.tenantId }, (c) =>
          listSessions(c, { siteId: q.site_id ?? null, spaceId: q.space_id ?? null, from, to }, limit, offset),
        );
        return { ...r, page: q.page, page_size: q.page_size };
      },
    },
    {
      method: 'get', path: '/api/v6/analytics/occupancy', summary: 'Occupancy metrics per site and hour or day (CDS)', tag: 'analytics',
      auth: 'viewer', response: occupancyResponse,
      query: {
        type: 'object',
        properties: {
          site_id: uuid,
          ...range,
          interval: { type: 'string', enum: ['hour', 'day'], default: 'hour' },
          per_space: { type: 'boolean', default: false, description: 'Also give each space’s occupancy_percent and unknown_percent' },
        },
      },
      description:
        'Per bucket (hours or days of the site’s time zone): total_sessions (sessions started in it), turnover (sessions ' +
        'per space), average_dwell_time (seconds, ended sessions), occupancy_percent (occupied time / (spaces × bucket ' +
        'length)) and unknown_percent (time unknown / the same). After the Curb Data Specification: a space unknown for ' +
        'most of a bucket has occupancy −1 there and is left out of the site’s figure, which is −1 when every space was.',
      handler: async (_ctx, { query, principal }) => {
        const q = query as { site_id?: string; from?: string; to?: string; interval: Interval; per_space: boolean };
        const { from, to } = window(q, DEFAULT_RANGE_MS[q.interval], MAX_RANGE_MS[q.interval]);
        const rows = await withTx(deps.pool, { tenantId: principal.tenantId }, (c) =>
          occupancyMetrics(c, { siteId: q.site_id ?? null, from, to, interval: q.interval, perSpace: q.per_space }),
        );
        const sites = new Map<string, Omit<BucketMetrics, 'site_id'>[]>();
        for (const { site_id, ...bucket } of rows) {
          const list = sites.get(site_id) ?? [];
          list.push(bucket);
          sites.set(site_id, list);
        }
        return { interval: q.interval, from, to, sites: [...sites].map(([site_id, buckets]) => ({ site_id, buckets })) };
      },
    },
  ];
}
