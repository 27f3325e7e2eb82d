/**
 * Owns what an outbound webhook may call and how it is called: only http(s) URLs whose host
 * resolves to public addresses (SSRF: a tenant must not make baygate reach its own network,
 * the cloud metadata service at 169.254.169.254, or loopback), unless WEBHOOK_ALLOW_PRIVATE.
 * The address is checked when a subscription is saved and again before every send, since
 * DNS can change in between.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { ValidationError } from '../errors.js';
import { SIGNATURE_HEADER, signatureHeader } from './signature.js';

/** Special-purpose ranges (IANA IPv4/IPv6 Special-Purpose Address Registries, RFC 6890) that are not the public internet. */
const REFUSED = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) REFUSED.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8]] as const) REFUSED.addSubnet(net, prefix, 'ipv6');

export function isRefusedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return REFUSED.check(address, 'ipv4');
  if (family === 6) {
    // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) reaches the IPv4 host.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return REFUSED.check(mapped[1]!, 'ipv4');
    return REFUSED.check(address, 'ipv6');
  }
  return true;
}

/** Throws a ValidationError naming `field` when the URL may not be called. */
export async function checkWebhookUrl(raw: string, allowPrivate: boolean, field = 'body.url'): Promise<URL> {
  const refuse = (message: string) => new ValidationError(message, [{ field, message }]);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse(`${field} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refuse(`${field} must be http or https`);
  if (url.username || url.password) throw refuse(`${field} must not carry credentials`);
  if (allowPrivate) return url;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  } catch {
    throw refuse(`${field}: the host does not resolve`);
  }
  if (addresses.length === 0 || addresses.some(isRefusedAddress)) {
    throw refuse(`${field} resolves to a loopback, link-local or private address`);
  }
  return url;
}

export interface SendResult {
  ok: boolean;
  status: number | null;
  error: string | null;
}

export interface OutboundMessage {
  id: string;
  type: string;
  created_at: string;
  data: unknown;
}

/**
 * One delivery attempt: POST the JSON, signed; any 2xx within the timeout is delivered.
 * Redirects are not followed (a redirect could lead past the address check).
 */
export async function sendWebhook(
  o: { url: string; secret: string; message: OutboundMessage; timeoutMs: number; allowPrivate: boolean },
): Promise<SendResult> {
  try {
    await checkWebhookUrl(o.url, o.allowPrivate);
  } catch (err) {
    return { ok: false, status: null, error: (err as Error).message };
  }
  const body = Buffer.from(JSON.stringify(o.message));
  try {
    const res = await fetch(o.url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(o.timeoutMs),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'baygate-webhooks',
        [SIGNATURE_HEADER]: signatureHeader(o.secret, body),
        'x-baygate-event': o.message.type,
        'x-baygate-delivery': o.message.id,
      },
      body,
    });
    await res.arrayBuffer().catch(() => undefined);
    const ok = res.status >= 200 && res.status < 300;
    return { ok, status: res.status, error: ok ? null : `HTTP ${res.status}` };
  } catch (err) {
    const e = err as Error;
    return { ok: false, status: null, error: e.name === 'TimeoutError' ? `no answer within ${o.timeoutMs} ms` : e.message };
  }
}
