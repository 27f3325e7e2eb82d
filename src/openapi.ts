/**
 * Owns the OpenAPI 3.1 document: generated from the route definitions, so the schemas
 * that validate requests (ajv, JSON Schema) are the ones clients read. OpenAPI 3.1
 * schemas are JSON Schema 2020-12 (OAS 3.1 §4.8.24), so ajv's schemas go in unchanged.
 */
import type { Schema } from 'ajv';
import type { RouteDef } from '../api/routes/route.js';
import { errorBody } from './schemas/common.js';

/** Optional documentation a route may carry beside its RouteDef fields. */
export interface RouteDocs {
  /** Longer text under the summary. */
  description?: string;
  /** Responses other than the success one, e.g. /ready's 503 with the same body. */
  responses?: Record<number, { description: string; schema?: Schema; contentType?: string }>;
  /** Media type of the success response when it is not JSON (e.g. text/event-stream). */
  contentType?: string;
  /** A request body example, kept beside the route it documents (EXAMPLES below holds the older ones). */
  example?: unknown;
  /** Media types the body may also come in besides JSON, e.g. ChirpStack's protobuf (application/octet-stream). */
  bodyMedia?: Record<string, { schema: Schema }>;
  /**
   * The token may come as `?access_token=` (browsers' EventSource cannot set headers,
   * see api/middleware/auth.ts). Documented only where that is the point, so that clients
   * do not put tokens in URLs elsewhere.
   */
  queryToken?: boolean;
}

export type DocumentedRoute = RouteDef & RouteDocs;

export interface OpenApiOptions {
  version: string;
  title?: string;
  /** Server URLs; a relative '/' by default, so the document works behind any host. */
  servers?: string[];
}

export type OpenApiDocument = Record<string, unknown> & {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
};

interface Operation {
  operationId: string;
  summary: string;
  tags: string[];
  description?: string;
  parameters?: Parameter[];
  requestBody?: unknown;
  responses: Record<string, unknown>;
  security?: Record<string, string[]>[];
}

interface Parameter {
  name: string;
  in: 'path' | 'query';
  required: boolean;
  schema: unknown;
  description?: string;
}

export const OPENAPI_VERSION = '3.1.0';

/**
 * The OAuth2 password flow (RFC 6749 §4.3) posts a form, as the platform baygate replaces
 * accepted. The body parser accepts forms on every route, but only these are documented
 * that way; everywhere else JSON is the contract.
 */
const FORM_ROUTES = new Set(['post /api/auth/login']);

const TAG_DESCRIPTIONS: Record<string, string> = {
  auth: 'Register, log in, refresh and end sessions (JWT bearer tokens).',
  sites: "A tenant's parking locations.",
  spaces: 'Parking spaces and their live state (free, occupied, reserved, maintenance, unknown).',
  users: "Members of the caller's tenant and their roles.",
  devices: 'LoRaWAN sensors and displays, by DevEUI, and their assignment to spaces.',
  tenants: "Settings of the caller's tenant, such as the ChirpStack applications whose devices it syncs.",
  operations: 'Liveness, readiness and service information (no authentication).',
};

/** Request examples for the routes a newcomer tries first (cheap, and shown by both UIs). */
const EXAMPLES: Record<string, unknown> = {
  'post /api/auth/register': {
    email: 'ops@example.com',
    password: 'change-me-now',
    username: 'ops',
    tenant_name: 'Example City',
    tenant_slug: 'example-city',
  },
  'post /api/auth/login': { email: 'ops@example.com', password: 'change-me-now' },
  'post /api/auth/refresh': { refresh_token: '<refresh_token from login>' },
  'post /api/v6/sites': { name: 'Harbour car park', timezone: 'Europe/Amsterdam', location: { lat: 52.37, lon: 4.9 } },
  'post /api/v6/spaces': { code: 'A-001', name: 'Bay 1' },
  'post /api/v6/devices': { dev_eui: '70B3D5E75E000001', device_type: 'sensor', decoder: 'nwave-nps405' },
  'post /api/v6/users': { email: 'tech@example.com', password: 'change-me-too', username: 'tech', role: 'technician' },
  'post /api/v6/reservations': {
    space_id: '3fa85f64-5717-4562-b3fc-2c963f66afa6',
    start_time: '2026-06-01T08:00:00Z',
    end_time: '2026-06-01T10:00:00Z',
    user_email: 'driver@example.com',
  },
  'post /api/v6/gateways': { gateway_eui: '0016C001FF10A235', name: 'Harbour roof', location: { lat: 52.37, lon: 4.9 } },
  'post /api/v6/webhooks': { url: 'https://hooks.example.com/baygate', events: ['space_state', 'reservation'] },
};

const ERROR_RESPONSES: Record<number, { name: string; description: string }> = {
  400: { name: 'BadRequest', description: 'Malformed input; `details` name each offending field' },
  401: { name: 'Unauthorized', description: 'Missing, invalid or expired credentials' },
  403: { name: 'Forbidden', description: "The caller's role does not allow this" },
  404: { name: 'NotFound', description: 'No such resource in the caller\'s tenant' },
  409: { name: 'Conflict', description: 'Conflicts with an existing resource (e.g. a duplicate code)' },
  413: { name: 'PayloadTooLarge', description: 'The request body is over the limit (1 MB)' },
  415: { name: 'UnsupportedMediaType', description: "The request body's Content-Type is not one the route reads" },
  422: { name: 'Unprocessable', description: 'Well-formed, but refused on its meaning; `details` name the field' },
};

const UUID_PARAM = { type: 'string', format: 'uuid' };

/** JSON Schema objects are shared between routes and frozen `as const`; the document gets its own copies. */
function copy<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** koa-router `/api/v6/spaces/:id` → OpenAPI `/api/v6/spaces/{id}`. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function pathParams(path: string): string[] {
  return [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
}

function operationId(method: string, path: string): string {
  const words = path
    .split('/')
    .filter(Boolean)
    .map((seg) => (seg.startsWith(':') ? `by_${seg.slice(1)}` : seg))
    .join('_')
    .replace(/[^A-Za-z0-9_]+/g, '_');
  return `${method}_${words}`;
}

function queryParams(schema: Schema | undefined): Parameter[] {
  if (!schema || typeof schema !== 'object') return [];
  const s = schema as { properties?: Record<string, { description?: string }>; required?: string[] };
  const required = new Set(s.required ?? []);
  return Object.entries(s.properties ?? {}).map(([name, prop]) => {
    const p: Parameter = { name, in: 'query', required: required.has(name), schema: copy(prop) };
    if (prop.description) p.description = prop.description;
    return p;
  });
}

function roleNote(r: RouteDef): string | undefined {
  if (r.auth === false) return undefined;
  return r.auth === 'viewer' ? 'Any member of the tenant may call this.' : `Requires the role \`${r.auth}\` or above.`;
}

function errorRef(status: number): unknown {
  return { $ref: `#/components/responses/${ERROR_RESPONSES[status]!.name}` };
}

function operation(r: DocumentedRoute): Operation {
  const key = `${r.method} ${r.path}`;
  const params = pathParams(r.path);
  const parameters: Parameter[] = [
    ...params.map((name) => ({
      name,
      in: 'path' as const,
      required: true,
      // route.ts treats `id` and `*_id` as UUIDs (anything else answers 404).
      schema: name === 'id' || name.endsWith('_id') ? { ...UUID_PARAM } : { type: 'string' },
    })),
    ...queryParams(r.query),
  ];
  if (r.queryToken) {
    parameters.push({
      name: 'access_token',
      in: 'query',
      required: false,
      schema: { type: 'string' },
      description: 'The access token, for clients that cannot send an Authorization header (EventSource).',
    });
  }

  const op: Operation = {
    operationId: operationId(r.method, r.path),
    summary: r.summary,
    tags: [r.tag],
    responses: {},
  };
  const description = [r.description, roleNote(r)].filter(Boolean).join('\n\n');
  if (description) op.description = description;
  if (parameters.length) op.parameters = parameters;

  if (r.body) {
    const schema = copy(r.body);
    const example = r.example ?? EXAMPLES[key];
    const media = (s: unknown) => (example === undefined ? { schema: s } : { schema: s, example });
    const content: Record<string, unknown> = { 'application/json': media(schema) };
    if (FORM_ROUTES.has(key)) content['application/x-www-form-urlencoded'] = media(copy(schema));
    for (const [type, m] of Object.entries(r.bodyMedia ?? {})) content[type] = { schema: copy(m.schema) };
    // A body is required when its schema requires a field; otherwise it may be left out.
    const requiredFields = (r.body as { required?: unknown[] }).required;
    op.requestBody = { required: Array.isArray(requiredFields) && requiredFields.length > 0, content };
  }

  const status = String(r.status ?? 200);
  const successMedia = r.contentType ?? 'application/json';
  op.responses[status] = r.response
    ? { description: r.summary, content: { [successMedia]: { schema: copy(r.response) } } }
    : { description: r.summary };
  for (const [code, extra] of Object.entries(r.responses ?? {})) {
    // A client error keeps the one error body: a reference, with the route's own words
    // (OAS 3.1 §4.8.23: a Reference Object's `description` overrides the referenced one's).
    if (ERROR_RESPONSES[Number(code)]) op.responses[code] = { ...(errorRef(Number(code)) as object), description: extra.description };
    else op.responses[code] = extra.schema
      ? { description: extra.description, content: { [extra.contentType ?? 'application/json']: { schema: copy(extra.schema) } } }
      : { description: extra.description };
  }

  // The errors each route can answer with (api/middleware/errors.ts maps them; one body shape).
  const errors = new Set<number>();
  if (r.body || r.query) errors.add(400);
  // The ChirpStack webhook is public but needs the tenant's secret: a bad credential is a 401.
  if (r.auth !== false || key === 'post /api/auth/login' || key === 'post /api/auth/refresh' || key === 'post /api/webhooks/chirpstack') errors.add(401);
  if (r.auth !== false && r.auth !== 'viewer') errors.add(403);
  if (params.length) errors.add(404);
  // Unique constraints (SQLSTATE 23505) surface as 409 on any write that inserts or renames.
  // A raw route (the ChirpStack webhook) only spools: it never conflicts.
  if (r.body && r.method !== 'delete' && r.tag !== 'auth' && !r.raw) errors.add(409);
  if (key === 'post /api/auth/register') errors.add(409);
  for (const code of [...errors].sort()) op.responses[String(code)] ??= errorRef(code);

  if (r.auth !== false) op.security = r.queryToken ? [{ bearer: [] }, { accessTokenQuery: [] }] : [{ bearer: [] }];
  return op;
}

/** Builds the OpenAPI 3.1 document for the given routes (see api/app.ts allRoutes). */
export function buildOpenApi(routes: readonly DocumentedRoute[], opts: OpenApiOptions): OpenApiDocument {
  const paths: Record<string, Record<string, Operation>> = {};
  const tags: string[] = [];
  for (const r of routes) {
    const p = openApiPath(r.path);
    paths[p] ??= {};
    paths[p][r.method] = operation(r);
    if (!tags.includes(r.tag)) tags.push(r.tag);
  }
  const responses = Object.fromEntries(
    Object.values(ERROR_RESPONSES).map(({ name, description }) => [
      name,
      { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
    ]),
  );
  return {
    openapi: OPENAPI_VERSION,
    info: {
      title: opts.title ?? 'baygate API',
      version: opts.version,
      description:
        'Multi-tenant REST API for smart parking: sites, spaces and their live state, devices fed by ' +
        'ChirpStack v4 over MQTT. Errors are `{"error": {"code", "message", "details"}}`. Obtain a token with ' +
        '`POST /api/auth/login` and send it as `Authorization: Bearer <access_token>`.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: (opts.servers ?? ['/']).map((url) => ({ url })),
    tags: tags.map((name) => (TAG_DESCRIPTIONS[name] ? { name, description: TAG_DESCRIPTIONS[name] } : { name })),
    paths,
    components: {
      schemas: { Error: copy(errorBody) },
      responses,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Access token from /api/auth/login (HS256).' },
        accessTokenQuery: {
          type: 'apiKey',
          in: 'query',
          name: 'access_token',
          description: 'The same access token as a query parameter, for event streams only.',
        },
      },
    },
  };
}
