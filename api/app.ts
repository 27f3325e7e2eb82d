/**
 * Builds the Koa application from its dependencies, without listening, so tests and
 * the production entry point run the same app.
 */
import Koa from 'koa';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Pool } from '../src/db/pool.js';
import type { Logger } from '../src/log.js';
import type { Config } from '../src/config.js';
import { errorMiddleware } from './middleware/errors.js';
import { trailingSlash } from './middleware/trailing-slash.js';
import { securityHeaders } from './middleware/security-headers.js';
import { requestId } from './middleware/request-id.js';
import { authenticate } from './middleware/auth.js';
import { mount, type RouteDef } from './routes/route.js';
import { healthRoutes } from './routes/health.js';
import { authRoutes } from './routes/auth.js';
import { siteRoutes } from './routes/sites.js';
import { spaceRoutes } from './routes/spaces.js';
import { userRoutes } from './routes/users.js';
import { deviceRoutes } from './routes/devices.js';
import { deviceBindingRoutes } from './routes/device-binding.js';
import { deviceDownlinkRoutes } from './routes/device-downlinks.js';
import { displayPolicyRoutes } from './routes/display-policy.js';
import { unclaimedDeviceRoutes } from './routes/unclaimed-devices.js';
import { tenantChirpstackRoutes } from './routes/tenant-chirpstack.js';
import { chirpstackKeyBox } from '../src/storage/chirpstack-keys.js';
import { gatewayRoutes } from './routes/gateways.js';
import { eventRoutes } from './routes/events.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { analyticsRoutes } from './routes/analytics.js';
import { deadLetterRoutes } from './routes/dead-letters.js';
import type { LiveHub } from './live/hub.js';
import { reservationRoutes } from './routes/reservations.js';
import { readyRoutes } from './routes/ready.js';
import { INBOUND_WEBHOOK_PATH, inboundWebhookRoutes } from './routes/webhooks-inbound.js';
import { webhookSubscriptionRoutes } from './routes/webhook-subscriptions.js';
import { apiDocument, mountDocs } from './routes/docs.js';
import { mountConsole } from './routes/console.js';
import { httpMetrics, metricsEndpoint } from './middleware/metrics.js';
import { createMetrics, type Metrics } from '../src/metrics.js';
import { readinessChecks, type Check } from '../src/readiness.js';

export interface AppDeps {
  config: Config;
  /** Runtime pool (role baygate_app). */
  pool: Pool;
  log: Logger;
  /** Prometheus metrics (src/metrics.ts); a fresh registry when left out. */
  metrics?: Metrics;
  /** The live-event hub (api/live/); without it the stream routes answer 503. */
  live?: LiveHub;
  /** Readiness checks beyond the database's, e.g. ingest's MQTT session when npm start runs both in one process. */
  readyChecks?: Record<string, Check>;
}

/** Request bodies above this are refused with 413 before they are parsed. */
export const BODY_LIMIT = '1mb';

/** Every route of the API, as data (see routes/route.ts). */
export function allRoutes(deps: AppDeps): RouteDef[] {
  const { config, pool } = deps;
  return [
    ...healthRoutes(),
    ...readyRoutes({ ready: readinessChecks({ pool, extra: deps.readyChecks }) }),
    ...authRoutes({
      pool,
      tokens: config,
      bcryptRounds: config.bcryptRounds,
      loginLimits: { maxFailures: config.loginMaxFailures, windowSeconds: config.loginWindowSeconds },
    }),
    ...siteRoutes({ pool }),
    ...spaceRoutes({ pool }),
    ...userRoutes({ pool, bcryptRounds: config.bcryptRounds }),
    // Before the device routes: koa-router runs the first route that matches, and /devices/:id would take "unclaimed".
    ...unclaimedDeviceRoutes({ pool }),
    ...deviceRoutes({ pool }),
    ...deviceDownlinkRoutes({ pool }),
    ...deviceBindingRoutes({ pool }),
    ...displayPolicyRoutes({ pool }),
    ...tenantChirpstackRoutes({ pool, chirpstackApiUrl: config.chirpstackApiUrl, keyBox: chirpstackKeyBox(config.jwtSecret) }),
    ...gatewayRoutes({ pool, gatewayOfflineMinutes: config.gatewayOfflineMinutes }),
    ...eventRoutes({ live: deps.live }),
    ...dashboardRoutes({ pool, settings: config, live: deps.live }),
    ...analyticsRoutes({ pool }),
    ...deadLetterRoutes({ pool }),
    ...reservationRoutes({ pool, reservationMaxHours: config.reservationMaxHours, reservationPastSkewSeconds: config.reservationPastSkewSeconds }),
    ...inboundWebhookRoutes({ pool, metrics: deps.metrics }),
    ...webhookSubscriptionRoutes({ pool, allowPrivate: config.webhookAllowPrivate, timeoutMs: config.webhookTimeoutMs }),
  ];
}

export function buildApp(deps: AppDeps): Koa {
  // Koa reads X-Forwarded-For only when proxy is set, and then its last maxIpsCount entries,
  // ctx.ip being the first of those: N hops from the right (koa lib/request.js `ips`). Any
  // client can write the header, so by default (0) nobody is trusted (issue 19 §1).
  const hops = deps.config.trustProxyHops;
  const app = new Koa({ proxy: hops > 0, maxIpsCount: hops });
  // Koa logs every error itself unless told otherwise; errors are logged by our middleware.
  app.silent = true;
  const router = new Router();
  const metrics = deps.metrics ?? createMetrics();
  metrics.trackPool('api', deps.pool);
  // The routes record into this app's registry (the inbound webhook counts its events).
  const routes = allRoutes({ ...deps, metrics });
  mount(router, routes, authenticate({ pool: deps.pool, jwtSecret: deps.config.jwtSecret }));
  // Operational routes outside the data routes: no auth, not in the OpenAPI document.
  router.get('/metrics', metricsEndpoint(metrics));
  mountDocs(router, { document: apiDocument(routes) });
  mountConsole(router);

  app.use(httpMetrics(metrics));
  app.use(requestId(deps.log));
  app.use(securityHeaders({ hstsMaxAgeSeconds: deps.config.hstsMaxAgeSeconds }));
  app.use(errorMiddleware());
  app.use(trailingSlash());
  app.use(async (ctx, next) => {
    // ChirpStack's HTTP integration posts JSON or protobuf, authenticated before it is
    // judged: that route reads its raw body itself (api/routes/webhooks-inbound.ts readBody).
    if (ctx.path === INBOUND_WEBHOOK_PATH) ctx.disableBodyParser = true;
    await next();
  });
  app.use(
    bodyParser({
      enableTypes: ['json', 'form'],
      jsonLimit: BODY_LIMIT,
      formLimit: BODY_LIMIT,
      encoding: 'utf-8',
    }),
  );
  app.use(router.routes());
  app.use(router.allowedMethods({ throw: false }));
  return app;
}
