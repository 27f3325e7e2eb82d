/**
 * Live event routes: the Server-Sent Events stream of a tenant's space events, and the
 * WebSocket endpoint's entry in the route list (the upgrade itself is handled by the
 * http server, api/live/ws.ts). The tenant always comes from the token.
 */
import type { LiveHub } from '../live/hub.js';
import { SseSink } from '../live/sse.js';
import { filterOf, LIVE_TYPES, liveQuerySchema, resumeId, type LiveQuery } from '../live/filter.js';
import { AppError, ServiceUnavailableError } from '../../src/errors.js';
import { EVENT_TYPES } from '../../src/storage/space-events.js';
import type { DocumentedRoute } from '../../src/openapi.js';
import { roleAtLeast } from '../../src/auth/roles.js';

/** The JSON each event carries (SSE `data:`, WebSocket `data`). */
export const liveEventSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    space_id: { type: 'string', format: 'uuid' },
    code: { type: 'string' },
    site_id: { type: 'string', format: 'uuid' },
    from: { type: 'string' },
    to: { type: 'string' },
    cause: { type: 'string' },
    at: { type: 'string', format: 'date-time' },
    device_id: { type: ['string', 'null'], format: 'uuid' },
    reservation_id: { type: ['string', 'null'], format: 'uuid' },
  },
} as const;

const TYPES_DOC =
  `Event types: ${EVENT_TYPES.join(', ')}. A reservation cause (reservation_start/_end, check_in/_out) is ` +
  '`reservation`; comms_lost and sensor_removed are `device_health`; a space occupied longer than its ' +
  '`config.max_stay_minutes` sends one `overstay` per stay; every other change of state is `space_state`. ' +
  'Admins also get `webhook_disabled` (no `id`, not replayed; data: subscription_id, reason, at) when an outbound webhook ' +
  'subscription is disabled after repeated failures; `types` may name it.';

export function eventRoutes(deps: { live?: LiveHub }): DocumentedRoute[] {
  const hub = (): LiveHub => {
    if (!deps.live) throw new ServiceUnavailableError('Live events are not running in this process');
    return deps.live;
  };
  return [
    {
      method: 'get', path: '/api/v6/events', summary: "Server-Sent Events stream of the tenant's space events", tag: 'events',
      auth: 'viewer', query: liveQuerySchema, contentType: 'text/event-stream', queryToken: true,
      response: { type: 'string', description: 'text/event-stream; each message: `id:` event id, `event:` type, `data:` JSON event' },
      description:
        'Each message carries `id:` (the event id), `event:` (its type) and `data:` (JSON: id, space_id, code, site_id, from, to, ' +
        'cause, at, device_id, reservation_id). A client reconnecting with `Last-Event-ID` (or `?last_event_id=`) first gets the ' +
        'events it missed (at most LIVE_REPLAY_MAX_EVENTS, none older than LIVE_REPLAY_MAX_HOURS), then live ones, without gap or ' +
        'duplicate. A comment line every LIVE_HEARTBEAT_MS keeps the stream open; a client that leaves more than ' +
        'LIVE_CLIENT_BUFFER_BYTES unread is disconnected (it may resume). The stream ends when the token expires. ' + TYPES_DOC,
      handler: async (ctx, { query, principal }) => {
        const live = hub();
        const q = query as LiveQuery;
        const sink = new SseSink(ctx);
        let remove: (() => void) | null = null;
        let gone = false;
        ctx.res.once('close', () => {
          gone = true;
          remove?.();
        });
        const exp = (ctx.state.jwt as { exp?: number } | undefined)?.exp;
        remove = await live.subscribe({
          tenantId: principal.tenantId,
          sink,
          filter: filterOf(q),
          lastEventId: resumeId(ctx.get('last-event-id') || undefined, q),
          expiresAt: typeof exp === 'number' ? exp * 1000 : undefined,
          admin: roleAtLeast(principal.role, 'admin'),
        });
        if (gone) remove();
        sink.respond();
        return undefined;
      },
    },
    {
      method: 'get', path: '/api/v6/ws', summary: "WebSocket stream of the tenant's space events", tag: 'events',
      auth: 'viewer', query: liveQuerySchema, queryToken: true, status: 101,
      response: {
        type: 'object',
        description: 'Each WebSocket message after the upgrade',
        properties: { id: { type: 'integer', description: 'Absent on webhook_disabled' }, event: { type: 'string', enum: LIVE_TYPES }, data: liveEventSchema },
      },
      description:
        'Upgrade to a WebSocket (`new WebSocket(url, ["bearer", token])` or `?access_token=`). Each message is JSON ' +
        '`{"id", "event", "data"}` with the fields of the SSE stream; the same filters and `?last_event_id=` resume apply. ' +
        'A plain GET answers 426. ' + TYPES_DOC,
      handler: async () => {
        throw new AppError(426, 'upgrade_required', 'This endpoint speaks WebSocket: send an Upgrade request', [], { Upgrade: 'websocket' });
      },
    },
  ];
}
