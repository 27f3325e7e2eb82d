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
 * read in the transaction that spools (a rotation is seen at once), a request whose
 * credential (bearer token or signature) fails stores nothing, and a request is answered
 * only after the commit that holds its row. A database failure fails every request of that batch.
 */
import type { Pool } from '../db/pool.js';
import { setTenant, withTx } from '../db/tx.js';
import { randomBytes } from 'node:crypto';
import { lookupInboundSecrets } from '../storage/webhook-secrets.js';
import { spoolEvents, type NewSpoolRow, type SpoolEncoding, type SpoolEvent } from '../storage/webhook-spool.js';
import { verifyBearer } from './bearer.js';
import { verifySignature, type VerifyFailure } from './signature.js';

/** Transactions open at once: enough to overlap one commit with the next batch's work, far below DB_POOL_MAX. */
const MAX_FLUSHES = 2;
/** Requests per transaction. */
const MAX_BATCH = 500;
/** Body bytes per transaction (request bodies may be up to the body limit each). */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

/**
 * Checked in place of an unknown tenant's secrets, so a request naming no tenant costs the
 * same comparisons as one naming a real tenant with a wrong credential (no tenant oracle by
 * timing). Random per process: it can never match anything a caller sends.
 */
const DECOY_SECRETS: readonly string[] = [`decoy_${randomBytes(32).toString('base64url')}`];

export interface SpoolRequest {
  slug: string;
  /** The token of `Authorization: Bearer <secret>`, the static header ChirpStack sends (src/webhooks/bearer.ts). */
  bearer: string | undefined;
  /** `X-Baygate-Signature`, from a sender that can sign (src/webhooks/signature.ts). */
  signature: string | undefined;
  /** The raw body, as sent (and signed). */
  body: Buffer;
  /** What to spool once authenticated; null for a kind baygate does not use (authenticated and answered, not stored). */
  spool: { event: SpoolEvent; encoding: SpoolEncoding } | null;
}

export type SpoolVerdict =
  | { ok: true; tenantId: string; spooled: boolean }
  | { ok: false; reason: VerifyFailure | 'unknown_tenant' };

/**
 * A request is authentic when its bearer token is one of the secrets valid now or its
 * signature verifies under one of them; either credential suffices, so a signing proxy may
 * pass ChirpStack's header on.
 */
function authenticate(req: SpoolRequest, secrets: readonly string[], now: Date): { ok: true } | { ok: false; reason: VerifyFailure } {
  if (req.bearer !== undefined && verifyBearer(req.bearer, secrets)) return { ok: true };
  if (req.signature !== undefined) {
    const v = verifySignature(req.signature, req.body, secrets, now);
    if (v.ok || req.bearer === undefined) return v;
  }
  return { ok: false, reason: req.bearer === undefined ? 'missing' : 'mismatch' };
}

interface Pending {
  req: SpoolRequest;
  resolve(v: SpoolVerdict): void;
  reject(err: unknown): void;
}

export class SpoolBatcher {
  private readonly queue: Pending[] = [];
  private flushing = 0;

  constructor(private readonly pool: Pool) {}

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
          // An unknown tenant is checked against the decoy, then refused like a wrong credential.
          const v = authenticate(req, found?.secrets ?? DECOY_SECRETS, now);
          if (!found) return { ok: false, reason: 'unknown_tenant' };
          if (!v.ok) return { ok: false, reason: v.reason };
          return { ok: true, tenantId: found.tenantId, spooled: req.spool !== null };
        });
        const byTenant = new Map<string, NewSpoolRow[]>();
        out.forEach((v, i) => {
          const { spool, body } = batch[i]!.req;
          if (!v.ok || spool === null) return;
          const rows = byTenant.get(v.tenantId) ?? [];
          rows.push({ event: spool.event, encoding: spool.encoding, payload: body });
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
