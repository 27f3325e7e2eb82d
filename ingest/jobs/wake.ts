/**
 * Owns the ingest process's LISTEN connection: NOTIFYs that make a job run now instead of at
 * its next tick (the API's WEBHOOK_SPOOL_CHANNEL wakes process_webhook_spool; SPACE_EVENTS_CHANNEL
 * wakes deliver_webhooks). "A NOTIFY is only ever a latency hint" (pg-boss): the jobs' schedules
 * still run, and after every (re)connect each job is woken once to catch up on what was missed.
 *
 * A wake-up runs the job's work directly, without tick election or a job_runs row: the work
 * claims its rows with FOR UPDATE SKIP LOCKED, so concurrent runs (replicas, a tick) are safe.
 */
import pgListen from 'pg-listen';
import type { Logger } from '../../src/log.js';

// pg-listen is CommonJS with an `exports.default`: under NodeNext that is the module's `default` property.
const createSubscriber = pgListen.default;

const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 15_000;
const LIVENESS_CHECK_MS = 10_000;
const STOP_WAIT_MS = 2_000;

/**
 * Runs `work` at most once at a time; a wake-up while it runs makes it run once more after,
 * so a burst of NOTIFYs becomes one or two runs, and nothing notified during a run is missed.
 */
export class Coalescer {
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(
    private readonly work: () => Promise<unknown>,
    private readonly onError: (err: unknown) => void,
  ) {}

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.work();
        } catch (err) {
          this.onError(err);
        }
      } while (this.again && !this.stopped);
      this.running = null;
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}

export interface WakeListener {
  stop(): Promise<void>;
}

class Stopped extends Error {}

export async function startWakeListener(o: { databaseUrl: string; log: Logger; channels: Record<string, () => void> }): Promise<WakeListener> {
  let stopped = false;
  const wakeAll = () => Object.values(o.channels).forEach((f) => f());
  const subscriber = createSubscriber(
    { connectionString: o.databaseUrl, application_name: 'baygate-ingest-listen', options: '-c role=baygate_ingest' },
    {
      paranoidChecking: LIVENESS_CHECK_MS,
      retryTimeout: 0,
      retryInterval: (attempt) => {
        if (stopped) throw new Stopped('listener stopped');
        const ms = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
        return ms / 2 + Math.random() * (ms / 2);
      },
    },
  );
  subscriber.events.on('connected', () => {
    if (stopped) return void subscriber.close().catch(() => undefined);
    wakeAll();
  });
  subscriber.events.on('error', (err) => {
    if (stopped || err instanceof Stopped || /listener stopped/.test(err.message)) return;
    o.log.error({ err: err.message }, 'LISTEN connection error');
  });
  for (const [channel, wake] of Object.entries(o.channels)) subscriber.notifications.on(channel, () => wake());
  await subscriber.connect();
  for (const channel of Object.keys(o.channels)) await subscriber.listenTo(channel);
  wakeAll();
  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.race([subscriber.close().catch(() => undefined), new Promise((r) => setTimeout(r, STOP_WAIT_MS).unref())]);
    },
  };
}
