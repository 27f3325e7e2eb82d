/**
 * Owns the shape of a route: method, path, the role it needs, its request schemas and a
 * handler. Routes are data, so the same list mounts the router, feeds the OpenAPI
 * document and drives the role and tenant-isolation sweeps in the tests.
 */
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { Schema } from 'ajv';
import { compile } from '../../src/schemas/validator.js';
import { ForbiddenError, NotFoundError } from '../../src/errors.js';
import { roleAtLeast, type Role } from '../../src/auth/roles.js';
import type { Principal } from '../../src/storage/users.js';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface Input<B, Q> {
  body: B;
  query: Q;
  params: Record<string, string>;
  principal: Principal;
}

export interface RouteDef<B = any, Q = any> {
  method: Method;
  /** koa-router path, e.g. /api/v6/spaces/:id */
  path: string;
  summary: string;
  tag: string;
  /** false: public. Otherwise the least role that may call it. */
  auth: false | Role;
  body?: Schema;
  query?: Schema;
  /** Success status (default 200). */
  status?: number;
  /** Success response schema, for the OpenAPI document. */
  response?: Schema;
  /**
   * The handler reads and checks the request itself (the raw body, the query as sent):
   * `body` and `query` then only document it. For ChirpStack's HTTP integration, whose
   * requests must be authenticated before anything in them is judged (api/routes/webhooks-inbound.ts).
   */
  raw?: boolean;
  /** Handler; what it returns becomes the JSON body. It may also set ctx.body itself (streams). */
  handler: (ctx: Context, input: Input<B, Q>) => Promise<unknown>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Path parameters named `id` or `*_id` are UUIDs; anything else cannot name a row, so: not found. */
function checkIds(params: Record<string, string>): void {
  for (const [k, v] of Object.entries(params)) {
    if ((k === 'id' || k.endsWith('_id')) && !UUID.test(v)) throw new NotFoundError('Resource');
  }
}

export function mount(router: Router, routes: RouteDef[], authenticate: Middleware): void {
  for (const r of routes) {
    const body = r.body && !r.raw ? compile<unknown>('body', r.body) : null;
    const query = r.query && !r.raw ? compile<unknown>('query', r.query) : null;
    const handler: Middleware = async (ctx) => {
      checkIds(ctx.params as Record<string, string>);
      const principal = ctx.state.principal as Principal;
      if (r.auth !== false && !roleAtLeast(principal.role, r.auth)) throw new ForbiddenError();
      const input: Input<unknown, unknown> = {
        body: body ? body(ctx.request.body) : ctx.request.body,
        query: query ? query({ ...ctx.query }) : ctx.query,
        params: ctx.params as Record<string, string>,
        principal,
      };
      const result = await r.handler(ctx, input);
      if (result !== undefined) {
        ctx.status = r.status ?? 200;
        ctx.body = result;
      }
    };
    const chain: Middleware[] = r.auth === false ? [handler] : [authenticate, handler];
    router[r.method](r.path, ...(chain as [Middleware]));
  }
}
