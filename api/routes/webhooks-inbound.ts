/**
 * Inbound webhook routes: ChirpStack's HTTP integration as a second way in (issue 7), and
 * the admin's view and rotation of the tenant's signing secret.
 *
 * An accepted event is only spooled (an INSERT, shared with the requests that arrive with it:
 * src/webhooks/spool-batcher.ts) and answered 202; ingest applies it through
 * the same code as MQTT (ingest/jobs/process-webhook-spool.ts). Nothing is stored for a
 * request whose signature is missing, malformed, stale or wrong: all of those, and an
 * unknown tenant, are the same 401, so the answer does not reveal which tenants exist.
 */
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { UnauthorizedError } from '../../src/errors.js';
import { compile } from '../../src/schemas/validator.js';
import { timestamp } from '../../src/schemas/common.js';
import { inboundSecretStatus, rotateInboundSecret } from '../../src/storage/webhook-secrets.js';
import { SPOOL_EVENTS, type SpoolEvent } from '../../src/storage/webhook-spool.js';
import { newSecret, SIGNATURE_HEADER } from '../../src/webhooks/signature.js';
import { SpoolBatcher } from '../../src/webhooks/spool-batcher.js';
import type { RouteDef } from './route.js';

export interface InboundWebhookDeps {
  pool: Pool;
}

export const TENANT_HEADER = 'x-baygate-tenant';

/** How long a replaced secret is still accepted, so ChirpStack can be updated (issue 7). */
export const SECRET_GRACE_SECONDS = 60 * 60;

const SLUG = /^[a-z0-9-]{1,63}$/;

const inboundQuery = {
  type: 'object',
  required: ['event'],
  properties: {
    event: { type: 'string', enum: SPOOL_EVENTS, description: 'ChirpStack event type (the HTTP integration appends ?event=…)' },
    tenant: { type: 'string', pattern: SLUG.source, description: `Tenant slug, when the ${TENANT_HEADER} header cannot be set` },
  },
} as const;

/**
 * What the route needs of a ChirpStack event to spool it: the device it is about. The rest
 * is checked by the ingest parser, as for MQTT. Checked after the signature, so an
 * unauthenticated caller learns nothing from validation messages.
 */
const eventBody = {
  type: 'object',
  required: ['deviceInfo'],
  properties: {
    deviceInfo: {
      type: 'object',
      required: ['devEui'],
      properties: { devEui: { type: 'string', pattern: '^[0-9A-Fa-f]{16}$' }, applicationId: { type: 'string' } },
    },
  },
  description: 'A ChirpStack v4 integration event, JSON encoding (the same shapes as on MQTT)',
} as const;
const checkEvent = compile<unknown>('body', eventBody);

const secretStatus = {
  type: 'object',
  required: ['configured', 'created_at', 'previous_valid_until'],
  properties: {
    configured: { type: 'boolean' },
    created_at: { ...timestamp, type: ['string', 'null'] },
    previous_valid_until: { ...timestamp, type: ['string', 'null'], description: 'Until when the secret replaced last is still accepted' },
  },
} as const;

export function inboundWebhookRoutes(deps: InboundWebhookDeps): RouteDef[] {
  const { pool } = deps;
  const spool = new SpoolBatcher(pool, checkEvent);
  return [
    {
      method: 'post', path: '/api/webhooks/chirpstack', tag: 'webhooks', auth: false, status: 202,
      summary: `Receive a ChirpStack event over HTTP, signed with the tenant's webhook secret (${SIGNATURE_HEADER}: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">)`,
      // Validated in the handler, after the signature (see eventBody).
      body: { type: 'object', description: eventBody.description },
      query: inboundQuery,
      response: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['accepted'] } } },
      handler: async (ctx, { query }) => {
        const q = query as { event: SpoolEvent; tenant?: string };
        const slug = ctx.get(TENANT_HEADER) || q.tenant || '';
        // bodyparser keeps the text it parsed; decoded as UTF-8 and encoded again it is the
        // bytes sent for any valid UTF-8 body (JSON must be, RFC 8259 §8.1). Anything else fails the check.
        const raw: unknown = (ctx.request as { rawBody?: unknown }).rawBody;
        if (!SLUG.test(slug) || typeof raw !== 'string') throw new UnauthorizedError('Invalid webhook signature');
        const body = Buffer.from(raw, 'utf8');
        // Verified and spooled with whatever else arrives meanwhile (src/webhooks/spool-batcher.ts).
        const verdict = await spool.submit({
          slug, signature: ctx.get(SIGNATURE_HEADER) || undefined, body, parsed: ctx.request.body, event: q.event,
        });
        if (!verdict.ok) {
          if (verdict.reason === 'invalid') throw verdict.error;
          ctx.state.log?.info({ tenant: slug, reason: verdict.reason }, 'webhook refused');
          throw new UnauthorizedError('Invalid webhook signature');
        }
        return { status: 'accepted' };
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
