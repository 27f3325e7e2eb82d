/**
 * Owns what an outbound webhook may call and how it is called: only http(s) URLs whose host
 * resolves to public addresses (SSRF: a tenant must not make baygate reach its own network,
 * the cloud metadata service at 169.254.169.254, or loopback), unless WEBHOOK_ALLOW_PRIVATE.
 * The address is checked when a subscription is saved and again before every send, since
 * DNS can change in between, and the sending socket connects only to addresses that pass.
 */
import { lookup } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { ValidationError } from '../errors.js';
import { SIGNATURE_HEADER, signatureHeader } from './signature.js';

/** Special-purpose ranges (IANA IPv4/IPv6 Special-Purpose Address Registries, RFC 6890) that are not the public internet. */
const REFUSED = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) REFUSED.addSubnet(net, prefix, 'ipv4');
// NAT64 prefixes (RFC 6052, RFC 8215) embed an IPv4 address that a local translator would
// reach, private ones included; so do 6to4 (2002::/16, RFC 3056; its relays deprecated by
// RFC 7526), Teredo (2001::/32, RFC 4380) and the IPv4-compatible form (::/96, RFC 4291
// §2.5.5.1, deprecated): refused whole (issue 19 §7). fec0::/10 is the deprecated site-local
// range (RFC 3879).
for (const [net, prefix] of [
  ['::', 96], ['::1', 128], ['2002::', 16], ['2001::', 32], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001:db8::', 32],
  ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) REFUSED.addSubnet(net, prefix, 'ipv6');

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

/** Resolves a host name to its addresses; tests substitute one to play a rebinding DNS server. */
export type Resolve = (host: string) => Promise<{ address: string; family: number }[]>;

const systemResolve: Resolve = (host) => lookup(host, { all: true, verbatim: true });

const PRIVATE_MESSAGE = 'resolves to a loopback, link-local or private address';

/** Throws a ValidationError naming `field` when the URL may not be called. */
export async function checkWebhookUrl(raw: string, allowPrivate: boolean, field = 'body.url', resolve: Resolve = systemResolve): Promise<URL> {
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
    addresses = isIP(host) ? [host] : (await resolve(host)).map((a) => a.address);
  } catch {
    throw refuse(`${field}: the host does not resolve`);
  }
  if (addresses.length === 0 || addresses.some(isRefusedAddress)) {
    throw refuse(`${field} ${PRIVATE_MESSAGE}`);
  }
  return url;
}

/**
 * The `lookup` of the socket that sends: the addresses connected to are the ones checked.
 * Without it the HTTP client resolves the name once more after checkWebhookUrl, and a DNS
 * server answering a public address first and 127.0.0.1 next (DNS rebinding) gets past the check.
 */
function guardedLookup(resolve: Resolve, allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (found) => {
        if (found.length === 0 || (!allowPrivate && found.some((a) => isRefusedAddress(a.address)))) {
          const err = Object.assign(new Error(`${hostname} ${PRIVATE_MESSAGE}`), { code: 'EREFUSEDADDRESS' });
          callback(err, '', 0);
        } else if (options.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, found);
        else callback(null, found[0]!.address, found[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
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
 * node:http rather than fetch, for the socket's `lookup` (guardedLookup). Redirects are not
 * followed (a redirect could lead past the address check): a 3xx is a failure.
 */
export async function sendWebhook(
  o: { url: string; secret: string; message: OutboundMessage; timeoutMs: number; allowPrivate: boolean; resolve?: Resolve },
): Promise<SendResult> {
  const resolve = o.resolve ?? systemResolve;
  let url: URL;
  try {
    url = await checkWebhookUrl(o.url, o.allowPrivate, 'url', resolve);
  } catch (err) {
    return { ok: false, status: null, error: (err as Error).message };
  }
  const body = Buffer.from(JSON.stringify(o.message));
  const signal = AbortSignal.timeout(o.timeoutMs);
  return new Promise<SendResult>((done) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: 'POST',
      signal,
      lookup: guardedLookup(resolve, o.allowPrivate),
      headers: {
        'content-type': 'application/json',
        'content-length': body.length,
        'user-agent': 'baygate-webhooks',
        [SIGNATURE_HEADER]: signatureHeader(o.secret, body),
        'x-baygate-event': o.message.type,
        'x-baygate-delivery': o.message.id,
      },
    }, (res) => {
      const status = res.statusCode ?? 0;
      const ok = status >= 200 && status < 300;
      // The answer is read to its end (within the timeout) and not kept: only its status counts.
      res.on('data', () => undefined);
      const answered = () => done({ ok, status, error: ok ? null : `HTTP ${status}` });
      res.on('end', answered);
      res.on('error', answered);
      res.on('close', answered);
    });
    req.on('error', (e: NodeJS.ErrnoException) =>
      done({ ok: false, status: null, error: signal.aborted ? `no answer within ${o.timeoutMs} ms` : e.message }));
    req.end(body);
  });
}
