/**
 * Owns LISTEN connections (pg-listen), the API's and the ingest process's alike: one
 * dedicated connection that reconnects with capped exponential backoff, and a callback
 * after every (re)connect so the caller catches up from its tables, since notifications
 * sent while it was away are gone for good ("a NOTIFY is only ever a latency hint", as
 * pg-boss puts it; the table is the data).
 */
import pgListen from 'pg-listen';
import type { Logger } from '../log.js';

// pg-listen is CommonJS with an `exports.default`: under NodeNext that is the module's `default` property.
const createSubscriber = pgListen.default;

/** Reconnect backoff: first retry at once, then 250 ms doubling to 15 s, with jitter so replicas do not stampede. */
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 15_000;
/** pg-listen runs a trivial query this often to notice a connection that died silently. */
const LIVENESS_CHECK_MS = 10_000;
const CONNECT_TIMEOUT_MS = 5_000;
const STOP_WAIT_MS = 2_000;

export interface ListenOptions {
  databaseUrl: string;
  /** LISTEN needs no privilege; the connection still runs as its process's RLS-bound role, like every other. */
  role: 'baygate_app' | 'baygate_ingest';
  /** application_name of the connection (pg_stat_activity), so operators and tests can find it. */
  applicationName: string;
  log: Logger;
  /** Each channel's handler, given the notification's payload (parsed as JSON when it is JSON). */
  channels: Record<string, (payload: unknown) => void>;
  /** After the first connect and every reconnect, once LISTEN is in place again. */
  onConnected(): void;
  /** The connection was lost; reconnect attempts follow. */
  onDisconnected?(attempt: number): void;
}

export interface Listen {
  connected(): boolean;
  stop(): Promise<void>;
}

class Stopped extends Error {}

export async function listen(o: ListenOptions): Promise<Listen> {
  let stopped = false;
  let connected = false;
  const subscriber = createSubscriber(
    { connectionString: o.databaseUrl, application_name: o.applicationName, options: `-c role=${o.role}`, connectionTimeoutMillis: CONNECT_TIMEOUT_MS },
    {
      paranoidChecking: LIVENESS_CHECK_MS,
      // pg-listen gives up after retryTimeout unless it is 0 (never); its retry loop has no
      // other way out, so once stopped the interval callback throws to end it.
      retryTimeout: 0,
      retryInterval: (attempt) => {
        if (stopped) throw new Stopped('listener stopped');
        const ms = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
        return ms / 2 + Math.random() * (ms / 2);
      },
    },
  );
  subscriber.events.on('connected', () => {
    // A reconnect that completes after stop() would leave a live connection behind.
    if (stopped) {
      void subscriber.close().catch(() => undefined);
      return;
    }
    connected = true;
    o.onConnected();
  });
  subscriber.events.on('reconnect', (attempt) => {
    if (attempt === 1) o.log.warn('LISTEN connection lost; reconnecting');
    connected = false;
    o.onDisconnected?.(attempt);
  });
  subscriber.events.on('error', (err) => {
    if (stopped || err instanceof Stopped || /listener stopped/.test(err.message)) return;
    o.log.error({ err: err.message }, 'LISTEN connection error');
  });
  for (const [channel, handle] of Object.entries(o.channels)) subscriber.notifications.on(channel, handle);

  // A first connect that fails does not end the listener: the failed client's 'end' starts
  // pg-listen's reconnect loop, which LISTENs to every channel listenTo registered and then
  // emits 'connected'. So the channels are registered at once, queued on the connecting
  // client, rather than after a connect that may never come; a database that is slow or
  // down while the process starts then delays the wake-ups instead of disabling them.
  const connecting = subscriber.connect();
  const listening = Promise.all(Object.keys(o.channels).map((channel) => subscriber.listenTo(channel)));
  // Awaited below only once connected; when the connect fails, these fail with it, and the reconnect LISTENs again.
  listening.catch(() => undefined);
  const handle: Listen = {
    connected: () => connected,
    async stop() {
      if (stopped) return;
      stopped = true;
      connected = false;
      // Ending a connection that already broke can wait for a socket that is gone; do not hang shutdown on it.
      await Promise.race([subscriber.close().catch(() => undefined), new Promise((r) => setTimeout(r, STOP_WAIT_MS).unref())]);
    },
  };
  try {
    await connecting;
  } catch (err) {
    o.log.warn({ err: (err as Error).message }, 'LISTEN connection failed; retrying in the background');
    return handle;
  }
  await listening;
  // The first 'connected' came before LISTEN was in place: catch up once more now that it is.
  connected = true;
  o.onConnected();
  return handle;
}
