/**
 * NOTIFY channel names and payload types, defined once for both processes. A NOTIFY is
 * only a wake-up with a few small facts; the events table is the data (a listener that
 * reconnects catches up from it).
 */

/** Every space_events row is announced here after its transaction commits. */
export const SPACE_EVENTS_CHANNEL = 'baygate_space_events';

export interface SpaceEventNotice {
  /** space_events.id: monotonic per tenant in commit order (writers hold a per-tenant lock). */
  id: number;
  tenant_id: string;
  space_id: string;
  to: string;
  at: string;
}

/** PostgreSQL's NOTIFY payload limit is 8000 bytes; ours are ~200. */
export function encodeNotice(n: SpaceEventNotice): string {
  return JSON.stringify(n);
}

/** Key of the transaction-level advisory lock that orders one tenant's space_events by commit. */
export const EVENT_ORDER_LOCK_SQL = `SELECT pg_advisory_xact_lock(hashtext('baygate:space_events:' || $1::text))`;

/**
 * Sent by the API after it spools a ChirpStack event received over HTTP, to wake the
 * process_webhook_spool worker in ingest. No payload: the spool table is the data.
 */
export const WEBHOOK_SPOOL_CHANNEL = 'baygate_webhook_spool';

/**
 * Sent by deliver_webhooks when an outbound subscription is disabled after repeated
 * failures; the API forwards it to the tenant's admins on the live stream (api/live/hub.ts).
 */
export const WEBHOOK_DISABLED_CHANNEL = 'baygate_webhook_disabled';

export interface WebhookDisabledNotice {
  tenant_id: string;
  subscription_id: string;
  /** webhook_subscriptions.disabled_reason, cut to WEBHOOK_DISABLED_REASON_MAX characters. */
  reason: string;
  /** disabled_at, ISO 8601. */
  at: string;
}

/** The reason embeds the receiver's last error; cut so the payload stays far below NOTIFY's 8000 bytes. */
export const WEBHOOK_DISABLED_REASON_MAX = 500;

export function encodeWebhookDisabled(n: WebhookDisabledNotice): string {
  return JSON.stringify({ ...n, reason: n.reason.slice(0, WEBHOOK_DISABLED_REASON_MAX) });
}

/**
 * Sent (empty payload) by the triggers that write tenant_events (migrations/0012: a
 * reservation's lifecycle, low battery, gateway outages) to wake deliver_webhooks.
 */
export const TENANT_EVENTS_CHANNEL = 'baygate_tenant_events';

/**
 * Sent when display downlinks become due (a retry after a NACK, the display_downlinks job's
 * timeouts) to wake ingest's display sender (ingest/displays.ts). No payload: the
 * display_downlinks table is the data. Also sent by the trigger in migrations/0008_display_downlinks.sql.
 */
export const DISPLAY_DOWNLINKS_CHANNEL = 'baygate_display_downlinks';
