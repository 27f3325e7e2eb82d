/**
 * Owns the API side of the webhook spool under load: inbound ChirpStack requests are
 * verified and spooled in shared transactions (group commit), so a burst of requests costs
 * a few transactions, not one pooled connection per request each.
 *
 * Why: with one transaction per request, a burst of 2,000 requests queued ~700 of them on
 * the pool (DB_POOL_MAX connections), and a request waiting longer than the pool's
 * connection timeout failed for load, which the issue forbids ("nothing is rejected for
 * load"). Here at most MAX_FLUSHES transactions are open at once; requests that arrive
 * meanwhile wait in memory and go together in the next one. No timer: a request that finds
 * a free flush slot is written at once, so a quiet system answers as fast as before.
 *
 * Semantics per request are those of the one-request transaction: the tenant's secrets are
 * read in the transaction that spools (a rotation is seen at once), a request that fails
 * its signature or its body check stores nothing, and a request is answered only after the
 * commit that holds its row. A database failure fails every request of that batch.
 */
import type { Pool } from '../db/pool.js';
import { setTenant, withTx } from '../db/tx.js';
import { lookupInboundSecrets } from '../storage/webhook-secrets.js';
import { spoolEvents, type SpoolEvent } from '../storage/webhook-spool.js';
import { verifySignature, type VerifyFailure } from './signature.js';

/** Transactions open at once: enough to overlap one commit with the next batch's work, far below DB_POOL_MAX. */
const MAX_FLUSHES = 2;
/** Requests per transaction. */
const MAX_BATCH = 500;
/** Body bytes per transaction (request bodies may be up to the body limit each). */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

export interface SpoolRequest {
  slug: string;
  signature: string | undefined;
  /** The raw body, as signed. */
  body: Buffer;
  /** The parsed body, for `check`. */
  parsed: unknown;
  event: SpoolEvent;
}

export type SpoolVerdict =
  | { ok: true; tenantId: string }
  | { ok: false; reason: VerifyFailure | 'unknown_tenant' }
  | { ok: false; reason: 'invalid'; error: unknown };

interface Pending {
  req: SpoolRequest;
  resolve(v: SpoolVerdict): void;
  reject(err: unknown): void;
}

export class SpoolBatcher {
  private readonly queue: Pending[] = [];
  private flushing = 0;

  /** `check` validates a verified request's body; it throws to refuse it (nothing stored). */
  constructor(
    private readonly pool: Pool,
    private readonly check: (parsed: unknown) => void,
  ) {}

  submit(req: SpoolRequest): Promise<SpoolVerdict> {
    return new Promise((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    while (this.flushing < MAX_FLUSHES && this.queue.length > 0) {
      let bytes = 0;
      let n = 0;
      while (n < this.queue.length && n < MAX_BATCH && (n === 0 || bytes + this.queue[n]!.req.body.length <= MAX_BATCH_BYTES)) {
        bytes += this.queue[n]!.req.body.length;
        n++;
      }
      const batch = this.queue.splice(0, n);
      this.flushing++;
      void this.flush(batch).finally(() => {
        this.flushing--;
        this.kick();
      });
    }
  }

  private async flush(batch: Pending[]): Promise<void> {
    try {
      const verdicts = await withTx(this.pool, {}, async (c) => {
        const secrets = new Map<string, Awaited<ReturnType<typeof lookupInboundSecrets>>>();
        for (const slug of new Set(batch.map((p) => p.req.slug))) secrets.set(slug, await lookupInboundSecrets(c, slug));
        const now = new Date();
        const out: SpoolVerdict[] = batch.map(({ req }) => {
          const found = secrets.get(req.slug);
          if (!found) return { ok: false, reason: 'unknown_tenant' };
          const v = verifySignature(req.signature, req.body, found.secrets, now);
          if (!v.ok) return { ok: false, reason: v.reason };
          try {
            this.check(req.parsed);
          } catch (error) {
            return { ok: false, reason: 'invalid', error };
          }
          return { ok: true, tenantId: found.tenantId };
        });
        const byTenant = new Map<string, { event: SpoolEvent; payload: Buffer }[]>();
        out.forEach((v, i) => {
          if (!v.ok) return;
          const rows = byTenant.get(v.tenantId) ?? [];
          rows.push({ event: batch[i]!.req.event, payload: batch[i]!.req.body });
          byTenant.set(v.tenantId, rows);
        });
        for (const [tenantId, rows] of byTenant) {
          await setTenant(c, tenantId);
          await spoolEvents(c, tenantId, rows);
        }
        return out;
      });
      verdicts.forEach((v, i) => batch[i]!.resolve(v));
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}
