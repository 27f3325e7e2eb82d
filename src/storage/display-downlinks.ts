/**
 * Owns the SQL for display downlinks: the displays to keep in step with their spaces, the
 * outbox of downlinks (queue, claim, mark published), the timeouts of unanswered ones, and
 * a device's downlink history for the API. Outcomes from ChirpStack events are applied by
 * the trigger in migrations/0008_display_downlinks.sql.
 */
import type { Queryable } from '../db/pool.js';
import type { DisplayRuleOverrides, DisplayState } from '../domain/display-policy.js';
import type { SensorState } from '../domain/state-machine.js';

/** Statuses of a downlink still on its way (the partial unique index display_downlinks_one_open). */
const OPEN = `('pending', 'published', 'transmitted')`;

/** A display assigned to a space, the facts its sign depends on, and what it was last told. */
export interface DisplayTarget {
  device_id: string;
  tenant_id: string;
  dev_eui: string;
  model: string | null;
  config: Record<string, unknown>;
  application_id: string | null;
  space_id: string;
  space_display_state: string | null;
  maintenance: boolean;
  reserved_now: boolean;
  sensor_state: SensorState;
  rules: DisplayRuleOverrides | null;
  last_topic: string | null;
  last_f_port: number | null;
  last_data: Buffer | null;
}

/**
 * Every enabled display on a space, across tenants (ingest's read policies), or the one
 * display `deviceId`. A reservation holds the space when its window contains now and it was
 * not checked out, also before the reservation timer has marked it active.
 */
export async function displayTargets(c: Queryable, deviceId: string | null = null): Promise<DisplayTarget[]> {
  const r = await c.query<DisplayTarget>(
    `SELECT d.id AS device_id, d.tenant_id, d.dev_eui, d.model, d.config, d.application_id,
            s.id AS space_id, s.display_state AS space_display_state, (s.maintenance OR NOT s.enabled) AS maintenance,
            s.sensor_state,
            EXISTS (SELECT 1 FROM reservations r
                     WHERE r.space_id = s.id AND r.status IN ('pending', 'active')
                       AND r.start_time <= now() AND r.end_time > now() AND r.checked_out_at IS NULL) AS reserved_now,
            p.rules, l.topic AS last_topic, l.f_port AS last_f_port, l.data AS last_data
       FROM devices d
       JOIN spaces s ON s.id = d.assigned_space_id AND s.deleted_at IS NULL
       LEFT JOIN display_policies p ON p.tenant_id = d.tenant_id
       LEFT JOIN LATERAL (SELECT x.topic, x.f_port, x.data FROM display_downlinks x
                           WHERE x.device_id = d.id AND x.status <> 'superseded'
                           ORDER BY x.id DESC LIMIT 1) l ON true
      WHERE d.device_type = 'display' AND d.deleted_at IS NULL AND d.enabled AND ($1::uuid IS NULL OR d.id = $1)`,
    [deviceId],
  );
  return r.rows;
}

/**
 * Makes planners take turns on one display until the transaction ends (ingest/displays.ts
 * planDisplayDownlinks): each decides on facts it reads once it has its turn.
 */
export async function takeDisplayPlanTurn(c: Queryable, deviceId: string): Promise<void> {
  await c.query(`SELECT pg_advisory_xact_lock(hashtext('baygate:display_plan:' || $1::text))`, [deviceId]);
}

export interface NewDownlink {
  tenantId: string;
  deviceId: string;
  spaceId: string;
  displayState: DisplayState;
  colour: string;
  blink: boolean;
  encoding: string;
  devEui: string;
  applicationId: string;
  topic: string;
  fPort: number;
  data: Buffer;
  confirmed: boolean;
  maxAttempts: number;
}

/**
 * Queues a downlink for a display under its tenant's setting: the one still on its way is
 * superseded, and the space records the state its sign is being told. Returns false when a
 * concurrent planner queued one first (it saw the same facts).
 */
export async function queueDownlink(c: Queryable, d: NewDownlink): Promise<boolean> {
  await c.query(
    `UPDATE display_downlinks SET status = 'superseded', updated_at = now() WHERE device_id = $1 AND status IN ${OPEN}`,
    [d.deviceId],
  );
  const r = await c.query(
    `INSERT INTO display_downlinks (tenant_id, device_id, space_id, display_state, colour, blink, encoding, dev_eui,
                                    application_id, topic, f_port, data, confirmed, max_attempts)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
     ON CONFLICT (device_id) WHERE status IN ${OPEN} DO NOTHING`,
    [d.tenantId, d.deviceId, d.spaceId, d.displayState, d.colour, d.blink, d.encoding, d.devEui,
      d.applicationId, d.topic, d.fPort, d.data, d.confirmed, d.maxAttempts],
  );
  await c.query(
    `UPDATE spaces SET display_state = $2 WHERE id = $1 AND display_state IS DISTINCT FROM $2`,
    [d.spaceId, d.displayState],
  );
  return (r.rowCount ?? 0) > 0;
}

/** Tenants with downlinks due for publishing (ingest's read policy: across tenants). */
export async function tenantsWithDueDownlinks(c: Queryable): Promise<string[]> {
  const r = await c.query<{ tenant_id: string }>(
    `SELECT DISTINCT tenant_id FROM display_downlinks WHERE status = 'pending' AND next_attempt_at <= now()`,
  );
  return r.rows.map((x) => x.tenant_id);
}

export interface DueDownlink {
  id: string;
  dev_eui: string;
  topic: string;
  f_port: number;
  data: Buffer;
  confirmed: boolean;
  queue_item_id: string | null;
}

/**
 * Locks up to `limit` due downlinks of the transaction's tenant. SKIP LOCKED: another
 * replica's sender working on a row leaves it to that sender.
 */
export async function claimDueDownlinks(c: Queryable, limit: number): Promise<DueDownlink[]> {
  const r = await c.query<DueDownlink & { id: string }>(
    `SELECT id::text, dev_eui, topic, f_port, data, confirmed, queue_item_id
       FROM display_downlinks
      WHERE status = 'pending' AND next_attempt_at <= now()
      ORDER BY id
      LIMIT $1
      FOR UPDATE SKIP LOCKED`,
    [limit],
  );
  return r.rows;
}

/** How an attempt reached ChirpStack (0022 sent_via). */
export type SentVia = 'mqtt' | 'chirpstack_api';

/**
 * Records one publish attempt under a new queue item id (ours on MQTT, the one
 * DeviceService.Enqueue returned on the API); the earlier attempt's id is kept so its late
 * ack still counts. The outcome is awaited until now + ackTimeoutSeconds; `expiresAt` is
 * what the attempt told ChirpStack.
 */
export async function markPublished(
  c: Queryable, id: string, queueItemId: string, ackTimeoutSeconds: number,
  sent: { expiresAt: Date; via: SentVia },
): Promise<void> {
  await c.query(
    `UPDATE display_downlinks
        SET status = 'published', attempts = attempts + 1, queue_item_id = $2,
            previous_queue_item_ids = CASE WHEN queue_item_id IS NULL THEN previous_queue_item_ids
                                           ELSE previous_queue_item_ids || queue_item_id END,
            published_at = now(), next_attempt_at = now() + make_interval(secs => $3), updated_at = now(),
            expires_at = $4, sent_via = $5
      WHERE id = $1`,
    [id, queueItemId, ackTimeoutSeconds, sent.expiresAt, sent.via],
  );
}

export async function markPublishFailed(c: Queryable, id: string, error: string): Promise<void> {
  await c.query(`UPDATE display_downlinks SET last_error = $2, updated_at = now() WHERE id = $1`, [id, error]);
}

/**
 * Downlinks whose outcome did not arrive in time, across tenants: a confirmed one without
 * its ack, an unconfirmed one without even a txack. Each goes back to pending for another
 * attempt, or fails after its last. Runs per tenant (writes need the tenant's setting).
 */
export async function tenantsWithTimedOutDownlinks(c: Queryable): Promise<string[]> {
  const r = await c.query<{ tenant_id: string }>(
    `SELECT DISTINCT tenant_id FROM display_downlinks
      WHERE next_attempt_at <= now() AND (status = 'published' OR (status = 'transmitted' AND confirmed))`,
  );
  return r.rows.map((x) => x.tenant_id);
}

/**
 * An attempt never transmitted (no txack) whose expiresAt has passed ended in ChirpStack's
 * queue: after the last attempt the row is `expired`, as 0008's trigger makes it when
 * ChirpStack's EXPIRED log arrives first (that log comes only at the device's next downlink
 * opportunity, for a Class A sign its next uplink). One that was transmitted and not
 * acknowledged is `failed`.
 */
export async function timeOutDownlinks(c: Queryable): Promise<{ retried: number; failed: number }> {
  const r = await c.query<{ status: string }>(
    `UPDATE display_downlinks
        SET status = CASE WHEN attempts < max_attempts THEN 'pending'
                          WHEN status = 'published' AND expires_at <= now() THEN 'expired'
                          ELSE 'failed' END,
            last_error = CASE WHEN status = 'published' AND expires_at <= now() THEN 'not transmitted before its expiresAt'
                              WHEN confirmed THEN 'no acknowledgement from the device in time'
                              ELSE 'no transmission acknowledgement (txack) in time' END,
            next_attempt_at = now(), updated_at = now()
      WHERE tenant_id = baygate_tenant() AND next_attempt_at <= now()
        AND (status = 'published' OR (status = 'transmitted' AND confirmed))
      RETURNING status`,
  );
  const retried = r.rows.filter((x) => x.status === 'pending').length;
  return { retried, failed: r.rows.length - retried };
}

export interface DownlinkRow {
  id: string;
  device_id: string;
  space_id: string | null;
  display_state: string;
  colour: string;
  blink: boolean;
  encoding: string;
  topic: string;
  f_port: number;
  data: Buffer;
  confirmed: boolean;
  status: string;
  attempts: number;
  max_attempts: number;
  queue_item_id: string | null;
  expires_at: Date | null;
  sent_via: SentVia | null;
  next_attempt_at: Date;
  published_at: Date | null;
  transmitted_at: Date | null;
  acknowledged_at: Date | null;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
}

/** A device's downlinks, newest first. */
export async function listDownlinks(c: Queryable, deviceId: string, limit: number): Promise<DownlinkRow[]> {
  const r = await c.query<DownlinkRow>(
    `SELECT id::text, device_id, space_id, display_state, colour, blink, encoding, topic, f_port, data, confirmed, status,
            attempts, max_attempts, queue_item_id, expires_at, sent_via, next_attempt_at, published_at, transmitted_at,
            acknowledged_at, last_error, created_at, updated_at
       FROM display_downlinks WHERE device_id = $1 ORDER BY id DESC LIMIT $2`,
    [deviceId, limit],
  );
  return r.rows;
}

/** A downlink as the API shows it, field by field; `data` base64 as on the wire. */
export function downlinkJson(r: DownlinkRow) {
  return {
    id: r.id,
    device_id: r.device_id,
    space_id: r.space_id,
    display_state: r.display_state,
    colour: r.colour,
    blink: r.blink,
    encoding: r.encoding,
    topic: r.topic,
    f_port: r.f_port,
    data: r.data.toString('base64'),
    confirmed: r.confirmed,
    status: r.status,
    attempts: r.attempts,
    max_attempts: r.max_attempts,
    queue_item_id: r.queue_item_id,
    expires_at: r.expires_at?.toISOString() ?? null,
    sent_via: r.sent_via,
    next_attempt_at: r.next_attempt_at.toISOString(),
    published_at: r.published_at?.toISOString() ?? null,
    transmitted_at: r.transmitted_at?.toISOString() ?? null,
    acknowledged_at: r.acknowledged_at?.toISOString() ?? null,
    last_error: r.last_error,
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
  };
}

/**
 * Deletes downlinks that ended (acknowledged, failed, expired, superseded) more than `days`
 * ago, at most `limit` per call, keeping each display's latest one that was not superseded:
 * displayTargets compares what a sign should show with it.
 */
export async function deleteEndedDownlinksOlderThan(c: Queryable, days: number, limit: number): Promise<number> {
  const r = await c.query(
    `DELETE FROM display_downlinks WHERE id IN (
       SELECT x.id FROM display_downlinks x
        WHERE x.status IN ('acknowledged', 'failed', 'expired', 'superseded')
          AND x.updated_at < now() - make_interval(days => $1)
          AND EXISTS (SELECT 1 FROM display_downlinks y WHERE y.device_id = x.device_id AND y.id > x.id AND y.status <> 'superseded')
        LIMIT $2)`,
    [days, limit],
  );
  return r.rowCount ?? 0;
}
