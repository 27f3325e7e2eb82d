/**
 * Dead-letter route: the input ingest kept because it could not process it (a frame its
 * decoder refused, a device of another tenant, …), so an operator can see why a sensor's
 * uplinks did not count. Read-only.
 */
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { listOf, pageWindow, pagination, timestamp, type Page } from '../../src/schemas/common.js';
import { DEAD_LETTER_PAYLOAD_MAX_BYTES, listDeadLetters, PAYLOAD_PREVIEW_BYTES, type DeadLetterListRow } from '../../src/storage/dead-letters.js';
import type { RouteDef } from './route.js';

const deadLetterSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    topic: { type: 'string' },
    reason: { type: 'string', description: 'Why ingest kept it: decode_failed, foreign_device, unknown_topic, …' },
    error: { type: 'string' },
    decoder: { type: ['string', 'null'] },
    dev_eui: { type: ['string', 'null'] },
    payload_bytes: { type: 'integer', description: "The payload's size as received" },
    payload_truncated: {
      type: 'boolean',
      description: `True when the payload was larger than the ${DEAD_LETTER_PAYLOAD_MAX_BYTES} bytes a dead letter keeps: only its first ${DEAD_LETTER_PAYLOAD_MAX_BYTES} bytes are stored`,
    },
    payload_preview: { type: 'string', description: `The payload's first ${PAYLOAD_PREVIEW_BYTES} bytes, base64` },
    received_at: timestamp,
  },
} as const;

const listQuery = {
  type: 'object',
  properties: {
    reason: { type: 'string', minLength: 1, maxLength: 50 },
    dev_eui: { type: 'string', pattern: '^[0-9A-Fa-f]{16}$' },
    ...pagination,
  },
} as const;

function deadLetterJson(r: DeadLetterListRow) {
  return {
    id: r.id,
    topic: r.topic,
    reason: r.reason,
    error: r.error,
    decoder: r.decoder,
    dev_eui: r.dev_eui,
    payload_bytes: r.payload_bytes,
    payload_truncated: r.payload_stored_bytes < r.payload_bytes,
    payload_preview: r.payload_preview.toString('base64'),
    received_at: r.received_at,
  };
}

export function deadLetterRoutes(deps: { pool: Pool }): RouteDef[] {
  return [
    {
      method: 'get', path: '/api/v6/dead-letters', summary: "The tenant's dead letters (input ingest could not process), newest first",
      tag: 'dead-letters', auth: 'operator', query: listQuery, response: listOf(deadLetterSchema),
      handler: async (_ctx, { query, principal }) => {
        const q = query as Page & { reason?: string; dev_eui?: string };
        const { limit, offset } = pageWindow(q);
        const r = await withTx(deps.pool, { tenantId: principal.tenantId }, (c) => listDeadLetters(c, { reason: q.reason, dev_eui: q.dev_eui }, limit, offset));
        return { items: r.items.map(deadLetterJson), total: r.total, page: q.page, page_size: q.page_size };
      },
    },
  ];
}
