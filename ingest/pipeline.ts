/**
 * Owns micro-batching with acknowledgement after commit. Messages are routed to one of
 * `lanes` queues by DevEUI (every event of one device goes to the same lane), and each
 * lane applies one batch at a time (up to batchMax messages, or whatever arrived within
 * batchMaxMs of the oldest) in one transaction. Only after COMMIT is each message
 * settled, which lets the MQTT consumer send its PUBACK; the consumer acknowledges only
 * the settled prefix of what arrived, so PUBACKs keep the arrival order
 * [MQTT-4.6.0-2] even when lanes commit out of order, and a device's frames keep theirs.
 *
 * Why lanes: one batch in flight at a time leaves PostgreSQL idle while Node parses and
 * Node idle while PostgreSQL writes; two lanes keep both of this machine's cores busy.
 * Lanes touch disjoint devices and spaces; the rows they share (gateways, a tenant's
 * event-order lock) are locked in one global order (see ingest/apply.ts), and a deadlock
 * or serialization failure, should one happen anyway, retries the batch.
 *
 * Failures: a lost database is retried with backoff, holding the batch and its acks
 * until it returns (the broker keeps the rest queued). Any other error is a message the
 * code cannot handle: the batch is split and applied one message at a time, and the one
 * that still fails is dead-lettered alone, so good messages around it still apply.
 */
import type { Pool } from '../src/db/pool.js';
import { withRawTx } from '../src/db/tx.js';
import { isRetryable, isUnavailable } from '../src/db/errors.js';
import { insertDeadLetters } from '../src/storage/dead-letters.js';
import type { Logger } from '../src/log.js';
import { applyBatch, type BatchResult, type InboundMessage } from './apply.js';
import type { CompiledTopicTemplate } from './chirpstack.js';

export interface PipelineMessage extends InboundMessage {
  receivedAt: number;
  settle(): void;
}

export interface PipelineOptions {
  pool: Pool;
  log: Logger;
  topics: CompiledTopicTemplate;
  batchMax: number;
  batchMaxMs: number;
  /** Batches applied concurrently, each on its own connection (INGEST_LANES). */
  lanes: number;
  /** INGEST_MAX_CLOCK_SKEW_SECONDS (ingest/apply.ts ApplyOptions). */
  maxClockSkewSeconds?: number;
  /** Called after each committed batch (metrics, benchmarks). */
  onBatch?: (result: BatchResult, info: { size: number; commitMs: number; oldestReceivedAt: number }) => void;
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** FNV-1a, to spread DevEUIs over lanes. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class IngestPipeline {
  private readonly lanes: Lane[];

  constructor(private readonly opts: PipelineOptions) {
    this.lanes = Array.from({ length: Math.max(1, opts.lanes) }, () => new Lane(opts));
  }

  /** Messages queued or in flight, all lanes. */
  get pending(): number {
    return this.lanes.reduce((n, l) => n + l.pending, 0);
  }

  /** True while the database is unreachable and a batch waits to be retried. */
  get dbDown(): boolean {
    return this.lanes.some((l) => l.dbDown);
  }

  push(msg: PipelineMessage): void {
    const devEui = this.opts.topics.match(msg.topic)?.devEui ?? '';
    this.lanes[hash(devEui) % this.lanes.length]!.push(msg);
  }

  /** Resolves once everything queued so far is committed and settled. */
  async drain(): Promise<void> {
    await Promise.all(this.lanes.map((l) => l.drain()));
  }

  /** Stops retrying; unsettled messages stay with the broker for redelivery. */
  stop(): void {
    for (const l of this.lanes) l.stop();
  }
}

class Lane {
  private readonly queue: PipelineMessage[] = [];
  private running = false;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];
  /** True while the database is unreachable and a batch waits to be retried. */
  dbDown = false;

  constructor(private readonly opts: PipelineOptions) {}

  get pending(): number {
    return this.queue.length;
  }

  push(msg: PipelineMessage): void {
    this.queue.push(msg);
    this.schedule();
  }

  /** Resolves once everything queued so far is committed and settled. */
  drain(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops retrying; unsettled messages stay with the broker for redelivery. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private schedule(): void {
    if (this.running || this.stopped || this.queue.length === 0) return;
    if (this.queue.length >= this.opts.batchMax) return void this.run();
    if (this.timer) return;
    const age = Date.now() - this.queue[0]!.receivedAt;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run();
    }, Math.max(0, this.opts.batchMaxMs - age));
  }

  private async run(): Promise<void> {
    if (this.running || this.stopped) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const batch = this.queue.slice(0, this.opts.batchMax);
        const done = await this.commitWithRetry(batch);
        if (!done) return; // stopped while the database was down
        this.queue.splice(0, batch.length);
        for (const m of batch) m.settle();
        // Below a full batch, give stragglers until batchMaxMs to join the next one.
        if (this.queue.length < this.opts.batchMax) break;
      }
    } finally {
      this.running = false;
    }
    if (this.queue.length > 0) this.schedule();
    else for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Commits a batch, waiting out database outages; false only when stopped meanwhile. */
  private async commitWithRetry(batch: PipelineMessage[]): Promise<boolean> {
    let delay = RETRY_MIN_MS;
    for (;;) {
      try {
        await this.commit(batch);
        if (this.dbDown) this.opts.log.info('database reachable again; ingest resumed');
        this.dbDown = false;
        return true;
      } catch (err) {
        // Unavailable database, a lock conflict with another lane, or a failure even to
        // dead-letter: hold the batch and retry.
        if (isRetryable(err)) {
          this.opts.log.info({ code: (err as { code?: string }).code }, 'batch conflicted with another writer; retrying');
          continue;
        }
        if (!isUnavailable(err)) this.opts.log.error({ err }, 'batch could not be committed or dead-lettered; retrying');
        else if (!this.dbDown) this.opts.log.warn({ err: (err as Error).message }, 'database unavailable; holding acknowledgements and retrying');
        this.dbDown = true;
        if (this.stopped) return false;
        await sleep(delay);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
        if (this.stopped) return false;
      }
    }
  }

  private async commit(batch: PipelineMessage[]): Promise<void> {
    const started = performance.now();
    try {
      const result = await withRawTx(this.opts.pool, (c) => applyBatch(c, this.opts.topics, batch, { maxClockSkewSeconds: this.opts.maxClockSkewSeconds }));
      this.opts.onBatch?.(result, {
        size: batch.length,
        commitMs: performance.now() - started,
        oldestReceivedAt: batch[0]?.receivedAt ?? Date.now(),
      });
    } catch (err) {
      if (isUnavailable(err) || isRetryable(err)) throw err;
      if (batch.length > 1) {
        this.opts.log.warn({ err: (err as Error).message, size: batch.length }, 'batch failed; applying its messages one by one');
        for (const m of batch) await this.commit([m]);
        return;
      }
      const m = batch[0]!;
      this.opts.log.error({ err: (err as Error).message, topic: m.topic }, 'message failed; dead-lettered');
      await withRawTx(this.opts.pool, (c) =>
        insertDeadLetters(c, [{ tenantId: null, topic: m.topic, payload: m.payload, reason: 'processing_failed', error: (err as Error).message, decoder: null, devEui: null }]),
      );
    }
  }

}
