/** Owns schema pieces shared by several resources: ids, pagination, list envelopes. */
export const uuid = { type: 'string', format: 'uuid' } as const;
export const timestamp = { type: 'string', format: 'date-time' } as const;

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 500;

/**
 * Highest page number accepted. Without a bound, a page such as 10^400 (found by
 * test/integration/fuzz-api.test.ts) made an OFFSET beyond bigint and a 500; a million
 * pages of MAX_PAGE_SIZE rows is far past any list a tenant holds.
 */
export const MAX_PAGE = 1_000_000;

export const pagination = {
  page: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 1 },
  page_size: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE },
} as const;

export interface Page {
  page: number;
  page_size: number;
}

export function pageWindow(p: Page): { limit: number; offset: number } {
  return { limit: p.page_size, offset: (p.page - 1) * p.page_size };
}

export function listOf(item: object) {
  return {
    type: 'object',
    required: ['items', 'total', 'page', 'page_size'],
    properties: {
      items: { type: 'array', items: item },
      total: { type: 'integer' },
      page: { type: 'integer' },
      page_size: { type: 'integer' },
    },
  } as const;
}

export const errorBody = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'details'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'array' } },
    },
  },
} as const;

/** A point on the map (WGS 84 degrees), or null: sites and gateways carry one. */
export const location = {
  type: ['object', 'null'],
  required: ['lat', 'lon'],
  properties: { lat: { type: 'number', minimum: -90, maximum: 90 }, lon: { type: 'number', minimum: -180, maximum: 180 } },
} as const;
