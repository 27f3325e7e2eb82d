/**
 * API documentation for people and tools: the OpenAPI document at /openapi.json, Swagger
 * UI at /docs and ReDoc at /redoc. Both UIs are served from their npm packages
 * (swagger-ui-dist, redoc), never a CDN, so the docs work on a machine without internet.
 * These are not data routes (no auth, no schemas): they describe the data routes.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { send } from '@koa/send';
import { buildOpenApi, type OpenApiDocument } from '../../src/openapi.js';
import { VERSION } from '../../src/version.js';
import type { RouteDef } from './route.js';

const require = createRequire(import.meta.url);
const SWAGGER_UI_DIR = dirname(require.resolve('swagger-ui-dist/package.json'));
const REDOC_DIR = join(dirname(require.resolve('redoc/package.json')), 'bundles');

/**
 * The files each UI needs, and nothing else: swagger-ui-dist also ships an index.html and
 * an initializer that point at the Petstore example, which must not be served as ours.
 */
const SWAGGER_UI_FILES = new Set(['swagger-ui.css', 'swagger-ui-bundle.js', 'swagger-ui-standalone-preset.js', 'favicon-32x32.png', 'favicon-16x16.png']);
const REDOC_FILES = new Set(['redoc.standalone.js']);

/** The assets are versioned by the package; a day of browser caching is safe and cheap. */
const ASSET_MAX_AGE_MS = 24 * 60 * 60 * 1000;

const SWAGGER_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>baygate API — Swagger UI</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;

// A separate file rather than an inline <script>, so a Content-Security-Policy of
// script-src 'self' (should a proxy add one) still lets the page run.
const SWAGGER_INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  persistAuthorization: false,
});
`;

const REDOC_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>baygate API — ReDoc</title>
  <style>body { margin: 0; padding: 0; }</style>
</head>
<body>
  <redoc spec-url="/openapi.json"></redoc>
  <script src="/redoc/redoc.standalone.js"></script>
</body>
</html>
`;

function page(type: string, body: string) {
  return async (ctx: Context) => {
    ctx.type = type;
    ctx.body = body;
  };
}

function assets(root: string, files: Set<string>) {
  return async (ctx: Context) => {
    const file = (ctx.params as Record<string, string>).file ?? '';
    // Only listed names: no paths, so nothing outside the package can be asked for.
    if (!files.has(file)) return;
    await send(ctx, file, { root, maxAge: ASSET_MAX_AGE_MS });
  };
}

export function mountDocs(router: Router, deps: { document: OpenApiDocument }): void {
  const json = JSON.stringify(deps.document);
  router.get('/openapi.json', async (ctx) => {
    ctx.type = 'application/json';
    ctx.set('Access-Control-Allow-Origin', '*'); // a public description; lets hosted tools fetch it
    ctx.body = json;
  });
  router.get('/docs', page('text/html; charset=utf-8', SWAGGER_HTML));
  router.get('/docs/init.js', page('application/javascript; charset=utf-8', SWAGGER_INIT));
  router.get('/docs/:file', assets(SWAGGER_UI_DIR, SWAGGER_UI_FILES));
  router.get('/redoc', page('text/html; charset=utf-8', REDOC_HTML));
  router.get('/redoc/:file', assets(REDOC_DIR, REDOC_FILES));
}

/** The OpenAPI document of the given routes (api/app.ts allRoutes), as served and exported. */
export function apiDocument(routes: readonly RouteDef[]): OpenApiDocument {
  return buildOpenApi(routes, { version: VERSION });
}
