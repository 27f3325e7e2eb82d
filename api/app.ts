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
import { requestId } from './middleware/request-id.js';
import { authenticate } from './middleware/auth.js';
import { mount, type RouteDef } from './routes/route.js';
import { healthRoutes } from './routes/health.js';
import { authRoutes } from './routes/auth.js';
import { siteRoutes } from './routes/sites.js';
import { spaceRoutes } from './routes/spaces.js';
import { userRoutes } from './routes/users.js';
import { deviceRoutes } from './routes/devices.js';

export interface AppDeps {
  config: Config;
  /** Runtime pool (role baygate_app). */
  pool: Pool;
  log: Logger;
}

/** Request bodies above this are refused with 413 before they are parsed. */
export const BODY_LIMIT = '1mb';

/** Every route of the API, as data (see routes/route.ts). */
export function allRoutes(deps: AppDeps): RouteDef[] {
  const { config, pool } = deps;
  return [
    ...healthRoutes(),
    ...authRoutes({ pool, tokens: config, bcryptRounds: config.bcryptRounds }),
    ...siteRoutes({ pool }),
    ...spaceRoutes({ pool }),
    ...userRoutes({ pool, bcryptRounds: config.bcryptRounds }),
    ...deviceRoutes({ pool }),
  ];
}

export function buildApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: true });
  // Koa logs every error itself unless told otherwise; errors are logged by our middleware.
  app.silent = true;
  const router = new Router();
  mount(router, allRoutes(deps), authenticate({ pool: deps.pool, jwtSecret: deps.config.jwtSecret }));

  app.use(requestId(deps.log));
  app.use(errorMiddleware());
  app.use(async (ctx, next) => {
    // The replaced platform answered with and without a trailing slash.
    if (ctx.path.length > 1 && ctx.path.endsWith('/')) ctx.path = ctx.path.replace(/\/+$/, '');
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
