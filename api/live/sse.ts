/**
 * Owns the Server-Sent Events side of a live client: the response headers, the event-stream
 * framing (https://html.spec.whatwg.org/multipage/server-sent-events.html), and writing to
 * the socket.
 *
 * Frames go straight to the http.ServerResponse (ctx.respond = false) rather than through a
 * stream Koa would pipe: a fan-out writes to every client on every read, and the extra
 * stream hop per write was a measurable share of the API's CPU with a thousand clients
 * (bench/fanout.ts). Until respond() is called (the subscription is in place, its resume
 * batch queued) frames wait in memory, so a refused subscription can still answer with an
 * ordinary JSON error.
 */
import type { Context } from 'koa';
import type { Batch, CloseReason, Sink } from './hub.js';

/**
 * How long a browser's EventSource waits before reconnecting after the stream ends (the
 * `retry:` field). Short: an end is a restart, a token expiry or a dropped slow client, and
 * the reconnect resumes from Last-Event-ID without loss.
 */
export const SSE_RETRY_MS = 2_000;

const HEARTBEAT = Buffer.from(': heartbeat\n\n');

export class SseSink implements Sink {
  readonly transport = 'sse' as const;
  /** Frames written before respond(). */
  private early: Buffer[] | null = [];
  private earlyBytes = 0;
  private ended = false;

  constructor(private readonly ctx: Context) {}

  /** Takes over the response: headers, the retry hint, then whatever was sent so far. */
  respond(): void {
    const { ctx } = this;
    const socket = ctx.req.socket;
    // A stream is long-lived: no idle timeout, no Nagle delay on small frames.
    socket.setTimeout(0);
    socket.setNoDelay(true);
    socket.setKeepAlive(true);
    ctx.status = 200; // for the request log and metrics; the response itself is written below
    ctx.respond = false;
    ctx.res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // nginx buffers proxied responses unless told not to.
      'X-Accel-Buffering': 'no',
    });
    ctx.res.write(`retry: ${SSE_RETRY_MS}\n\n`);
    const early = this.early ?? [];
    this.early = null;
    for (const b of early) ctx.res.write(b);
    if (this.ended) ctx.res.end();
  }

  private write(bytes: Buffer): void {
    if (this.ended) return;
    if (this.early) {
      this.early.push(bytes);
      this.earlyBytes += bytes.length;
    } else if (!this.ctx.res.destroyed) {
      this.ctx.res.write(bytes);
    }
  }

  send(batch: Batch): number {
    const bytes = batch.sse; // shared by every client with the same filter: written, never copied
    this.write(bytes);
    return bytes.length;
  }

  heartbeat(): void {
    // A comment line: ignored by EventSource, keeps proxies and NATs from closing an idle stream.
    if (!this.early) this.write(HEARTBEAT);
  }

  buffered(): number {
    // The response's and the socket's buffers (writableLength counts both).
    return this.early ? this.earlyBytes : this.ctx.res.writableLength;
  }

  close(reason: CloseReason): void {
    if (reason === 'slow') {
      // Its backlog is what we refuse to keep: cut the connection rather than queue the end.
      this.ended = true;
      this.ctx.req.socket.destroy();
      return;
    }
    if (this.ended) return;
    this.ended = true;
    if (!this.early) this.ctx.res.end();
  }
}
