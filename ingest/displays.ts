/**
 * Owns the display signs' downlinks in the ingest process: deciding what each display
 * should show (planDisplayDownlinks), and the sender that publishes queued downlinks as
 * ChirpStack v4 `command/down` messages on its own MQTT connection (startDisplaySender).
 *
 * Outbox, as for webhooks: planning writes a `pending` display_downlinks row in the same
 * transaction that supersedes the previous one; the sender publishes due rows (QoS 1) and
 * marks them published with the ChirpStack queue item id it chose, and the trigger in
 * migrations/0008_display_downlinks.sql applies txack/ack/log outcomes by that id. The
 * sender is woken by space events and by DISPLAY_DOWNLINKS_CHANNEL, and the display_downlinks
 * job (ingest/jobs/display-downlinks.ts) re-plans every display and times out unanswered
 * downlinks, which covers any missed NOTIFY. Nothing here may stop ingest: every error is
 * logged and counted, and the next wake-up or tick tries again.
 */
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { Counter, type Registry } from 'prom-client';
import type { Pool, Queryable } from '../src/db/pool.js';
import { withTx } from '../src/db/tx.js';
import type { Logger } from '../src/log.js';
import type { Config } from '../src/config.js';
import type { MqttConnection } from '../src/mqtt/connection.js';
import { DISPLAY_DOWNLINKS_CHANNEL, SPACE_EVENTS_CHANNEL } from '../src/events.js';
import { displayLook, displayState, effectiveRules } from '../src/domain/display-policy.js';
import { displayEncodingFor } from '../src/domain/display-encodings.js';
import {
  claimDueDownlinks, displayTargets, markPublished, markPublishFailed, queueDownlink, takeDisplayPlanTurn, tenantsWithDueDownlinks,
  tenantsWithTimedOutDownlinks, timeOutDownlinks, type DisplayTarget, type DueDownlink,
} from '../src/storage/display-downlinks.js';
import { ChirpstackUnavailableError } from '../src/chirpstack-api.js';
import { Coalescer, startWakeListener, type WakeListener } from './jobs/wake.js';
import { displayApiQueues, type DisplayApiQueues, type DownlinkQueue, type QueueForTenant } from './display-api-queues.js';

/** Downlinks published per tenant transaction; the rest wait for the next round. */
const PUBLISH_BATCH = 100;
/** Longest a publish may wait for the broker's PUBACK before the row is left for a retry. */
const PUBLISH_TIMEOUT_MS = 5_000;
/**
 * A downlink whose publish lost the connection (a broker that refuses a topic closes it,
 * [MQTT-3.3.5-2], as aedes does) waits this long before this sender tries it again, doubling
 * to the maximum; the others go first meanwhile, so one refused topic cannot hold them up.
 */
const REFUSED_RETRY_MIN_MS = 5_000;
const REFUSED_RETRY_MAX_MS = 5 * 60_000;
/** ChirpStack application ids are UUIDs (api/application.proto); anything else must not reach a topic. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A DevEUI as the command topic carries it: 16 lowercase hex digits. */
const TOPIC_DEV_EUI = /^[0-9a-f]{16}$/;
/**
 * Least time between two sender runs. Every space event wakes the sender and each run reads
 * every display, so under a burst of uplinks this bounds that work to a few runs a second;
 * a sign changes at most this much later.
 */
const MIN_RUN_GAP_MS = 250;
/** The sender also runs this often unwoken: a NOTIFY is only a latency hint (src/events.ts). */
const SAFETY_POLL_MS = 30_000;
/**
 * Displays are asked to confirm (LoRaWAN confirmed data down): only an ack tells us the
 * sign shows the state, and ChirpStack reports a missing one as ack acknowledged=false.
 */
const CONFIRMED = true;

// ---------------------------------------------------------------------------------------
// The command topic

type CommandPlaceholder = 'application_id' | 'dev_eui' | 'command';
const COMMAND_PLACEHOLDERS: readonly CommandPlaceholder[] = ['application_id', 'dev_eui', 'command'];
/** `{name}` or ChirpStack's Handlebars `{{name}}`, filling a whole level (as ingest/chirpstack.ts). */
const PLACEHOLDER_LEVEL = /^(?:\{\{\s*([A-Za-z_]+)\s*\}\}|\{([A-Za-z_]+)\})$/;

export type CommandTopic = (v: { applicationId: string; devEui: string; command: string }) => string;

/**
 * Compiles CHIRPSTACK_COMMAND_TOPIC (ChirpStack's `command_topic`, default
 * `application/{{application_id}}/device/{{dev_eui}}/command/{{command}}`, chirpstack/src/config.rs).
 * The DevEUI is rendered lowercase: ChirpStack compares the payload's devEui with the
 * topic's as plain strings (`mqtt.rs` message_callback) and writes EUIs lowercase.
 */
export function compileCommandTopic(template: string): CommandTopic {
  const slots = commandSlots(template);
  return ({ applicationId, devEui, command }) =>
    slots
      .map((s) => (typeof s === 'string' ? s : s.name === 'dev_eui' ? devEui.toLowerCase() : s.name === 'command' ? command : applicationId))
      .join('/');
}

/**
 * Checks a rendered command topic just before it is published: the template's literal
 * levels, a UUID where {application_id} goes, a DevEUI where {dev_eui} goes, and `down`
 * as the command. Returns what is wrong, or null. The application id of a display comes
 * from its config or its uplinks, both from outside, and a `#` or `+` there would make
 * the topic a wildcard a broker refuses or, worse, one that names another application.
 */
export function compileCommandTopicCheck(template: string): (topic: string) => string | null {
  const slots = commandSlots(template);
  return (topic) => {
    const levels = topic.split('/');
    if (levels.length !== slots.length) return `topic "${topic}" does not have the levels of CHIRPSTACK_COMMAND_TOPIC`;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      const level = levels[i]!;
      if (typeof s === 'string') {
        if (level !== s) return `topic "${topic}" does not match CHIRPSTACK_COMMAND_TOPIC`;
      } else if (s.name === 'application_id' && !UUID.test(level)) return `application id "${level}" is not a UUID`;
      else if (s.name === 'dev_eui' && !TOPIC_DEV_EUI.test(level)) return `DevEUI "${level}" is not 16 lowercase hex digits`;
      else if (s.name === 'command' && level !== 'down') return `command "${level}" is not down`;
    }
    return null;
  };
}

function commandSlots(template: string): (string | { name: CommandPlaceholder })[] {
  const fail = (why: string) => new Error(`CHIRPSTACK_COMMAND_TOPIC: "${template}" ${why}`);
  const seen = new Set<CommandPlaceholder>();
  const slots = template.split('/').map((level): string | { name: CommandPlaceholder } => {
    const m = PLACEHOLDER_LEVEL.exec(level);
    if (!m) {
      if (/[{}+#]/.test(level)) throw fail(`: "${level}" must be a literal level or one whole placeholder`);
      return level;
    }
    const name = (m[1] ?? m[2]) as CommandPlaceholder;
    if (!COMMAND_PLACEHOLDERS.includes(name)) throw fail(`has unknown placeholder {${name}}; allowed: {application_id}, {dev_eui}, {command}`);
    seen.add(name);
    return { name };
  });
  for (const required of ['dev_eui', 'command'] as const) if (!seen.has(required)) throw fail(`has no {${required}} placeholder`);
  return slots;
}

/** The JSON body of a ChirpStack v4 `command/down` (integration.proto DownlinkCommand, pbjson field names). */
export function downlinkCommand(d: { queueItemId: string; devEui: string; confirmed: boolean; fPort: number; data: Buffer; expiresAt: Date }): string {
  return JSON.stringify({
    // "If left blank, a random UUID will be generated": we choose it, so txack/ack/log events carry it back.
    id: d.queueItemId,
    devEui: d.devEui.toLowerCase(),
    confirmed: d.confirmed,
    fPort: d.fPort,
    data: d.data.toString('base64'),
    // DownlinkCommand.expires_at (ChirpStack ≥ 4.14, "Add expires_at field to MQTT downlink";
    // google.protobuf.Timestamp, RFC 3339 in proto3 JSON): an item not sent by then is dropped
    // from the device's queue and reported as a log event with code EXPIRED
    // (chirpstack/src/downlink/data.rs). Older versions ignore the field (their pbjson
    // readers are built with ignore_unknown_fields, api/rust/build.rs).
    expiresAt: d.expiresAt.toISOString(),
  });
}

// ---------------------------------------------------------------------------------------
// Planning

export interface PlanCounts {
  displays: number;
  queued: number;
  /** Displays whose ChirpStack application is not known yet (no uplink, no config.application_id). */
  no_application: number;
  /** Displays whose application id is not a UUID: nothing is queued for them (it would go into a topic). */
  bad_application: number;
  failed: number;
}

export interface DisplayDeps {
  pool: Pool;
  log: Logger;
  config: Config;
}

/**
 * What a display should be told, from its target's facts; null while its application is
 * unknown, 'bad_application' when its application id is not a UUID.
 */
function intendedDownlink(t: DisplayTarget, topic: CommandTopic) {
  const state = displayState({ maintenance: t.maintenance, reservedNow: t.reserved_now, sensorState: t.sensor_state });
  const look = displayLook(state, effectiveRules(t.rules));
  const encoding = displayEncodingFor(t);
  const frame = encoding.encode(look);
  // The application the display's uplinks came from (issue 6), else the one configured.
  const configured = t.config.application_id;
  const applicationId = t.application_id ?? (typeof configured === 'string' && configured !== '' ? configured : null);
  if (!applicationId) return null;
  if (!UUID.test(applicationId)) return 'bad_application' as const;
  const to = topic({ applicationId, devEui: t.dev_eui, command: 'down' });
  const unchanged = t.last_topic === to && t.last_f_port === frame.fPort && t.last_data?.equals(frame.data) === true;
  return { state, look, encoding, frame, applicationId, to, unchanged };
}

/**
 * Compares what every display should show with what it was last told, and queues a
 * downlink where they differ (state, colour, encoding or topic). A display whose last
 * downlink failed is not re-sent until its space changes: a dead display would otherwise be
 * sent the same frame on every run.
 *
 * Several planners run at once (each replica's sender, the display_downlinks job), each
 * reading the facts at its own moment. One that read before a space changed could commit
 * after one that read later, superseding the newer frame with a stale one that stays on the
 * sign until the next run. So the first read only finds candidates; each is decided again,
 * in its queueing transaction, on facts read after taking the display's turn. What remains:
 * a display the first read finds unchanged while another planner's frame for it is not yet
 * committed, and its space changes back in between, keeps that frame until the job's next
 * run (at most 15 s); taking every display's turn on every run would cost a transaction
 * per display per run.
 */
export async function planDisplayDownlinks(d: DisplayDeps, topic: CommandTopic = compileCommandTopic(d.config.chirpstackCommandTopic)): Promise<PlanCounts> {
  const counts: PlanCounts = { displays: 0, queued: 0, no_application: 0, bad_application: 0, failed: 0 };
  const targets = await withTx(d.pool, {}, (c) => displayTargets(c));
  for (const t of targets) {
    counts.displays++;
    const candidate = intendedDownlink(t, topic);
    if (!candidate) {
      counts.no_application++;
      continue;
    }
    if (candidate === 'bad_application') {
      counts.bad_application++;
      continue;
    }
    if (candidate.unchanged) continue;
    try {
      const queued = await withTx(d.pool, { tenantId: t.tenant_id }, async (c) => {
        await takeDisplayPlanTurn(c, t.device_id);
        const [fresh] = await displayTargets(c, t.device_id);
        const p = fresh && intendedDownlink(fresh, topic);
        if (!fresh || !p || p === 'bad_application' || p.unchanged) return false;
        return queueDownlink(c, {
          tenantId: fresh.tenant_id, deviceId: fresh.device_id, spaceId: fresh.space_id, displayState: p.state, colour: p.look.colour,
          blink: p.look.blink, encoding: p.encoding.name, devEui: fresh.dev_eui, applicationId: p.applicationId, topic: p.to,
          fPort: p.frame.fPort, data: p.frame.data, confirmed: CONFIRMED, maxAttempts: d.config.displayMaxAttempts,
        });
      });
      if (queued) counts.queued++;
    } catch (err) {
      counts.failed++;
      d.log.error({ err: (err as Error).message, device_id: t.device_id, space_id: t.space_id }, 'queueing a display downlink failed');
    }
  }
  return counts;
}

/** Sends downlinks that waited too long for their outcome back to pending, or fails them after their last attempt. */
export async function timeOutDisplayDownlinks(d: Pick<DisplayDeps, 'pool'>): Promise<{ retried: number; failed: number }> {
  const counts = { retried: 0, failed: 0 };
  const tenants = await withTx(d.pool, {}, (c) => tenantsWithTimedOutDownlinks(c));
  for (const tenantId of tenants) {
    const r = await withTx(d.pool, { tenantId }, (c) => timeOutDownlinks(c));
    counts.retried += r.retried;
    counts.failed += r.failed;
  }
  if (counts.retried > 0) await d.pool.query(`SELECT pg_notify($1, '')`, [DISPLAY_DOWNLINKS_CHANNEL]);
  return counts;
}

// ---------------------------------------------------------------------------------------
// Publishing

export interface PublishCounts {
  published: number;
  errors: number;
  /** Rows not published because their topic failed the check (compileCommandTopicCheck). */
  refused: number;
}

/**
 * What one sender remembers between runs: downlinks whose publish lost the connection wait
 * (REFUSED_RETRY_MIN_MS, doubling) before it tries them again, and rows refused before
 * publishing are logged once, not on every run.
 */
export class PublishMemory {
  private readonly retryAt = new Map<string, { at: number; delayMs: number }>();
  private readonly refusedLogged = new Set<string>();

  waiting(id: string, now = Date.now()): boolean {
    const r = this.retryAt.get(id);
    return r !== undefined && r.at > now;
  }

  lostConnection(id: string, now = Date.now()): number {
    const delayMs = Math.min(REFUSED_RETRY_MAX_MS, (this.retryAt.get(id)?.delayMs ?? REFUSED_RETRY_MIN_MS / 2) * 2);
    this.retryAt.set(id, { at: now + delayMs, delayMs });
    return delayMs;
  }

  published(id: string): void {
    this.retryAt.delete(id);
  }

  /** True the first time a row is refused. */
  firstRefusal(id: string): boolean {
    if (this.refusedLogged.has(id)) return false;
    this.refusedLogged.add(id);
    return true;
  }
}

/**
 * Publishes every due downlink, one tenant transaction at a time, holding the rows' locks
 * until each is marked published. A publish that fails (broker gone, no PUBACK in time)
 * leaves its row pending for the next round. QoS 1 is at least once, so ChirpStack may
 * enqueue a frame twice; showing the same state twice is harmless.
 *
 * Every attempt carries expiresAt = now + DISPLAY_ACK_TIMEOUT_SECONDS, the moment the
 * timeout job gives up waiting for it: by the time it retries, ChirpStack has dropped the
 * unsent item, so retries do not pile up in its queue.
 *
 * A tenant with a ChirpStack API client (`queues`, ./display-api-queues.ts) has its rows
 * enqueued with DeviceService.Enqueue and flush_queue: each attempt, first or retry, replaces
 * what is still unsent in the device's queue, and its queue item id is the one ChirpStack
 * returns. A txack that ChirpStack reports before that id is committed here finds no row and
 * is lost (the row stays `published`); the ack of a confirmed downlink, which comes with
 * the device's next uplink, is not. An Enqueue that fails leaves the row pending, waiting in
 * `memory`; one that finds ChirpStack unavailable also pauses every API tenant for as long.
 *
 * On MQTT: a row whose topic fails `check` is not published: its last_error says why. A
 * publish that ends the connection (a broker refusing the topic does that) makes the row
 * wait in `memory` while the others go out after the reconnect; MQTT publishing stops for
 * this run as soon as the client is not connected, and its 'connect' wakes the next run.
 */
export async function publishDueDownlinks(
  d: DisplayDeps & { client: MqttClient; check?: (topic: string) => string | null; memory?: PublishMemory; queues?: DisplayApiQueues | null },
): Promise<PublishCounts> {
  const counts: PublishCounts = { published: 0, errors: 0, refused: 0 };
  const check = d.check ?? compileCommandTopicCheck(d.config.chirpstackCommandTopic);
  const memory = d.memory ?? new PublishMemory();
  const queues = d.queues ?? null;
  if (!d.client.connected && !queues) return counts;
  const tenants = await withTx(d.pool, {}, (c) => tenantsWithDueDownlinks(c));
  if (tenants.length === 0) return counts;
  const queueFor: QueueForTenant = queues ? await withTx(d.pool, {}, (c) => queues.forRun(c)) : () => null;
  const expiresAt = () => new Date(Date.now() + d.config.displayAckTimeoutSeconds * 1000);
  for (const tenantId of tenants) {
    const queue = queueFor(tenantId);
    if (queue ? memory.waiting(API_PAUSE) : !d.client.connected) continue;
    await withTx(d.pool, { tenantId }, async (c) => {
      for (const row of await claimDueDownlinks(c, PUBLISH_BATCH)) {
        if (memory.waiting(row.id)) continue;
        if (queue) {
          if ((await enqueueDownlink(d, c, queue, row, expiresAt(), memory, counts)) === 'unavailable') break;
          continue;
        }
        if (!d.client.connected) break;
        const problem = check(row.topic);
        if (problem) {
          counts.refused++;
          if (memory.firstRefusal(row.id)) {
            d.log.error({ downlink_id: row.id, topic: row.topic, problem }, 'display downlink not published: its topic is refused');
            await markPublishFailed(c, row.id, `not published: ${problem}`);
          }
          continue;
        }
        const queueItemId = randomUUID();
        const expires = expiresAt();
        try {
          await publishWithin(d.client, row.topic, downlinkCommand({ queueItemId, devEui: row.dev_eui, confirmed: row.confirmed, fPort: row.f_port, data: row.data, expiresAt: expires }));
        } catch (err) {
          counts.errors++;
          const lost = !d.client.connected;
          const retryMs = lost ? memory.lostConnection(row.id) : undefined;
          d.log.warn(
            { err: (err as Error).message, downlink_id: row.id, topic: row.topic, retry_ms: retryMs },
            lost ? 'publishing a display downlink lost the connection (the broker may refuse its topic); the others go first' : 'publishing a display downlink failed; retrying later',
          );
          await markPublishFailed(c, row.id, `publish failed: ${(err as Error).message}`);
          continue;
        }
        memory.published(row.id);
        await markPublished(c, row.id, queueItemId, d.config.displayAckTimeoutSeconds, { expiresAt: expires, via: 'mqtt' });
        counts.published++;
      }
    });
  }
  return counts;
}

/** PublishMemory's key for "ChirpStack's API did not answer": API tenants wait, as a row does. */
const API_PAUSE = 'chirpstack-api';

/** One attempt through DeviceService.Enqueue, flushing what is unsent in the device's queue. */
async function enqueueDownlink(
  d: DisplayDeps, c: Queryable, queue: DownlinkQueue, row: DueDownlink, expiresAt: Date, memory: PublishMemory, counts: PublishCounts,
): Promise<'enqueued' | 'failed' | 'unavailable'> {
  let queueItemId: string;
  try {
    // flush_queue on every attempt: the latest state wins, and a retry replaces its own
    // earlier attempt if that is still unsent (api/device.proto EnqueueDeviceQueueItemRequest).
    queueItemId = await queue.enqueue({ devEui: row.dev_eui, confirmed: row.confirmed, fPort: row.f_port, data: row.data, expiresAt }, { flushQueue: true });
  } catch (err) {
    counts.errors++;
    const unavailable = err instanceof ChirpstackUnavailableError;
    // A deadline may have passed after ChirpStack enqueued it: the retry's flush replaces that item.
    const retryMs = memory.lostConnection(unavailable ? API_PAUSE : row.id);
    d.log.warn(
      { err: (err as Error).message, downlink_id: row.id, retry_ms: retryMs },
      unavailable ? 'ChirpStack API unavailable for display downlinks; trying again later' : 'ChirpStack API refused a display downlink; trying it again later',
    );
    await markPublishFailed(c, row.id, `enqueue failed: ${(err as Error).message}`);
    return unavailable ? 'unavailable' : 'failed';
  }
  memory.published(row.id);
  memory.published(API_PAUSE);
  await markPublished(c, row.id, queueItemId, d.config.displayAckTimeoutSeconds, { expiresAt, via: 'chirpstack_api' });
  counts.published++;
  return 'enqueued';
}

function publishWithin(client: MqttClient, topic: string, payload: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      // Take it back from mqtt.js too, or it would be resent on the next connection.
      forgetUnacked(client);
      reject(new Error(`no PUBACK within ${PUBLISH_TIMEOUT_MS} ms`));
    }, PUBLISH_TIMEOUT_MS);
    client.publish(topic, payload, { qos: 1 }, (err) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    });
  });
}

/**
 * mqtt.js keeps every unacknowledged QoS 1 PUBLISH in its outgoing store and resends it
 * first on reconnect. The outbox (display_downlinks) already owns retries, so a copy kept
 * there only repeats: one the broker refuses by closing the connection would close every
 * new connection before anything else is sent. removeOutgoingMessage fails its callback
 * with "Message removed" (mqtt.js README, mqtt.Client#removeOutgoingMessage).
 */
function forgetUnacked(client: MqttClient): void {
  for (const id of Object.keys(client.outgoing)) client.removeOutgoingMessage(Number(id));
}

// ---------------------------------------------------------------------------------------
// The sender

export interface DisplaySender {
  stop(): Promise<void>;
}

export interface DisplaySenderOptions extends DisplayDeps {
  /** The broker, as ingest's consumer reaches it (src/mqtt/connection.ts). */
  mqtt: MqttConnection;
  /** For the sender's LISTEN connection (space events, DISPLAY_DOWNLINKS_CHANNEL). */
  databaseUrl: string;
  /** Where baygate_display_downlinks_total is registered (src/metrics.ts). */
  registry: Registry;
}

export async function startDisplaySender(o: DisplaySenderOptions): Promise<DisplaySender> {
  const log = o.log.child({ component: 'displays' });
  const topic = compileCommandTopic(o.config.chirpstackCommandTopic);
  const check = compileCommandTopicCheck(o.config.chirpstackCommandTopic);
  const memory = new PublishMemory();
  // With CHIRPSTACK_API_URL, downlinks go through ChirpStack's gRPC API where a key is at hand.
  const queues = displayApiQueues(o.config, log);
  const counter = new Counter({
    name: 'baygate_display_downlinks_total',
    help: 'Display downlinks queued and published by this sender, and its errors',
    labelNames: ['outcome'] as const,
    registers: [o.registry],
  });
  const count = (outcome: 'queued' | 'published' | 'errors', n: number) => {
    if (n > 0) counter.inc({ outcome }, n);
  };
  const error = (err: unknown, msg: string) => {
    count('errors', 1);
    log.error({ err: (err as Error)?.message ?? String(err) }, msg);
  };
  // Its own connection, so a slow or stuck publish never holds up the consumer's acks.
  // A clean session: it subscribes to nothing, and an unsent row simply stays pending.
  const client = mqtt.connect(o.mqtt.url, {
    clientId: `${o.config.mqttClientId}-displays`,
    clean: true,
    reconnectPeriod: 1_000,
    ...o.mqtt.tls,
  });
  client.on('error', (err) => log.warn({ err: err.message }, 'display MQTT connection error'));
  // A connection that ends takes its unacknowledged publishes with it (forgetUnacked).
  client.on('close', () => forgetUnacked(client));
  const coalescer = new Coalescer(
    async () => {
      const planned = await planDisplayDownlinks(o, topic);
      count('queued', planned.queued);
      count('errors', planned.failed);
      const sent = await publishDueDownlinks({ ...o, client, check, memory, queues });
      count('published', sent.published);
      count('errors', sent.errors);
      await new Promise((r) => setTimeout(r, MIN_RUN_GAP_MS));
    },
    (err) => error(err, 'display downlink run failed'),
  );
  // Rows queued while disconnected go out as soon as the broker is back.
  client.on('connect', () => coalescer.wake());
  let listener: WakeListener | null = null;
  try {
    listener = await startWakeListener({
      databaseUrl: o.databaseUrl,
      log,
      channels: { [SPACE_EVENTS_CHANNEL]: () => coalescer.wake(), [DISPLAY_DOWNLINKS_CHANNEL]: () => coalescer.wake() },
    });
  } catch (err) {
    error(err, `LISTEN for display wake-ups failed; displays are updated every ${SAFETY_POLL_MS / 1000} s only`);
  }
  const poll = setInterval(() => coalescer.wake(), SAFETY_POLL_MS);
  poll.unref();
  return {
    async stop() {
      clearInterval(poll);
      await listener?.stop();
      await coalescer.stop();
      queues?.close();
      await client.endAsync().catch(() => undefined);
    },
  };
}
