/**
 * Inbound webhook routes: ChirpStack's HTTP integration as a second way in (issues 7, 18),
 * and the admin's view and rotation of the tenant's inbound secret.
 *
 * What ChirpStack sends (chirpstack/src/integration/http.rs, post_event; read at commit d77207c, 2026-07):
 * a POST of each event to the configured URL with `event=<kind>` added to its query (reqwest's
 * RequestBuilder::query appends, so `…?tenant=acme` arrives as `…?tenant=acme&event=up`),
 * `Content-Type: application/json` or `application/octet-stream` (the Protobuf encoding), and
 * only the static headers the admin typed (`HttpIntegration.headers`). It waits 5 s, logs a
 * non-2xx answer as a warning and never retries. So:
 * - the credential is the tenant's inbound secret as a static header, `Authorization: Bearer
 *   <secret>`; `X-Baygate-Signature` stays for senders that can sign (a proxy);
 * - every authenticated request of every kind is answered 2xx: kinds baygate applies are
 *   spooled (an INSERT shared with the requests arriving meanwhile, src/webhooks/spool-batcher.ts)
 *   and applied by ingest through the same code as MQTT (ingest/jobs/process-webhook-spool.ts),
 *   where a body that cannot be parsed becomes a dead letter with its reason, as on MQTT;
 *   kinds it does not use are counted and not stored. A 4xx would only lose the event and
 *   fill ChirpStack's log;
 * - a missing or wrong credential, an unknown tenant and no tenant are the same 401, after
 *   the same comparisons, so neither the answer nor its timing says which tenants exist.
 * The 4xx that remain are for requests ChirpStack never makes (see the handler).
 */
import type { Context } from 'koa';
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { AppError, ValidationError } from '../../src/errors.js';
import type { Metrics } from '../../src/metrics.js';
import type { DocumentedRoute } from '../../src/openapi.js';
import { timestamp } from '../../src/schemas/common.js';
import { inboundSecretStatus, rotateInboundSecret } from '../../src/storage/webhook-secrets.js';
import { SPOOL_EVENTS, type SpoolEncoding, type SpoolEvent } from '../../src/storage/webhook-spool.js';
import { bearerToken } from '../../src/webhooks/bearer.js';
import { newSecret, SIGNATURE_HEADER } from '../../src/webhooks/signature.js';
import { SpoolBatcher } from '../../src/webhooks/spool-batcher.js';

export interface InboundWebhookDeps {
  pool: Pool;
  /** Counts received events by kind and outcome; left out where routes are only listed (the OpenAPI document). */
  metrics?: Metrics;
}

export const INBOUND_WEBHOOK_PATH = '/api/webhooks/chirpstack';
export const TENANT_HEADER = 'x-baygate-tenant';

/** How long a replaced secret is still accepted, so ChirpStack can be updated (issue 7). */
export const SECRET_GRACE_SECONDS = 60 * 60;

/**
 * The API's body limit (api/app.ts BODY_LIMIT, 1 MB), read here by the route itself. No
 * ChirpStack event comes near it: a LoRaWAN application payload is at most 242 bytes (RP002
 * Regional Parameters, N) and an uplink seen by dozens of gateways is a few KiB. Refusing
 * beyond it loses nothing ChirpStack sends, while reading any size to authenticate it would
 * let anyone make the API buffer without bound.
 */
export const INBOUND_BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * Kinds ChirpStack has posted that baygate does not use: `integration` (sent by ChirpStack
 * before v4.15, whose commit ac5de191 "Remove integration event code." dropped it). Named so
 * the metric tells them apart from kinds nobody knew of yet (`other`).
 */
const UNUSED_EVENTS = ['integration'] as const;
/** An event kind as ChirpStack names them (`up`, `txack`, …); anything else is not from ChirpStack. */
const EVENT_NAME = /^[a-z][a-z_]{0,31}$/;
const SLUG = /^[a-z0-9-]{1,63}$/;

/** `application/json` (JSON encoding) or `application/octet-stream` (Protobuf), as http.rs sets them. */
const ENCODING_BY_TYPE: Record<string, SpoolEncoding> = { json: 'json', 'application/octet-stream': 'protobuf' };

const inboundQuery = {
  type: 'object',
  required: ['event'],
  properties: {
    event: {
      type: 'string', pattern: EVENT_NAME.source,
      description: `ChirpStack's event kind, which its HTTP integration appends to the URL: ${SPOOL_EVENTS.join(', ')} are applied; any other kind is answered 200 and not stored. When the URL names it twice, the last one counts (ChirpStack's own).`,
    },
    tenant: { type: 'string', pattern: SLUG.source, description: `Tenant slug (or the ${TENANT_HEADER} header)` },
  },
} as const;

const eventBody = {
  type: 'object',
  description: 'A ChirpStack v4 integration event as its HTTP integration posts it: JSON (the same shapes as on MQTT), or with Content-Type application/octet-stream the protobuf message of api/proto/integration/integration.proto',
} as const;

const accepted = {
  type: 'object', required: ['status'],
  properties: { status: { type: 'string', enum: ['accepted'], description: 'Spooled; ingest applies it (or keeps it as a dead letter when it cannot be read)' } },
} as const;
const ignored = {
  type: 'object', required: ['status'],
  properties: { status: { type: 'string', enum: ['ignored'], description: 'Authenticated; a kind baygate does not use, counted and not stored' } },
} as const;

/** The last value of a query parameter (ChirpStack appends `event`, so its own comes last). */
function lastValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[v.length - 1] : v;
}

/**
 * The raw body, read by the route rather than the body parser (api/app.ts skips it here):
 * the bytes are what was signed, protobuf is not text, and JSON that does not parse must
 * still be authenticated and kept, not refused with 400 before anyone knows who sent it.
 */
function readBody(ctx: Context): Promise<Buffer> {
  // The rest of an oversized body is never read; the connection closes after the answer.
  const tooLarge = () => new AppError(413, 'payload_too_large', 'Request body too large (limit 1 MB)', [], { Connection: 'close' });
  if (Number(ctx.get('content-length') || 0) > INBOUND_BODY_LIMIT_BYTES) return Promise.reject(tooLarge());
  const req = ctx.req;
  // Listeners rather than `for await`: leaving an async iterator early destroys the stream,
  // and with it the socket the 413 is to be written to.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err: Error | null) => {
      req.off('data', onData).off('end', onEnd).off('error', done).off('close', onClose);
      if (err) {
        req.pause();
        reject(err);
      } else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > INBOUND_BODY_LIMIT_BYTES) done(tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = () => done(null);
    const onClose = () => done(new Error('request closed before its body ended'));
    req.on('data', onData).on('end', onEnd).on('error', done).on('close', onClose);
  });
}

const secretStatus = {
  type: 'object',
  required: ['configured', 'created_at', 'previous_valid_until'],
  properties: {
    configured: { type: 'boolean' },
    created_at: { ...timestamp, type: ['string', 'null'] },
    previous_valid_until: { ...timestamp, type: ['string', 'null'], description: 'Until when the secret replaced last is still accepted' },
  },
} as const;

export function inboundWebhookRoutes(deps: InboundWebhookDeps): DocumentedRoute[] {
  const { pool, metrics } = deps;
  const spool = new SpoolBatcher(pool);
  const count = (event: string | undefined, outcome: 'spooled' | 'ignored' | 'unauthorized') => {
    const known = (SPOOL_EVENTS as readonly string[]).includes(event ?? '') || (UNUSED_EVENTS as readonly string[]).includes(event ?? '');
    // A closed label set (src/metrics.ts): a kind nobody knew of yet is `other`, never the caller's string.
    metrics?.webhookEventsReceived.inc({ event: known ? event! : 'other', outcome });
  };
  return [
    {
      method: 'post', path: INBOUND_WEBHOOK_PATH, tag: 'webhooks', auth: false, status: 202, raw: true,
      summary: "Receive a ChirpStack event from its HTTP integration (Authorization: Bearer <the tenant's inbound secret>)",
      description:
        'Configure in ChirpStack (Application → Integrations → HTTP): endpoint URL `https://<baygate>/api/webhooks/chirpstack?tenant=<slug>`, ' +
        'one header `Authorization` with the value `Bearer <secret>` (from `POST /api/v6/webhooks/inbound-secret`), payload encoding JSON or Protobuf. ' +
        `A sender that can sign may send \`${SIGNATURE_HEADER}: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">\` with the same secret instead. ` +
        'Every authenticated event is answered 2xx, also one that cannot be read (ingest keeps it as a dead letter), because ChirpStack does not retry. ' +
        `The tenant may also be named by the \`${TENANT_HEADER}\` header.`,
      body: eventBody,
      bodyMedia: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } },
      query: inboundQuery,
      response: accepted,
      responses: {
        200: { description: 'Authenticated; a kind baygate does not use (counted, not stored)', schema: ignored },
        400: { description: 'Authenticated, but the query names no event kind (ChirpStack always does)' },
        413: { description: 'Body over 1 MB, refused before it is read further (no ChirpStack event comes near)' },
        415: { description: 'Content-Type neither application/json nor application/octet-stream (ChirpStack always sends one of the two)' },
      },
      handler: async (ctx) => {
        const slug = ctx.get(TENANT_HEADER) || lastValue(ctx.query.tenant) || '';
        const event = lastValue(ctx.query.event);
        // 415 and 413 come before authentication: they depend on nothing but the request, so
        // they say nothing about tenants, and a body is never read beyond the limit.
        const type = ctx.is(Object.keys(ENCODING_BY_TYPE));
        const encoding = type ? ENCODING_BY_TYPE[type] : undefined;
        if (!encoding) {
          throw new AppError(415, 'unsupported_media_type', 'Content-Type must be application/json or application/octet-stream (protobuf)');
        }
        // ChirpStack sends bodies uncompressed; a coding would change the bytes signed and spooled (RFC 9110 §15.5.16).
        const coding = ctx.get('content-encoding').trim().toLowerCase();
        if (coding !== '' && coding !== 'identity') throw new AppError(415, 'unsupported_media_type', 'Content-Encoding is not supported');
        const body = await readBody(ctx);
        const refuse = (reason: string) => {
          count(event, 'unauthorized');
          ctx.state.log?.info({ tenant: slug, reason }, 'webhook refused');
          // One answer for every failure; RFC 6750 §3: a 401 names the scheme it wants.
          return new AppError(401, 'unauthorized', 'Invalid webhook credentials', [], { 'WWW-Authenticate': 'Bearer realm="baygate-webhooks"' });
        };
        // A malformed slug names no tenant whatever the database holds: refused without a lookup.
        if (!SLUG.test(slug)) throw refuse('unknown_tenant');
        const applied = event !== undefined && (SPOOL_EVENTS as readonly string[]).includes(event);
        // Authenticated and, for a kind baygate applies, spooled with whatever else arrives meanwhile.
        const verdict = await spool.submit({
          slug,
          bearer: bearerToken(ctx.get('authorization') || undefined),
          signature: ctx.get(SIGNATURE_HEADER) || undefined,
          body,
          spool: applied ? { event: event as SpoolEvent, encoding } : null,
        });
        if (!verdict.ok) throw refuse(verdict.reason);
        if (event === undefined || !EVENT_NAME.test(event)) {
          throw new ValidationError('Query parameter event must name a ChirpStack event kind', [
            { field: 'query.event', message: 'missing, or not an event kind' },
          ]);
        }
        if (verdict.spooled) {
          count(event, 'spooled');
          return { status: 'accepted' };
        }
        count(event, 'ignored');
        // Set here rather than returned: the route's own status (202) is for spooled events.
        ctx.status = 200;
        ctx.body = { status: 'ignored' };
        return undefined;
      },
    },
    {
      method: 'get', path: '/api/v6/webhooks/inbound-secret', tag: 'webhooks', auth: 'admin',
      summary: 'Whether an inbound webhook secret is set (the secret itself is shown only when rotated)',
      response: secretStatus,
      handler: async (_ctx, { principal }) =>
        withTx(pool, { tenantId: principal.tenantId }, (c) => inboundSecretStatus(c, principal.tenantId)),
    },
    {
      method: 'post', path: '/api/v6/webhooks/inbound-secret', tag: 'webhooks', auth: 'admin', status: 201,
      summary: 'Rotate the inbound webhook secret: the new one is shown once, the previous one stays valid for an hour',
      body: { type: 'object', properties: {} },
      response: { ...secretStatus, required: [...secretStatus.required, 'secret'], properties: { ...secretStatus.properties, secret: { type: 'string' } } },
      handler: async (_ctx, { principal }) => {
        const secret = newSecret();
        const status = await withTx(pool, { tenantId: principal.tenantId, userId: principal.userId }, async (c) => {
          await rotateInboundSecret(c, principal.tenantId, secret, SECRET_GRACE_SECONDS);
          return inboundSecretStatus(c, principal.tenantId);
        });
        return { secret, ...status };
      },
    },
  ];
}
