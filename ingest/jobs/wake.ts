/**
 * Owns the ingest process's LISTEN connection: NOTIFYs that make a job run now instead of at
 * its next tick (the API's WEBHOOK_SPOOL_CHANNEL wakes process_webhook_spool; SPACE_EVENTS_CHANNEL
 * and TENANT_EVENTS_CHANNEL wake deliver_webhooks). "A NOTIFY is only ever a latency hint"
 * (pg-boss): the jobs' schedules still run, and after every (re)connect each job is woken once
 * to catch up on what was missed.
 *
 * A wake-up runs the job's work directly, without tick election or a job_runs row: the work
 * claims its rows with FOR UPDATE SKIP LOCKED, so concurrent runs (replicas, a tick) are safe.
 */
import type { Logger } from '../../src/log.js';
import { listen } from '../../src/db/listen.js';

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

/** Listens on the given channels (src/db/listen.ts); every (re)connect wakes every channel's job once. */
export async function startWakeListener(o: { databaseUrl: string; log: Logger; channels: Record<string, () => void> }): Promise<WakeListener> {
  const wakeAll = () => Object.values(o.channels).forEach((f) => f());
  const l = await listen({
    databaseUrl: o.databaseUrl,
    role: 'baygate_ingest',
    applicationName: 'baygate-ingest-listen',
    log: o.log,
    channels: o.channels,
    onConnected: wakeAll,
  });
  return { stop: () => l.stop() };
}
