/**
 * Owns what a live client may ask for, shared by the SSE route and the WebSocket upgrade:
 * the query schema (validated at the edge, and documented), the filter it becomes, and
 * the resume id from Last-Event-ID or ?last_event_id=.
 */
import { uuid } from '../../src/schemas/common.js';
import { EVENT_TYPES, type EventFilter } from '../../src/storage/space-events.js';

/**
 * Sent to a tenant's admins when an outbound webhook subscription is disabled after repeated
 * failures (api/live/hub.ts). Not a space event: it carries no id and is not replayed.
 */
export const WEBHOOK_DISABLED_EVENT = 'webhook_disabled';
/** What a live client may filter on: the space event types and the alerts. */
export const LIVE_TYPES = [...EVENT_TYPES, WEBHOOK_DISABLED_EVENT] as const;

const TYPE_LIST = `^(${LIVE_TYPES.join('|')})(,(${LIVE_TYPES.join('|')}))*$`;

export const liveQuerySchema = {
  type: 'object',
  properties: {
    site_id: { ...uuid, description: 'Only events of spaces in this site' },
    space_id: { ...uuid, description: 'Only events of this space' },
    types: {
      type: 'string',
      pattern: TYPE_LIST,
      description: `Comma-separated event types to receive (${LIVE_TYPES.join(', ')}); all when left out`,
    },
    last_event_id: {
      type: 'integer',
      minimum: 0,
      description: 'Resume after this event id, as the Last-Event-ID header does (for clients that cannot set it)',
    },
  },
} as const;

export interface LiveQuery {
  site_id?: string;
  space_id?: string;
  types?: string;
  last_event_id?: number;
}

export function filterOf(q: LiveQuery): EventFilter {
  return {
    siteId: q.site_id ?? null,
    spaceId: q.space_id ?? null,
    types: q.types ? [...new Set(q.types.split(','))] : null,
  };
}

const EVENT_ID = /^\d{1,15}$/;

/**
 * The id to resume after: the Last-Event-ID header an EventSource sends when it
 * reconnects, else ?last_event_id=. We only ever send integer ids, so anything else in
 * the header is not ours and is ignored (the client gets live events only).
 */
export function resumeId(header: string | undefined, q: LiveQuery): number | null {
  const h = header?.trim();
  if (h && EVENT_ID.test(h)) return Number(h);
  return q.last_event_id ?? null;
}
