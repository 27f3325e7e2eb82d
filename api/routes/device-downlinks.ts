/**
 * A display's downlinks, newest first: the state it was told, the bytes on the wire, and
 * the outcome ChirpStack reported (txack / ack / log, by queue item id). Technicians and
 * above: it is how one checks a freshly mounted sign.
 */
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { NotFoundError } from '../../src/errors.js';
import { timestamp, uuid } from '../../src/schemas/common.js';
import { getDevice } from '../../src/storage/devices.js';
import { downlinkJson, listDownlinks } from '../../src/storage/display-downlinks.js';
import type { RouteDef } from './route.js';

const DEFAULT_DOWNLINKS = 20;
const MAX_DOWNLINKS = 500;
const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const;

const downlinkSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    device_id: uuid,
    space_id: { type: ['string', 'null'], format: 'uuid' },
    display_state: { enum: ['maintenance', 'reserved', 'occupied', 'free', 'unknown'] },
    colour: { type: 'string' },
    blink: { type: 'boolean' },
    encoding: { type: 'string' },
    topic: { type: 'string' },
    f_port: { type: 'integer' },
    data: { type: 'string', description: 'The payload, base64, as sent in command/down' },
    confirmed: { type: 'boolean' },
    status: { enum: ['pending', 'published', 'transmitted', 'acknowledged', 'failed', 'expired', 'superseded'] },
    attempts: { type: 'integer' },
    max_attempts: { type: 'integer' },
    queue_item_id: { type: ['string', 'null'], format: 'uuid', description: "The last attempt's ChirpStack queue item id: chosen by baygate on MQTT, returned by DeviceService.Enqueue on the API" },
    expires_at: { ...nullableTime, description: 'The expiresAt the last attempt was sent with (now + DISPLAY_ACK_TIMEOUT_SECONDS): ChirpStack ≥ 4.14 drops the item if not sent by then' },
    sent_via: { enum: ['mqtt', 'chirpstack_api', null], description: "How the last attempt reached ChirpStack: its MQTT command topic, or its gRPC DeviceService.Enqueue with flush_queue (CHIRPSTACK_API_URL set)" },
    next_attempt_at: timestamp,
    published_at: nullableTime,
    transmitted_at: nullableTime,
    acknowledged_at: nullableTime,
    last_error: { type: ['string', 'null'] },
    created_at: timestamp,
    updated_at: timestamp,
  },
} as const;

export function deviceDownlinkRoutes(deps: { pool: Pool }): RouteDef[] {
  return [
    {
      method: 'get', path: '/api/v6/devices/:id/downlinks', summary: "A display's downlinks and their outcome, newest first", tag: 'devices',
      auth: 'technician',
      query: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: MAX_DOWNLINKS, default: DEFAULT_DOWNLINKS } } },
      response: { type: 'object', properties: { device_id: uuid, items: { type: 'array', items: downlinkSchema } } },
      handler: async (_ctx, { params, query, principal }) =>
        withTx(deps.pool, principal, async (c) => {
          if (!(await getDevice(c, params.id!))) throw new NotFoundError('Device');
          const rows = await listDownlinks(c, params.id!, (query as { limit: number }).limit);
          return { device_id: params.id, items: rows.map(downlinkJson) };
        }),
    },
  ];
}
