/**
 * Owns the SQL for outbound webhooks: subscriptions, the fan-out of space_events and
 * tenant_events into per-subscription deliveries, and the delivery queue (its head,
 * outcomes, redelivery).
 */
import type { Queryable } from '../db/pool.js';
import { EVENT_TYPE_SQL, type EventType } from './space-events.js';
import { SEQUENCE_BATCH, sequenceTenantEvents } from './tenant-events.js';

export interface Subscription {
  id: string;
  tenant_id: string;
  url: string;
  events: EventType[];
  site_ids: string[] | null;
  enabled: boolean;
  secret: string;
  consecutive_failures: number;
  disabled_reason: string | null;
  disabled_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const SUB_COLUMNS = `id, tenant_id, url, events, site_ids, enabled, secret, consecutive_failures, disabled_reason, disabled_at, created_at, updated_at`;

/** The subscription as the API shows it: never the secret (shown once, at creation). */
export function subscriptionJson(s: Subscription) {
  return {
    id: s.id,
    url: s.url,
    events: s.events,
    site_ids: s.site_ids,
    enabled: s.enabled,
    consecutive_failures: s.consecutive_failures,
    disabled_reason: s.disabled_reason,
    disabled_at: s.disabled_at,
    created_at: s.created_at,
    updated_at: s.updated_at,
  };
}

export interface SubscriptionInput {
  url: string;
  events: EventType[];
  site_ids: string[] | null;
  enabled: boolean;
}

/**
 * A new subscription receives the events after the tenant's newest one, of either source.
 * The tenant's committed tenant_events are numbered first, so none from before it is
 * numbered after its cursor and delivered to it.
 */
export async function insertSubscription(c: Queryable, tenantId: string, s: SubscriptionInput, secret: string): Promise<Subscription> {
  while ((await sequenceTenantEvents(c, tenantId)) === SEQUENCE_BATCH);
  const r = await c.query<Subscription>(
    `INSERT INTO webhook_subscriptions (tenant_id, url, events, site_ids, enabled, secret, last_event_id, last_tenant_event_id)
     VALUES ($1, $2, $3, $4, $5, $6, (SELECT coalesce(max(id), 0) FROM space_events WHERE tenant_id = $1),
             (SELECT coalesce(max(seq), 0) FROM tenant_events WHERE tenant_id = $1))
     RETURNING ${SUB_COLUMNS}`,
    [tenantId, s.url, s.events, s.site_ids, s.enabled, secret],
  );
  return r.rows[0]!;
}

export async function listSubscriptions(c: Queryable, tenantId: string): Promise<Subscription[]> {
  const r = await c.query<Subscription>(`SELECT ${SUB_COLUMNS} FROM webhook_subscriptions WHERE tenant_id = $1 ORDER BY created_at, id`, [tenantId]);
  return r.rows;
}

export async function getSubscription(c: Queryable, id: string): Promise<Subscription | null> {
  const r = await c.query<Subscription>(`SELECT ${SUB_COLUMNS} FROM webhook_subscriptions WHERE id = $1`, [id]);
  return r.rows[0] ?? null;
}

/**
 * Replaces a subscription's settings. Enabling it clears the failure count and the reason it
 * was disabled, and makes its pending deliveries due now: the head was disabled waiting out
 * the longest backoff (hours), and the admin enabling it means the receiver is fixed, so
 * delivery resumes from the oldest undelivered event at the next run, not hours later.
 */
export async function updateSubscription(c: Queryable, id: string, s: SubscriptionInput): Promise<Subscription | null> {
  const r = await c.query<Subscription>(
    `WITH old AS (SELECT enabled FROM webhook_subscriptions WHERE id = $1),
     resumed AS (
       UPDATE webhook_deliveries SET next_attempt_at = now()
        WHERE subscription_id = $1 AND status = 'pending' AND $5 AND NOT (SELECT enabled FROM old))
     UPDATE webhook_subscriptions SET url = $2, events = $3, site_ids = $4, enabled = $5, updated_at = now(),
            consecutive_failures = CASE WHEN $5 AND NOT enabled THEN 0 ELSE consecutive_failures END,
            disabled_reason = CASE WHEN $5 THEN NULL ELSE disabled_reason END,
            disabled_at = CASE WHEN $5 THEN NULL ELSE disabled_at END
      WHERE id = $1 RETURNING ${SUB_COLUMNS}`,
    [id, s.url, s.events, s.site_ids, s.enabled],
  );
  return r.rows[0] ?? null;
}

export async function deleteSubscription(c: Queryable, id: string): Promise<boolean> {
  const r = await c.query(`DELETE FROM webhook_subscriptions WHERE id = $1`, [id]);
  return (r.rowCount ?? 0) > 0;
}

/** Enabled subscriptions of every tenant (the ingest role reads them all). */
export async function enabledSubscriptions(c: Queryable): Promise<{ id: string; tenant_id: string }[]> {
  const r = await c.query<{ id: string; tenant_id: string }>(`SELECT id, tenant_id FROM webhook_subscriptions WHERE enabled ORDER BY tenant_id, id`);
  return r.rows;
}

/**
 * Locks an enabled subscription for this worker's fan-out: its cursors are then this
 * transaction's alone (another replica skips it).
 */
export type LockedSubscription = Subscription & { last_event_id: number; last_tenant_event_id: number };

export async function lockSubscription(c: Queryable, id: string): Promise<LockedSubscription | null> {
  const r = await c.query<LockedSubscription>(
    `SELECT ${SUB_COLUMNS}, last_event_id, last_tenant_event_id FROM webhook_subscriptions WHERE id = $1 AND enabled FOR UPDATE SKIP LOCKED`,
    [id],
  );
  return r.rows[0] ?? null;
}

/**
 * Namespace of the transaction-level advisory lock a worker holds while it sends one of a
 * subscription's deliveries (two-key form, as BOOKING_LOCK_NAMESPACE in reservations.ts).
 */
const SEND_LOCK_NAMESPACE = 727_005;

/**
 * Claims an enabled subscription for one send: another worker skips it until this
 * transaction ends, so only one head is ever in flight and deliveries stay in order.
 *
 * An advisory lock rather than the row lock: an admin's PUT or DELETE of the subscription
 * then commits at once instead of waiting out a send (up to WEBHOOK_TIMEOUT_MS), and the
 * worker's next claim reads `enabled` again. With the row lock the waiting change did not
 * always win: PostgreSQL does not queue row-lock waiters fairly, and the worker's next
 * send could lock the row again first (a flaky test showed it).
 */
export async function claimSubscriptionForSend(c: Queryable, id: string): Promise<Subscription | null> {
  const r = await c.query<Subscription>(
    `SELECT ${SUB_COLUMNS} FROM webhook_subscriptions
      WHERE id = $1 AND enabled AND pg_try_advisory_xact_lock(${SEND_LOCK_NAMESPACE}, hashtext($1::text))`,
    [id],
  );
  return r.rows[0] ?? null;
}

type FanOutSub = Pick<LockedSubscription, 'id' | 'tenant_id' | 'last_event_id' | 'last_tenant_event_id' | 'events' | 'site_ids'>;

/**
 * Creates the deliveries for the subscription's events after its two cursors (up to `limit`
 * events of each source), and moves each cursor past every event read, matching or not.
 * Space events first, then tenant events: the order holds within each source, which is all
 * a receiver can rely on (the two are written by different transactions). Returns the
 * deliveries created and the events read, so the caller knows whether a source has more.
 */
export async function fanOut(c: Queryable, sub: FanOutSub, limit: number): Promise<{ created: number; read: number }> {
  const space = await fanOutSpaceEvents(c, sub, limit);
  const tenant = await fanOutTenantEvents(c, sub, limit);
  return { created: space.created + tenant.created, read: Math.max(space.read, tenant.read) };
}

/** space_events: the event type is decided by EVENT_TYPE_SQL, as for the live stream. */
async function fanOutSpaceEvents(c: Queryable, sub: FanOutSub, limit: number): Promise<{ created: number; read: number }> {
  const r = await c.query<{ created: number; read: number }>(
    `WITH src AS (
       SELECT e.id, ${EVENT_TYPE_SQL} AS type, e.space_id, s.code, e.site_id, e.from_state, e.to_state, e.cause, e.at,
              e.device_id, e.reservation_id
         FROM space_events e JOIN spaces s ON s.id = e.space_id
        WHERE e.tenant_id = $1 AND e.id > $2 ORDER BY e.id LIMIT $6),
     ins AS (
       INSERT INTO webhook_deliveries (tenant_id, subscription_id, source, event_id, type, data)
       SELECT $1, $3, 'space', id, type, jsonb_build_object('id', id, 'space_id', space_id, 'code', code, 'site_id', site_id,
                'from', from_state, 'to', to_state, 'cause', cause, 'at', at, 'device_id', device_id, 'reservation_id', reservation_id)
         FROM src WHERE type = ANY($4::text[]) AND ($5::uuid[] IS NULL OR site_id = ANY($5::uuid[]))
        ORDER BY id
       ON CONFLICT (subscription_id, source, event_id) DO NOTHING
       RETURNING 1),
     moved AS (
       UPDATE webhook_subscriptions SET last_event_id = (SELECT max(id) FROM src) WHERE id = $3 AND EXISTS (SELECT 1 FROM src))
     SELECT (SELECT count(*) FROM ins)::int AS created, (SELECT count(*) FROM src)::int AS read`,
    [sub.tenant_id, sub.last_event_id, sub.id, sub.events, sub.site_ids, limit],
  );
  return r.rows[0]!;
}

/**
 * tenant_events (migrations/0012): reservations' lifecycle and device health beyond space
 * state, read in commit order (`seq`, src/storage/tenant-events.ts; the cursor
 * last_tenant_event_id holds a seq). data carries the event's name as `event`, its site and
 * time, then the entity's ids and facts. An event without a site (a gateway's, an unassigned
 * device's) reaches only subscriptions without a site filter.
 */
async function fanOutTenantEvents(c: Queryable, sub: FanOutSub, limit: number): Promise<{ created: number; read: number }> {
  const r = await c.query<{ created: number; read: number }>(
    `WITH src AS (
       SELECT e.id, e.seq, e.type, e.name, e.site_id, e.data, e.at FROM tenant_events e
        WHERE e.tenant_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $6),
     ins AS (
       INSERT INTO webhook_deliveries (tenant_id, subscription_id, source, event_id, type, data)
       SELECT $1, $3, 'tenant', id, type, jsonb_build_object('id', id, 'event', name, 'site_id', site_id, 'at', at) || data
         FROM src WHERE type = ANY($4::text[]) AND ($5::uuid[] IS NULL OR site_id = ANY($5::uuid[]))
        ORDER BY seq
       ON CONFLICT (subscription_id, source, event_id) DO NOTHING
       RETURNING 1),
     moved AS (
       UPDATE webhook_subscriptions SET last_tenant_event_id = (SELECT max(seq) FROM src) WHERE id = $3 AND EXISTS (SELECT 1 FROM src))
     SELECT (SELECT count(*) FROM ins)::int AS created, (SELECT count(*) FROM src)::int AS read`,
    [sub.tenant_id, sub.last_tenant_event_id, sub.id, sub.events, sub.site_ids, limit],
  );
  return r.rows[0]!;
}

export interface Delivery {
  id: string;
  subscription_id: string;
  source: 'space' | 'tenant';
  event_id: number | null;
  type: string;
  data: unknown;
  created_at: Date;
  status: 'pending' | 'delivered';
  attempts: number;
  next_attempt_at: Date;
  last_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: Date | null;
}

const DELIVERY_COLUMNS = `id, subscription_id, source, event_id, type, data, created_at, status, attempts, next_attempt_at, last_attempt_at,
  last_status_code, last_error, delivered_at`;

export function deliveryJson(d: Delivery) {
  return {
    id: d.id,
    source: d.source,
    event_id: d.event_id,
    type: d.type,
    status: d.status,
    attempts: d.attempts,
    last_status_code: d.last_status_code,
    last_error: d.last_error,
    next_attempt_at: d.status === 'pending' ? d.next_attempt_at : null,
    last_attempt_at: d.last_attempt_at,
    delivered_at: d.delivered_at,
    created_at: d.created_at,
  };
}

/** The oldest pending delivery of a subscription, and whether it is due: only the head is ever sent, which keeps the order. */
export async function queueHead(c: Queryable, subscriptionId: string): Promise<(Delivery & { due: boolean }) | null> {
  const r = await c.query<Delivery & { due: boolean }>(
    `SELECT ${DELIVERY_COLUMNS}, next_attempt_at <= now() AS due FROM webhook_deliveries
      WHERE subscription_id = $1 AND status = 'pending' ORDER BY seq LIMIT 1`,
    [subscriptionId],
  );
  return r.rows[0] ?? null;
}

export async function markDelivered(c: Queryable, id: string, statusCode: number): Promise<void> {
  await c.query(
    `WITH d AS (
       UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, last_attempt_at = now(), delivered_at = now(),
              last_status_code = $2, last_error = NULL
        WHERE id = $1 RETURNING subscription_id)
     UPDATE webhook_subscriptions SET consecutive_failures = 0 WHERE id = (SELECT subscription_id FROM d)`,
    [id, statusCode],
  );
}

/** Records a failed attempt; returns the subscription's consecutive failures. */
export async function markFailed(c: Queryable, id: string, o: { statusCode: number | null; error: string; retryInSeconds: number }): Promise<number> {
  const r = await c.query<{ failures: number }>(
    `WITH d AS (
       UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = now(), last_status_code = $2, last_error = $3,
              next_attempt_at = now() + make_interval(secs => $4)
        WHERE id = $1 RETURNING subscription_id)
     UPDATE webhook_subscriptions SET consecutive_failures = consecutive_failures + 1
      WHERE id = (SELECT subscription_id FROM d) RETURNING consecutive_failures AS failures`,
    [id, o.statusCode, o.error.slice(0, 2000), o.retryInSeconds],
  );
  return r.rows[0]?.failures ?? 0;
}

/** Returns when it was disabled (disabled_at). */
export async function disableSubscription(c: Queryable, id: string, reason: string): Promise<Date> {
  const r = await c.query<{ at: Date }>(
    `UPDATE webhook_subscriptions SET enabled = false, disabled_reason = $2, disabled_at = now(), updated_at = now() WHERE id = $1
     RETURNING disabled_at AS at`,
    [id, reason],
  );
  return r.rows[0]?.at ?? new Date();
}

export async function listDeliveries(c: Queryable, subscriptionId: string, limit: number, offset: number): Promise<{ items: Delivery[]; total: number }> {
  const r = await c.query<Delivery>(
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE subscription_id = $1 ORDER BY seq DESC LIMIT $2 OFFSET $3`,
    [subscriptionId, limit, offset],
  );
  const n = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_deliveries WHERE subscription_id = $1`, [subscriptionId]);
  return { items: r.rows, total: n.rows[0]!.n };
}

/** Sends a delivery again as soon as the worker reaches it (same id, so receivers can dedupe). */
export async function redeliver(c: Queryable, subscriptionId: string, id: string): Promise<Delivery | null> {
  const r = await c.query<Delivery>(
    `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), delivered_at = NULL
      WHERE subscription_id = $1 AND id = $2 RETURNING ${DELIVERY_COLUMNS}`,
    [subscriptionId, id],
  );
  return r.rows[0] ?? null;
}

/**
 * Deletes delivered deliveries older than `days`, at most `limit` per call. Pending ones
 * stay whatever their age: they are the subscription's queue.
 */
export async function deleteDeliveredOlderThan(c: Queryable, days: number, limit: number): Promise<number> {
  const r = await c.query(
    `DELETE FROM webhook_deliveries WHERE id IN (
       SELECT id FROM webhook_deliveries
        WHERE status = 'delivered' AND delivered_at < now() - make_interval(days => $1) LIMIT $2)`,
    [days, limit],
  );
  return r.rowCount ?? 0;
}
