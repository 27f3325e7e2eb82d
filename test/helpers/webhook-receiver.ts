/**
 * A real HTTP server standing in for a tenant's webhook receiver, and the signature check a
 * receiver would write from the scheme (X-Baygate-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
 * "<t>.<raw body>">), independently of src/webhooks/signature.ts.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { Test } from 'tap';

export interface Received {
  headers: IncomingHttpHeaders;
  raw: string;
  body: any;
  /** The status it was answered with. */
  status: number;
}

/** A receiver answering each request with the next status of `plan` (the last one repeats; default always 200). */
export async function webhookReceiver(t: Test, plan: number[] = [200]) {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const status = plan[Math.min(got.length, plan.length - 1)]!;
      got.push({ headers: req.headers, raw, body: JSON.parse(raw), status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const addr = server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hook`, got, plan };
}

/** Whether the signature header is valid for `raw` under `secret` and at most 5 minutes off. */
export function verifyWebhookSignature(secret: string, header: string | undefined, raw: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  if (Math.abs(Date.now() / 1000 - Number(m[1])) > 300) return false;
  const want = createHmac('sha256', secret).update(`${m[1]}.${raw}`).digest();
  return timingSafeEqual(want, Buffer.from(m[2]!, 'hex'));
}
