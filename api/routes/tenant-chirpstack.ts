/**
 * The tenant's ChirpStack applications: which application ids' devices the sync_chirpstack
 * job (ingest/jobs/sync-chirpstack.ts) brings in for it, and whose unregistered DevEUIs it
 * sees at GET /api/v6/devices/unclaimed. Admins only: the mapping decides what a tenant sees.
 *
 * A mapping is a claim on another system's objects, so it needs proof (issue 17 §3): an
 * application whose devices another tenant registered and bound is refused (409); and when
 * baygate talks to ChirpStack's API (CHIRPSTACK_API_URL), the tenant proves each application
 * is its own with its own ChirpStack API key, which ChirpStack must accept for every
 * application (ApplicationService.Get) before anything is stored. The key is then what the
 * sync job lists the tenant's devices with; it is stored sealed and never answered back.
 */
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { ApplicationClaimedElsewhereError, AppError, ServiceUnavailableError, UnprocessableError } from '../../src/errors.js';
import type { SecretBox } from '../../src/secret-box.js';
import { errorBody } from '../../src/schemas/common.js';
import { ChirpstackUnavailableError, createChirpstackApi, type ApplicationAccess } from '../../src/chirpstack-api.js';
import { getApplications, replaceApplications } from '../../src/storage/chirpstack.js';
import { applicationsBoundElsewhere } from '../../src/storage/claims.js';
import { deleteApiKey, getApiKey, hasApiKey, putApiKey } from '../../src/storage/chirpstack-keys.js';
import type { DocumentedRoute } from '../../src/openapi.js';

/** More applications than one ChirpStack deployment gives one customer; bounds the request. */
const MAX_APPLICATIONS = 100;
/** ChirpStack API keys are JWTs of a few hundred characters; this bounds what is sealed and stored. */
const MAX_API_KEY_LENGTH = 2_048;
/** ApplicationService.Get calls in flight at once while a mapping is checked. */
const CHECK_CONCURRENCY = 10;

const applicationIds = {
  type: 'array',
  items: { type: 'string', format: 'uuid', description: 'A ChirpStack v4 application id' },
  maxItems: MAX_APPLICATIONS,
  uniqueItems: true,
} as const;

const mappingBody = {
  type: 'object',
  required: ['application_ids'],
  properties: {
    application_ids: applicationIds,
    api_key: {
      type: 'string', minLength: 1, maxLength: MAX_API_KEY_LENGTH, writeOnly: true,
      description:
        "The tenant's own ChirpStack API key (ChirpStack's UI: the tenant's API keys). Required when baygate uses " +
        "ChirpStack's API (CHIRPSTACK_API_URL) and no key is stored yet; checked against every application, then " +
        'used by the sync job for this tenant. Never returned.',
    },
  },
  additionalProperties: false,
} as const;

const mappingResponse = {
  type: 'object',
  required: ['application_ids', 'api_key_set'],
  properties: {
    application_ids: applicationIds,
    api_key_set: { type: 'boolean', description: "Whether the tenant's own ChirpStack API key is stored (the key itself is never returned)" },
  },
  additionalProperties: false,
} as const;

/** The key, or the stored one, was not accepted by ChirpStack for an application. */
class ApiKeyRefusedError extends AppError {
  constructor(stored: boolean) {
    const message = stored
      ? "ChirpStack does not accept the stored API key for every application in the list: send the tenant's api_key"
      : 'ChirpStack does not accept api_key for every application in the list: use a key of the tenant that owns them';
    super(422, 'chirpstack_api_key_refused', message, [{ field: 'body.api_key', message }]);
  }
}

export interface TenantChirpstackDeps {
  pool: Pool;
  /** CHIRPSTACK_API_URL: when set, a mapping needs the tenant's own key, checked there. */
  chirpstackApiUrl: string | undefined;
  /** Seals the tenant keys (src/storage/chirpstack-keys.ts chirpstackKeyBox). */
  keyBox: SecretBox;
}

/** Asks ChirpStack about every application under `key`; what is not `ok` comes back with its index. */
async function checkApplications(url: string, key: string, ids: string[]): Promise<{ index: number; access: ApplicationAccess }[]> {
  const api = createChirpstackApi(url, key);
  try {
    const results: { index: number; access: ApplicationAccess }[] = [];
    for (let i = 0; i < ids.length; i += CHECK_CONCURRENCY) {
      const answers = await Promise.all(ids.slice(i, i + CHECK_CONCURRENCY).map((id) => api.checkApplication(id)));
      answers.forEach((access, j) => results.push({ index: i + j, access }));
    }
    return results.filter((r) => r.access !== 'ok');
  } catch (err) {
    if (err instanceof ChirpstackUnavailableError) throw new ServiceUnavailableError("ChirpStack's API did not answer; the mapping was not changed");
    throw err;
  } finally {
    api.close();
  }
}

export function tenantChirpstackRoutes(deps: TenantChirpstackDeps): DocumentedRoute[] {
  const url = deps.chirpstackApiUrl;
  return [
    {
      method: 'get', path: '/api/v6/tenants/current/chirpstack', summary: "The ChirpStack applications mapped to the caller's tenant",
      tag: 'tenants', auth: 'admin', response: mappingResponse,
      handler: async (_ctx, { principal }) =>
        withTx(deps.pool, { tenantId: principal.tenantId }, async (c) => ({
          application_ids: await getApplications(c),
          api_key_set: await hasApiKey(c),
        })),
    },
    {
      method: 'put', path: '/api/v6/tenants/current/chirpstack',
      summary: "Replace the ChirpStack applications mapped to the caller's tenant",
      description:
        'An application mapped to another tenant, or whose devices another tenant registered, is refused with 409 ' +
        "(`conflict`, `application_claimed_elsewhere`). When baygate uses ChirpStack's API (`CHIRPSTACK_API_URL`), " +
        "every application is first checked with ChirpStack's `ApplicationService.Get` under the tenant's own API key " +
        '(`api_key`, or the one stored before): without one, 422 `chirpstack_api_key_required`; refused by ChirpStack, ' +
        '422 `chirpstack_api_key_refused` or `chirpstack_application_not_found`; ChirpStack unreachable, 503. Nothing ' +
        'is stored unless every check passes. An empty list unmaps everything and forgets the stored key.',
      tag: 'tenants', auth: 'admin', body: mappingBody, response: mappingResponse,
      example: { application_ids: ['17c82e96-be03-4f38-aef3-f83d48582d97'], api_key: '<API key made in ChirpStack: Tenant, API keys>' },
      responses: {
        422: { description: 'The API key is missing, or ChirpStack refused it or an application (`details` name the field)' },
        503: { description: "ChirpStack's API did not answer; nothing was changed", schema: errorBody },
      },
      handler: async (_ctx, { body, principal }) => {
        const b = body as { application_ids: string[]; api_key?: string };
        // ChirpStack prints UUIDs in lowercase; uuid columns compare them in any case anyway.
        const ids = [...new Set(b.application_ids.map((id) => id.toLowerCase()))];
        const scope = { tenantId: principal.tenantId, userId: principal.userId };
        if (b.api_key !== undefined && (!url || ids.length === 0)) {
          // A key is kept only once ChirpStack accepted it for the tenant's applications.
          const message = url
            ? 'api_key is checked against the applications: give at least one'
            : "api_key cannot be checked: this baygate does not use ChirpStack's API (CHIRPSTACK_API_URL is not set)";
          throw new UnprocessableError(message, [{ field: 'body.api_key', message }]);
        }

        let verifiedKey: string | null = null;
        if (url && ids.length > 0) {
          const key = b.api_key ?? (await withTx(deps.pool, scope, (c) => getApiKey(c, deps.keyBox, principal.tenantId)));
          if (key === null) {
            const message = "api_key is required: the tenant's own ChirpStack API key proves the applications are its own";
            throw new AppError(422, 'chirpstack_api_key_required', message, [{ field: 'body.api_key', message }]);
          }
          // Outside any transaction: ChirpStack may take seconds, and no row is held meanwhile.
          const failed = await checkApplications(url, key, ids);
          if (failed.some((f) => f.access === 'refused')) throw new ApiKeyRefusedError(b.api_key === undefined);
          if (failed.length > 0) {
            const details = failed.map((f) => ({
              field: `body.application_ids.${f.index}`,
              message: `ChirpStack has no application ${ids[f.index]} that this key can read`,
            }));
            throw new AppError(422, 'chirpstack_application_not_found', details[0]!.message, details);
          }
          verifiedKey = key;
        }

        return withTx(deps.pool, scope, async (c) => {
          const current = new Set(await getApplications(c));
          // Only applications new to the tenant: one it already holds stays editable whatever
          // devices were registered before this rule existed.
          const added = ids.filter((id) => !current.has(id));
          if (added.length > 0 && (await applicationsBoundElsewhere(c, added))) throw new ApplicationClaimedElsewhereError();
          const mapped = await replaceApplications(c, principal.tenantId, ids);
          if (ids.length === 0) await deleteApiKey(c, principal.tenantId);
          else if (verifiedKey !== null && b.api_key !== undefined) await putApiKey(c, deps.keyBox, principal.tenantId, verifiedKey);
          return { application_ids: mapped, api_key_set: await hasApiKey(c) };
        });
      },
    },
  ];
}
