/**
 * Owns the fan-out of space events to live clients (Server-Sent Events and WebSocket):
 * per-tenant feeds, each client's filter and resume point, heartbeats, and the dropping of
 * clients that do not keep up.
 *
 * A NOTIFY only wakes a tenant's feed; the events themselves are read from space_events,
 * one query per tenant per wake-up whatever the number of clients, under RLS with the
 * tenant set. Wake-ups that arrive while a read is in flight are folded into one more
 * read. Writers append a tenant's events under a per-tenant advisory lock
 * (src/storage/space-state.ts), so ids commit in id order within a tenant and "every id
 * after the last one read" never skips an event that commits later.
 */
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import type { Logger } from '../../src/log.js';
import type { SpaceEventNotice, WebhookDisabledNotice } from '../../src/events.js';
import type { Metrics } from '../../src/metrics.js';
import { ServiceUnavailableError } from '../../src/errors.js';
import {
  eventJson,
  eventsAfter,
  lastEventId,
  missedEvents,
  type EventFilter,
  type EventType,
  type SpaceEvent,
} from '../../src/storage/space-events.js';
import { WEBHOOK_DISABLED_EVENT } from './filter.js';

export type Transport = 'sse' | 'ws';
export type CloseReason = 'slow' | 'expired' | 'shutdown';

/** One event, encoded at most once per transport however many clients receive it. */
export class WireEvent {
  readonly id: number;
  readonly type: EventType;
  readonly siteId: string;
  readonly spaceId: string;
  readonly data: string;
  #sse: string | undefined;
  #ws: Buffer | undefined;

  constructor(e: SpaceEvent) {
    this.id = e.id;
    this.type = e.type;
    this.siteId = e.site_id;
    this.spaceId = e.space_id;
    // JSON.stringify never emits a raw newline, so the data fits on one `data:` line.
    this.data = JSON.stringify(eventJson(e));
  }

  /** https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation */
  get sse(): string {
    return (this.#sse ??= `id: ${this.id}\nevent: ${this.type}\ndata: ${this.data}\n\n`);
  }

  /** One WebSocket text message, encoded once for every socket it goes to. */
  get ws(): Buffer {
    return (this.#ws ??= Buffer.from(`{"id":${this.id},"event":"${this.type}","data":${this.data}}`));
  }
}

/** What a sink writes: an event's SSE text and its WebSocket message. */
export interface Frame {
  readonly sse: string;
  readonly ws: Buffer;
}

/**
 * An alert for a tenant's admins that is not a space event (webhook_disabled): no `id:`, so a
 * browser's Last-Event-ID stays that of the last space event, and it is not replayed on resume.
 */
export class AlertFrame implements Frame {
  readonly sse: string;
  readonly ws: Buffer;

  constructor(readonly type: string, data: unknown) {
    const json = JSON.stringify(data);
    this.sse = `event: ${type}\ndata: ${json}\n\n`;
    this.ws = Buffer.from(`{"event":"${type}","data":${json}}`);
  }
}

/**
 * The events one client gets from one read. Clients with the same filter share one Batch,
 * so its SSE bytes are built and encoded once per read, not once per client: with a
 * thousand clients that is most of the work of a fan-out.
 */
export class Batch {
  #sse: Buffer | undefined;

  constructor(readonly events: readonly Frame[]) {}

  get sse(): Buffer {
    if (!this.#sse) {
      let text = '';
      for (const e of this.events) text += e.sse;
      this.#sse = Buffer.from(text);
    }
    return this.#sse;
  }
}

/** A connected client, as the hub sees it; api/live/sse.ts and ws.ts implement it. */
export interface Sink {
  readonly transport: Transport;
  /** Writes a batch of events (already filtered, in id order); returns the bytes queued. */
  send(batch: Batch): number;
  heartbeat(): void;
  /** Bytes written but not yet taken by the client. */
  buffered(): number;
  close(reason: CloseReason): void;
}

export function matches(f: EventFilter, e: WireEvent): boolean {
  return (
    (f.siteId === null || f.siteId === e.siteId) &&
    (f.spaceId === null || f.spaceId === e.spaceId) &&
    (f.types === null || f.types.includes(e.type))
  );
}

/** Counters for /metrics (read them, never write them). */
export interface LiveStats {
  clients: Record<Transport, number>;
  eventsSent: Record<Transport, number>;
  /** Clients dropped because their unread backlog passed LIVE_CLIENT_BUFFER_BYTES. */
  slowClientsDropped: number;
  /** Reads of space_events for delivery (wake-ups, catch-ups, resumes). */
  reads: number;
  listener: { connected: boolean; reconnects: number };
}

export interface HubOptions {
  pool: Pool;
  log: Logger;
  replayMaxEvents: number;
  replayMaxHours: number;
  heartbeatMs: number;
  clientBufferBytes: number;
  /** Optional Prometheus metrics (src/metrics.ts); the stats object is kept either way. */
  metrics?: Pick<Metrics, 'liveClients' | 'liveEventsSent'>;
}

export interface SubscribeRequest {
  tenantId: string;
  sink: Sink;
  filter: EventFilter;
  /** Last-Event-ID: the client first gets what it missed after this id. */
  lastEventId: number | null;
  /** When the client's token expires (epoch ms); the stream ends then, and the client reconnects with a new one. */
  expiresAt?: number;
  /** An admin (or owner) of the tenant: also gets the tenant's alerts (webhook_disabled). */
  admin?: boolean;
}

/** Rows read per query; a larger backlog is read in several. */
const READ_BATCH = 1_000;
/** After a failed read (database away), the feed tries again after this long, doubling to the maximum. */
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 10_000;
/**
 * Every feed is read this often even without a NOTIFY: a safety net for a notification
 * lost in a way the listener cannot see (a writer that forgot pg_notify). Cheap: one
 * indexed query per tenant with clients.
 */
const SAFETY_POLL_MS = 30_000;
/** Live events a resuming client may accumulate while its missed events are being read. */
const MAX_QUEUED_WHILE_RESUMING = 50_000;
/** setTimeout's limit (2^31 − 1 ms); longer token lifetimes are re-armed. */
const MAX_TIMER_MS = 2_147_483_647;

interface Client {
  tenantId: string;
  sink: Sink;
  filter: EventFilter;
  admin: boolean;
  /** Clients with equal keys have equal filters and share batches. */
  filterKey: string;
  /** Highest event id this client was sent or skipped; nothing at or below it is sent again. */
  lastSent: number;
  /** Non-null while the client's missed events are being read: live events wait here. */
  queued: WireEvent[] | null;
  /** Bytes of its resume batch the client may still have unread without counting as slow. */
  allowance: number;
  expiry: NodeJS.Timeout | null;
  gone: boolean;
}

interface Feed {
  tenantId: string;
  clients: Set<Client>;
  /** Highest id read for this tenant. Valid once `ready` resolved. */
  cursor: number;
  ready: Promise<void>;
  initialised: boolean;
  reading: boolean;
  /** The highest id a NOTIFY announced. */
  wanted: number;
  /** NOTIFYs received, to tell whether one arrived during a read. */
  notices: number;
  /** A catch-up was asked for while a read was in flight (or before the feed was ready). */
  again: boolean;
  retryMs: number;
  retry: NodeJS.Timeout | null;
}

export class LiveHub {
  readonly stats: LiveStats = {
    clients: { sse: 0, ws: 0 },
    eventsSent: { sse: 0, ws: 0 },
    slowClientsDropped: 0,
    reads: 0,
    listener: { connected: false, reconnects: 0 },
  };
  private readonly feeds = new Map<string, Feed>();
  private readonly timers: NodeJS.Timeout[];
  private closed = false;

  constructor(private readonly o: HubOptions) {
    this.timers = [
      setInterval(() => this.heartbeat(), o.heartbeatMs),
      setInterval(() => this.catchUp(), SAFETY_POLL_MS),
    ];
    for (const t of this.timers) t.unref();
  }

  /** Tenants with at least one client. */
  get tenants(): number {
    return this.feeds.size;
  }

  /** One tenant's connected clients (what that tenant may be told; the totals are in stats). */
  clientsOf(tenantId: string): number {
    return this.feeds.get(tenantId)?.clients.size ?? 0;
  }

  /**
   * Adds a client. With a resume id it is first sent what it missed (bounded by
   * LIVE_REPLAY_MAX_EVENTS / LIVE_REPLAY_MAX_HOURS), then live events, with no gap and no
   * duplicate: it joins the feed before the missed events are read, live events queue
   * until they are sent, and ids at or below the last one sent are skipped.
   * Returns the function that removes it.
   */
  async subscribe(req: SubscribeRequest): Promise<() => void> {
    if (this.closed) throw new ServiceUnavailableError('The server is shutting down');
    const client: Client = {
      tenantId: req.tenantId,
      sink: req.sink,
      filter: req.filter,
      admin: req.admin ?? false,
      filterKey: `${req.filter.siteId}|${req.filter.spaceId}|${req.filter.types?.slice().sort().join(',')}`,
      lastSent: 0,
      queued: req.lastEventId === null ? null : [],
      allowance: 0,
      expiry: null,
      gone: false,
    };
    await this.join(client, req.lastEventId);
    const remove = () => this.remove(client);
    if (client.gone) return remove;
    if (req.expiresAt !== undefined) this.armExpiry(client, req.expiresAt);

    if (req.lastEventId !== null) {
      const after = req.lastEventId;
      let missed: { events: SpaceEvent[]; lastId: number };
      try {
        this.stats.reads++;
        missed = await withTx(this.o.pool, { tenantId: req.tenantId }, (c) =>
          missedEvents(c, req.tenantId, after, req.filter, { maxEvents: this.o.replayMaxEvents, maxHours: this.o.replayMaxHours }),
        );
      } catch (err) {
        remove();
        throw err;
      }
      if (client.gone) return remove;
      // An id beyond the tenant's newest is not one we sent (another database, a made-up
      // header): the client then gets everything from now on.
      client.lastSent = Math.min(after, missed.lastId);
      const queued = client.queued ?? [];
      client.queued = null;
      const bytes = this.deliver(client, missed.events.map((e) => new WireEvent(e)), false);
      // The resume batch is bounded by configuration; it may sit unread until the socket drains.
      client.allowance = bytes;
      this.deliver(client, queued, true);
    }
    return remove;
  }

  /** A NOTIFY arrived: wake the tenant's feed, if anyone listens for it. */
  notice(n: Pick<SpaceEventNotice, 'id' | 'tenant_id'>): void {
    const feed = this.feeds.get(n.tenant_id);
    if (!feed) return;
    feed.notices++;
    if (n.id > feed.wanted) feed.wanted = n.id;
    // Before the feed is ready, or during a read, the read loop looks at `wanted` itself.
    if (!feed.initialised || feed.reading || n.id <= feed.cursor) return;
    this.read(feed);
  }

  /**
   * A subscription was disabled after repeated failures (WEBHOOK_DISABLED_CHANNEL): tell the
   * tenant's admins who are connected now, whatever their site or space filter (a subscription
   * may span sites), unless their type filter leaves webhook_disabled out. Webhooks are an
   * admin's business (their routes are admin-only) and the reason quotes the receiver's error.
   * Not stored for replay: the subscription itself shows disabled_reason and disabled_at.
   */
  webhookDisabled(n: WebhookDisabledNotice): void {
    const feed = this.feeds.get(n.tenant_id);
    if (!feed) return;
    const batch = new Batch([new AlertFrame(WEBHOOK_DISABLED_EVENT, { subscription_id: n.subscription_id, reason: n.reason, at: n.at })]);
    for (const client of feed.clients) {
      if (client.gone || !client.admin) continue;
      if (client.filter.types !== null && !client.filter.types.includes(WEBHOOK_DISABLED_EVENT)) continue;
      client.sink.send(batch);
      const transport = client.sink.transport;
      this.stats.eventsSent[transport]++;
      this.o.metrics?.liveEventsSent.inc({ transport });
      this.checkBacklog(client);
    }
  }

  /** After the listener (re)connected, or as the safety poll: read every feed from its cursor. */
  catchUp(): void {
    for (const feed of this.feeds.values()) {
      feed.again = true;
      if (feed.initialised && !feed.reading) this.read(feed);
    }
  }

  /** Ends every stream and stops the timers. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    for (const feed of this.feeds.values()) {
      if (feed.retry) clearTimeout(feed.retry);
      for (const client of feed.clients) this.remove(client, 'shutdown');
    }
    this.feeds.clear();
  }

  /**
   * Adds the client to its tenant's feed, starting the feed if it is the first. The
   * client's starting point is taken in the same synchronous step as the add, so no read
   * of the feed falls between them.
   */
  private async join(client: Client, lastEventId: number | null): Promise<void> {
    for (;;) {
      let feed = this.feeds.get(client.tenantId);
      if (!feed) feed = this.startFeed(client.tenantId);
      await feed.ready;
      // The last client may have left (and the feed been dropped) while this one waited.
      if (this.closed) throw new ServiceUnavailableError('The server is shutting down');
      if (this.feeds.get(client.tenantId) !== feed) continue;
      client.lastSent = lastEventId ?? feed.cursor;
      feed.clients.add(client);
      this.stats.clients[client.sink.transport]++;
      this.o.metrics?.liveClients.inc({ transport: client.sink.transport });
      return;
    }
  }

  private startFeed(tenantId: string): Feed {
    const feed: Feed = {
      tenantId,
      clients: new Set(),
      cursor: 0,
      ready: Promise.resolve(),
      initialised: false,
      reading: false,
      wanted: 0,
      notices: 0,
      again: false,
      retryMs: RETRY_MIN_MS,
      retry: null,
    };
    feed.ready = (async () => {
      this.stats.reads++;
      feed.cursor = await withTx(this.o.pool, { tenantId }, (c) => lastEventId(c, tenantId));
      feed.initialised = true;
      if (feed.again || feed.wanted > feed.cursor) this.read(feed);
    })();
    // A feed that could not start is forgotten, so the next client tries again.
    feed.ready.catch(() => {
      if (this.feeds.get(tenantId) === feed) this.feeds.delete(tenantId);
    });
    this.feeds.set(tenantId, feed);
    return feed;
  }

  /** Reads the feed's new events and fans them out. */
  private read(feed: Feed): void {
    feed.reading = true;
    void this.readLoop(feed);
  }

  /**
   * Reads until the feed is current. NOTIFYs of one commit arrive together and are all
   * covered by the read the first one starts; a NOTIFY that arrives during a read may be
   * for an event committed after the read's snapshot, so it causes one more read. A
   * `wanted` id that a read finds nothing for, with no NOTIFY meanwhile, is not waited for.
   */
  private async readLoop(feed: Feed): Promise<void> {
    try {
      for (;;) {
        feed.again = false;
        const noticesBefore = feed.notices;
        this.stats.reads++;
        const rows = await withTx(this.o.pool, { tenantId: feed.tenantId }, (c) =>
          eventsAfter(c, feed.tenantId, feed.cursor, READ_BATCH),
        );
        if (this.feeds.get(feed.tenantId) !== feed) return; // the last client left meanwhile
        if (rows.length > 0) {
          feed.cursor = rows[rows.length - 1]!.id;
          const events = rows.map((e) => new WireEvent(e));
          const shared = new Map<string, Batch>();
          for (const client of feed.clients) this.deliver(client, events, true, shared);
        }
        feed.retryMs = RETRY_MIN_MS;
        if (rows.length === READ_BATCH || feed.again) continue;
        if (feed.wanted > feed.cursor) {
          if (rows.length > 0 || feed.notices !== noticesBefore) continue;
          feed.wanted = feed.cursor;
        }
        break;
      }
      feed.reading = false;
    } catch (err) {
      feed.reading = false;
      if (this.closed || this.feeds.get(feed.tenantId) !== feed) return;
      this.o.log.warn({ err, tenantId: feed.tenantId, retryMs: feed.retryMs }, 'reading space events for live clients failed; retrying');
      feed.retry = setTimeout(() => {
        feed.retry = null;
        feed.again = true;
        if (!feed.reading) this.read(feed);
      }, feed.retryMs);
      feed.retry.unref();
      feed.retryMs = Math.min(feed.retryMs * 2, RETRY_MAX_MS);
    }
  }

  /**
   * Sends a client the events it should see; returns the bytes queued. With `shared`, a
   * client that is past none of the events takes its filter's batch from there (or makes it).
   */
  private deliver(client: Client, events: readonly WireEvent[], checkBacklog: boolean, shared?: Map<string, Batch>): number {
    if (client.gone || events.length === 0) return 0;
    if (client.queued) {
      client.queued.push(...events);
      if (client.queued.length > MAX_QUEUED_WHILE_RESUMING) this.drop(client);
      return 0;
    }
    let batch: Batch | undefined;
    if (shared && events[0]!.id > client.lastSent) {
      batch = shared.get(client.filterKey);
      if (!batch) {
        batch = new Batch(client.filter.siteId || client.filter.spaceId || client.filter.types ? events.filter((e) => matches(client.filter, e)) : events);
        shared.set(client.filterKey, batch);
      }
    } else {
      batch = new Batch(events.filter((e) => e.id > client.lastSent && matches(client.filter, e)));
    }
    const last = events[events.length - 1]!.id;
    if (last > client.lastSent) client.lastSent = last;
    let bytes = 0;
    if (batch.events.length > 0) {
      bytes = client.sink.send(batch);
      const transport = client.sink.transport;
      this.stats.eventsSent[transport] += batch.events.length;
      this.o.metrics?.liveEventsSent.inc({ transport }, batch.events.length);
    }
    if (checkBacklog) this.checkBacklog(client);
    return bytes;
  }

  /**
   * A client whose unread backlog passes the bound is dropped rather than buffered without
   * bound; it may reconnect with Last-Event-ID and resume from the table.
   */
  private checkBacklog(client: Client): void {
    const buffered = client.sink.buffered();
    if (buffered <= this.o.clientBufferBytes) {
      client.allowance = 0; // the resume batch has drained
      return;
    }
    if (buffered > this.o.clientBufferBytes + client.allowance) this.drop(client);
  }

  private drop(client: Client): void {
    this.stats.slowClientsDropped++;
    this.o.log.info({ tenantId: client.tenantId, transport: client.sink.transport }, 'dropping a live client that does not keep up');
    this.remove(client, 'slow');
  }

  private heartbeat(): void {
    for (const feed of this.feeds.values()) {
      for (const client of feed.clients) {
        client.sink.heartbeat();
        this.checkBacklog(client);
      }
    }
  }

  private armExpiry(client: Client, expiresAt: number): void {
    const ms = expiresAt - Date.now();
    client.expiry = setTimeout(
      () => (ms > MAX_TIMER_MS ? this.armExpiry(client, expiresAt) : this.remove(client, 'expired')),
      Math.max(0, Math.min(ms, MAX_TIMER_MS)),
    );
    client.expiry.unref();
  }

  /** Removes a client; with a reason, its stream is also closed (otherwise the client went away). */
  private remove(client: Client, reason?: CloseReason): void {
    if (client.gone) return;
    client.gone = true;
    if (client.expiry) clearTimeout(client.expiry);
    const transport = client.sink.transport;
    this.stats.clients[transport]--;
    this.o.metrics?.liveClients.dec({ transport });
    const feed = this.feeds.get(client.tenantId);
    if (feed) {
      feed.clients.delete(client);
      if (feed.clients.size === 0 && !this.closed) {
        if (feed.retry) clearTimeout(feed.retry);
        this.feeds.delete(client.tenantId);
      }
    }
    if (reason) client.sink.close(reason);
  }
}
