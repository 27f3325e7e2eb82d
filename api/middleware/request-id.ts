/** Gives every request an id (the caller's X-Request-Id when sane) and a logger that carries it. */
import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from '../../src/log.js';

const SANE_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function requestId(log: Logger) {
  return async function withRequestId(ctx: Context, next: Next): Promise<void> {
    const given = ctx.get('x-request-id');
    const id = SANE_ID.test(given) ? given : randomUUID();
    ctx.state.requestId = id;
    ctx.state.log = log.child({ reqId: id });
    ctx.set('X-Request-Id', id);
    const started = performance.now();
    try {
      await next();
    } finally {
      ctx.state.log.info(
        { method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(performance.now() - started) },
        'request',
      );
    }
  };
}
