// The OpenAPI document is generated from the routes: every route must carry what the
// document needs (summary, tag, body and response schemas), and the result must be a
// valid OpenAPI 3.1 document. Also: /openapi.json, Swagger UI and ReDoc are served
// from the npm packages, without auth.
import t from 'tap';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import type Koa from 'koa';
import type Router from '@koa/router';
import { allRoutes, buildApp } from '../../api/app.js';
import { apiDocument } from '../../api/routes/docs.js';
import { openApiPath, type DocumentedRoute, type OpenApiDocument } from '../../src/openapi.js';
import { createLogger } from '../../src/log.js';
import { testApi, testConfig } from '../helpers/api.js';
import type { Pool } from '../../src/db/pool.js';

const BODY_METHODS = new Set(['post', 'put', 'patch']);
const RESPONSE_METHODS = new Set(['get', 'post', 'put', 'patch']);

// Building the route list touches no database: a pool that is never used is enough.
const routes = allRoutes({ config: testConfig(), pool: {} as Pool, log: createLogger('silent') });

t.test('every route documents itself', async (t) => {
  t.ok(routes.length > 10, `${routes.length} routes`);
  for (const r of routes) {
    const name = `${r.method.toUpperCase()} ${r.path}`;
    t.ok(r.summary?.trim(), `${name} has a summary`);
    t.ok(r.tag?.trim(), `${name} has a tag`);
    if (BODY_METHODS.has(r.method)) t.ok(r.body, `${name} has a body schema`);
    if (RESPONSE_METHODS.has(r.method)) t.ok(r.response, `${name} has a response schema`);
  }
});

t.test('the generated document is valid OpenAPI 3.1 and covers every route', async (t) => {
  const doc = apiDocument(routes);
  const validator = new Validator();
  const result = await validator.validate(doc as Record<string, unknown>);
  t.equal(validator.version, '3.1', 'validated as 3.1');
  t.ok(result.valid, `valid: ${JSON.stringify(result.errors, null, 2)}`);

  for (const r of routes) {
    const op = doc.paths[openApiPath(r.path)]?.[r.method] as any;
    t.ok(op, `${r.method} ${r.path} is in the document`);
    if (!op) continue;
    t.ok(op.responses[String(r.status ?? 200)], `${r.method} ${r.path} documents its success status`);
    if (r.auth !== false) {
      t.same(op.security?.[0], { bearer: [] }, `${r.method} ${r.path} needs a bearer token`);
      t.ok(op.responses['401'], 'and documents 401');
    } else {
      t.notOk(op.security, `${r.method} ${r.path} is public`);
    }
    for (const [code, res] of Object.entries(op.responses as Record<string, any>)) {
      if (Number(code) >= 400 && Number(code) < 500) t.ok(res.$ref, `${r.method} ${r.path} ${code} uses the shared error body`);
    }
  }
  const ids = Object.values(doc.paths).flatMap((p) => Object.values(p).map((o) => o.operationId));
  t.equal(new Set(ids).size, ids.length, 'operationIds are unique');
});

t.test('path parameters, query parameters and request bodies', async (t) => {
  const doc = apiDocument(routes) as OpenApiDocument & { components: any };
  const getSpace = doc.paths['/api/v6/spaces/{id}']!.get as any;
  t.match(getSpace.parameters, [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }]);
  t.ok(getSpace.responses['404'], 'an id route documents 404');

  const list = doc.paths['/api/v6/spaces']!.get as any;
  const names = list.parameters.map((p: any) => p.name);
  const listRoute = routes.find((r) => r.method === 'get' && r.path === '/api/v6/spaces')!;
  t.same(names.sort(), Object.keys((listRoute.query as { properties: object }).properties).sort(), 'every query schema property is a parameter');
  for (const n of ['current_state', 'enabled', 'page', 'page_size', 'site_id']) t.ok(names.includes(n), `including ${n}`);
  t.match(list.parameters.find((p: any) => p.name === 'page_size'), { in: 'query', required: false, schema: { maximum: 500 } });

  const login = doc.paths['/api/auth/login']!.post as any;
  t.ok(login.requestBody.content['application/json'], 'login takes JSON');
  t.ok(login.requestBody.content['application/x-www-form-urlencoded'], 'and the OAuth2 password form');
  t.ok(login.requestBody.content['application/json'].example, 'with an example');
  t.notOk(doc.paths['/api/v6/spaces']!.post!.requestBody && (doc.paths['/api/v6/spaces']!.post!.requestBody as any).content['application/x-www-form-urlencoded'], 'other routes are JSON only');

  t.match(doc.components.securitySchemes, {
    bearer: { type: 'http', scheme: 'bearer' },
    accessTokenQuery: { type: 'apiKey', in: 'query', name: 'access_token' },
  });
  t.match(doc.components.schemas.Error, { required: ['error'] });
  const ready = doc.paths['/ready']!.get as any;
  t.ok(ready.responses['503'], '/ready documents its 503');
  t.ok((doc.tags as unknown[]).length >= 5, 'tags are listed');
});

t.test('served: /openapi.json, /docs and /redoc with their assets, without auth', async (t) => {
  const api = await testApi(t);
  const spec = await api.request('GET', '/openapi.json');
  t.equal(spec.status, 200);
  t.equal(spec.body.openapi, '3.1.0');
  t.ok(spec.body.paths['/api/v6/spaces/{id}'], 'the served document is the generated one');

  const docs = await fetch(`${api.url}/docs`);
  t.equal(docs.status, 200);
  t.match(docs.headers.get('content-type'), /text\/html/);
  const html = await docs.text();
  t.match(html, '/docs/swagger-ui-bundle.js');
  t.notMatch(html, /https?:\/\//, 'no CDN: every asset is local');
  for (const [path, type] of [
    ['/docs/swagger-ui-bundle.js', /javascript/],
    ['/docs/swagger-ui.css', /css/],
    ['/docs/init.js', /javascript/],
    ['/redoc/redoc.standalone.js', /javascript/],
  ] as const) {
    const r = await fetch(api.url + path);
    t.equal(r.status, 200, path);
    t.match(r.headers.get('content-type'), type, `${path} content type`);
    t.ok((await r.arrayBuffer()).byteLength > 100, `${path} has content`);
  }
  t.match(await (await fetch(`${api.url}/docs/init.js`)).text(), "url: '/openapi.json'", 'Swagger UI loads our document');

  const redoc = await fetch(`${api.url}/redoc`);
  t.equal(redoc.status, 200);
  const redocHtml = await redoc.text();
  t.match(redocHtml, 'spec-url="/openapi.json"');
  t.notMatch(redocHtml, /https?:\/\//, 'no CDN');

  // Only the listed files of the packages are served.
  t.equal((await fetch(`${api.url}/docs/index.html`)).status, 404, "swagger-ui-dist's own index (Petstore) is not served");
  t.equal((await fetch(`${api.url}/docs/package.json`)).status, 404);
  t.equal((await fetch(`${api.url}/docs/..%2Fpackage.json`)).status, 404, 'no path traversal');
});

/**
 * Routes the app mounts outside allRoutes on purpose: they describe or serve the API
 * rather than being part of it (api/app.ts). Anything else on the router must be in the
 * document.
 */
const NOT_DOCUMENTED = new Set(['GET /metrics', 'GET /openapi.json', 'GET /docs', 'GET /docs/init.js', 'GET /docs/:file', 'GET /redoc', 'GET /redoc/:file', 'GET /', 'GET /console/:file']);

/** Every method and path the app's router answers that neither the document nor NOT_DOCUMENTED lists. */
function undocumented(app: Koa, doc: OpenApiDocument): string[] {
  const router = app.middleware.map((m) => (m as { router?: Router }).router).find(Boolean);
  if (!router) throw new Error('no router in the app');
  const missing: string[] = [];
  for (const layer of router.stack) {
    for (const method of layer.methods.filter((m) => m !== 'HEAD')) {
      const key = `${method} ${String(layer.path)}`;
      if (NOT_DOCUMENTED.has(key)) continue;
      if (!doc.paths[openApiPath(String(layer.path))]?.[method.toLowerCase()]) missing.push(key);
    }
  }
  return missing;
}

t.test('every route the app mounts is in the document', async (t) => {
  const deps = { config: testConfig(), pool: {} as Pool, log: createLogger('silent') };
  const app = buildApp(deps);
  const doc = apiDocument(allRoutes(deps));
  t.same(undocumented(app, doc), [], 'nothing is mounted beside the documented routes');

  // The check itself: a route mounted on the router directly, bypassing allRoutes, is caught.
  const router = app.middleware.map((m) => (m as { router?: Router }).router).find(Boolean)!;
  router.post('/api/v6/sneaky/:id', async (ctx) => {
    ctx.body = {};
  });
  t.same(undocumented(app, doc), ['POST /api/v6/sneaky/:id'], 'an undocumented route fails the test');
});

// The response schemas in the document are the contract clients generate code from: an
// answer must match the schema its route declares. Every GET that needs no id, and every
// GET by the id of a site, space, device or gateway, with rows present to answer with.
t.test('answers match the response schemas the document declares', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('schemas');
  const site = (await api.request('GET', '/api/v6/sites', { token })).body.items[0];
  const space = (await api.request('POST', '/api/v6/spaces', { token, json: { code: 'R-1', site_id: site.id } })).body;
  const device = (await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: '70B3D5E75E00C001', device_type: 'sensor', decoder: 'nwave-nps405' } })).body;
  t.equal((await api.request('POST', `/api/v6/devices/${device.id}/assign`, { token, json: { space_id: space.id } })).status, 200);
  const ids: Record<string, string> = { sites: site.id, spaces: space.id, devices: device.id };

  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats.default(ajv);
  ajv.addFormat('timezone', { type: 'string', validate: () => true });
  let checked = 0;
  for (const r of routes as DocumentedRoute[]) {
    if (r.method !== 'get' || !r.response || (r.contentType && r.contentType !== 'application/json')) continue;
    const params = [...r.path.matchAll(/:(\w+)/g)].map((m) => m[1]);
    let path = r.path;
    if (params.length === 1 && params[0] === 'id') {
      const id = ids[r.path.split('/').at(-2)!] ?? ids[r.path.split('/')[3]!];
      if (!id) continue;
      path = r.path.replace(':id', id);
    } else if (params.length) continue;
    const res = await api.request('GET', path, { token });
    if (res.status !== 200) {
      t.comment(`skipped ${path}: ${res.status}`);
      continue;
    }
    const validate = ajv.compile(r.response as object);
    t.ok(validate(res.body), `GET ${r.path} answers as documented: ${ajv.errorsText(validate.errors)}`);
    checked++;
  }
  t.ok(checked >= 15, `${checked} answers checked`);
});

t.test('request examples are valid bodies for their routes', async (t) => {
  const doc = apiDocument(routes);
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats.default(ajv);
  ajv.addFormat('timezone', { type: 'string', validate: (tz: string) => Intl.supportedValuesOf('timeZone').includes(tz) || tz === 'UTC' });
  const examples = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).flatMap(([method, op]) => {
      const media = (op.requestBody as { content?: Record<string, { schema: object; example?: unknown }> } | undefined)?.content?.['application/json'];
      return media?.example === undefined ? [] : [{ name: `${method} ${path}`, schema: media.schema, example: media.example }];
    }),
  );
  t.ok(examples.length >= 10, `${examples.length} examples`);
  for (const e of examples) {
    const validate = ajv.compile(e.schema);
    t.ok(validate(e.example), `${e.name}: ${ajv.errorsText(validate.errors)}`);
  }
});
