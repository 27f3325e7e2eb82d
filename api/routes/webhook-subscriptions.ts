/**
 * Outbound webhook routes (admin): the tenant's subscriptions to its own events, their
 * deliveries, redelivery and a test ping. Sending is ingest's job (ingest/jobs/deliver-webhooks.ts);
 * only the ping is sent from here, at once, so the admin sees the receiver's answer.
 */
import { randomUUID } from 'node:crypto';
import type { Pool, Queryable } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { NotFoundError, ValidationError } from '../../src/errors.js';
import { missingSiteIds } from '../../src/storage/sites.js';
import { listOf, pageWindow, pagination, timestamp, uuid, type Page } from '../../src/schemas/common.js';
import { EVENT_TYPES, type EventType } from '../../src/storage/space-events.js';
import {
  deleteSubscription, deliveryJson, getSubscription, insertSubscription, listDeliveries, listSubscriptions, redeliver,
  subscriptionJson, updateSubscription, type SubscriptionInput,
} from '../../src/storage/webhook-subscriptions.js';
import { newSecret } from '../../src/webhooks/signature.js';
import { checkWebhookUrl, sendWebhook } from '../../src/webhooks/target.js';
import type { RouteDef } from './route.js';

export interface WebhookSubscriptionDeps {
  pool: Pool;
  allowPrivate: boolean;
  timeoutMs: number;
}

const nullableTime = { ...timestamp, type: ['string', 'null'] } as const;

const subscriptionBody = {
  type: 'object',
  required: ['url', 'events'],
  properties: {
    url: { type: 'string', minLength: 1, maxLength: 2000, description: 'http(s) URL; must resolve to a public address unless WEBHOOK_ALLOW_PRIVATE' },
    events: {
      type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: EVENT_TYPES },
      description:
        'space_state: a space changed state (data: space_id, code, site_id, from, to, cause, at, device_id, reservation_id). ' +
        'overstay: a space occupied past its max stay (same data). reservation: the space changes a reservation causes ' +
        '(cause reservation_start/_end, check_in/_out, no_show) and, with data.event, its lifecycle: created, started, ' +
        'checked_in, checked_out, completed, expired, no_show, cancelled (data: reservation_id, space_id, site_id, status, ' +
        'start_time, end_time, checked_in_at, checked_out_at, cancelled_at, cancellation_reason, at). device_health: ' +
        'comms_lost, comms_restored, sensor_removed (as space changes) and, with data.event, low_battery (device_id, dev_eui, ' +
        'name, space_id, battery, battery_volts) and gateway_offline (gateway_id, gateway_eui, name, since, device_count)',
    },
    site_ids: {
      type: ['array', 'null'], items: uuid,
      description: 'Only events of these sites; all sites when left out. Events without a site (gateway_offline, low_battery of an unassigned device) reach only subscriptions without this filter',
    },
    enabled: { type: 'boolean', default: true },
  },
} as const;

const subscriptionSchema = {
  type: 'object',
  properties: {
    id: uuid,
    url: { type: 'string' },
    events: { type: 'array', items: { type: 'string', enum: EVENT_TYPES } },
    site_ids: { type: ['array', 'null'], items: uuid },
    enabled: { type: 'boolean' },
    consecutive_failures: { type: 'integer' },
    disabled_reason: { type: ['string', 'null'], description: 'Why delivery stopped, when it was disabled after repeated failures' },
    disabled_at: nullableTime,
    created_at: timestamp,
    updated_at: timestamp,
  },
} as const;

const deliverySchema = {
  type: 'object',
  properties: {
    id: { ...uuid, description: 'Sent as X-Baygate-Delivery, for receivers to dedupe' },
    source: { type: 'string', enum: ['space', 'tenant'], description: 'Where event_id points: space_events (a change of space state) or tenant_events (a reservation or device event)' },
    event_id: { type: ['integer', 'null'] },
    type: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'delivered'] },
    attempts: { type: 'integer' },
    last_status_code: { type: ['integer', 'null'] },
    last_error: { type: ['string', 'null'] },
    next_attempt_at: nullableTime,
    last_attempt_at: nullableTime,
    delivered_at: nullableTime,
    created_at: timestamp,
  },
} as const;

interface Body {
  url: string;
  events: EventType[];
  site_ids?: string[] | null;
  enabled: boolean;
}

/**
 * A site filter must name the tenant's own live sites: a mistyped id would otherwise filter
 * out every event without a word. Another tenant's site answers like a random id.
 */
async function checkSites(c: Queryable, s: SubscriptionInput): Promise<void> {
  const missing = s.site_ids ? await missingSiteIds(c, s.site_ids) : [];
  if (missing.length > 0) {
    const message = `body.site_ids: no such site: ${missing.join(', ')}`;
    throw new ValidationError(message, [{ field: 'body.site_ids', message }]);
  }
}

export function webhookSubscriptionRoutes(deps: WebhookSubscriptionDeps): RouteDef[] {
  const { pool } = deps;
  const input = async (b: Body): Promise<SubscriptionInput> => {
    await checkWebhookUrl(b.url, deps.allowPrivate);
    return { url: b.url, events: b.events, site_ids: b.site_ids && b.site_ids.length > 0 ? b.site_ids : null, enabled: b.enabled };
  };
  const found = <T>(x: T | null | false): T => {
    if (!x) throw new NotFoundError('Webhook');
    return x;
  };
  return [
    {
      method: 'post', path: '/api/v6/webhooks', summary: 'Subscribe a URL to events; the signing secret is shown once', tag: 'webhooks', auth: 'admin',
      body: subscriptionBody, status: 201,
      response: { ...subscriptionSchema, properties: { ...subscriptionSchema.properties, secret: { type: 'string' } } },
      handler: async (_ctx, { body, principal }) => {
        const s = await input(body as Body);
        const secret = newSecret();
        const sub = await withTx(pool, { tenantId: principal.tenantId }, async (c) => {
          await checkSites(c, s);
          return insertSubscription(c, principal.tenantId, s, secret);
        });
        return { ...subscriptionJson(sub), secret };
      },
    },
    {
      method: 'get', path: '/api/v6/webhooks', summary: "List the tenant's webhook subscriptions", tag: 'webhooks', auth: 'admin',
      response: { type: 'object', required: ['items'], properties: { items: { type: 'array', items: subscriptionSchema } } },
      handler: async (_ctx, { principal }) => {
        const items = await withTx(pool, { tenantId: principal.tenantId }, (c) => listSubscriptions(c, principal.tenantId));
        return { items: items.map(subscriptionJson) };
      },
    },
    {
      method: 'get', path: '/api/v6/webhooks/:id', summary: 'A webhook subscription', tag: 'webhooks', auth: 'admin', response: subscriptionSchema,
      handler: async (_ctx, { params, principal }) =>
        subscriptionJson(found(await withTx(pool, { tenantId: principal.tenantId }, (c) => getSubscription(c, params.id!)))),
    },
    {
      method: 'put', path: '/api/v6/webhooks/:id', summary: 'Replace a webhook subscription; enabling it resumes from its oldest undelivered event', tag: 'webhooks', auth: 'admin',
      body: subscriptionBody, response: subscriptionSchema,
      handler: async (_ctx, { body, params, principal }) => {
        const s = await input(body as Body);
        return subscriptionJson(
          found(
            await withTx(pool, { tenantId: principal.tenantId }, async (c) => {
              await checkSites(c, s);
              return updateSubscription(c, params.id!, s);
            }),
          ),
        );
      },
    },
    {
      method: 'delete', path: '/api/v6/webhooks/:id', summary: 'Delete a webhook subscription and its deliveries', tag: 'webhooks', auth: 'admin', status: 204,
      handler: async (ctx, { params, principal }) => {
        found(await withTx(pool, { tenantId: principal.tenantId }, (c) => deleteSubscription(c, params.id!)));
        ctx.status = 204;
        return undefined;
      },
    },
    {
      method: 'post', path: '/api/v6/webhooks/:id/test', summary: 'Send a signed ping to the subscription now and show the answer', tag: 'webhooks', auth: 'admin',
      body: { type: 'object', properties: {} },
      response: {
        type: 'object',
        properties: { delivered: { type: 'boolean' }, status_code: { type: ['integer', 'null'] }, error: { type: ['string', 'null'] } },
      },
      handler: async (_ctx, { params, principal }) => {
        const sub = found(await withTx(pool, { tenantId: principal.tenantId }, async (c) => {
          const s = await getSubscription(c, params.id!);
          return s;
        }));
        const r = await sendWebhook({
          url: sub.url,
          secret: sub.secret,
          timeoutMs: deps.timeoutMs,
          allowPrivate: deps.allowPrivate,
          message: { id: randomUUID(), type: 'ping', created_at: new Date().toISOString(), data: { subscription_id: sub.id } },
        });
        return { delivered: r.ok, status_code: r.status, error: r.error };
      },
    },
    {
      method: 'get', path: '/api/v6/webhooks/:id/deliveries', summary: 'Deliveries of a subscription, newest first', tag: 'webhooks', auth: 'admin',
      query: { type: 'object', properties: pagination }, response: listOf(deliverySchema),
      handler: async (_ctx, { params, query, principal }) => {
        const q = query as Page;
        const { limit, offset } = pageWindow(q);
        const { items, total } = await withTx(pool, { tenantId: principal.tenantId }, async (c) => {
          found(await getSubscription(c, params.id!));
          return listDeliveries(c, params.id!, limit, offset);
        });
        return { items: items.map(deliveryJson), total, page: q.page, page_size: q.page_size };
      },
    },
    {
      method: 'post', path: '/api/v6/webhooks/:id/deliveries/:delivery_id/redeliver', summary: 'Send a delivery again (same delivery id)', tag: 'webhooks', auth: 'admin',
      body: { type: 'object', properties: {} }, response: deliverySchema,
      handler: async (_ctx, { params, principal }) => {
        const d = await withTx(pool, { tenantId: principal.tenantId }, (c) => redeliver(c, params.id!, params.delivery_id!));
        return deliveryJson(found(d));
      },
    },
  ];
}
