/**
 * The one place where errors become HTTP responses. Every error body is
 * {"error": {"code", "message", "details"}}; a 5xx never carries internals.
 */
import type { Context, Next } from 'koa';
import { AppError } from '../../src/errors.js';
import { translatePgError } from '../../src/db/errors.js';

/** As in app.ts BODY_LIMIT (raw-body's own message, "request entity too large", names no limit). */
const BODY_LIMIT_TEXT = '1 MB';

/** Codes for errors thrown by Koa middleware we do not own (koa-jwt, bodyparser). */
const CODE_BY_STATUS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable',
  429: 'too_many_requests',
  501: 'not_implemented',
  503: 'service_unavailable',
};

/**
 * Statuses the router answers without throwing and without a body (router.allowedMethods
 * with throw: false: 405 for a known path with another method, 501 for a method it does
 * not know). They get the error body every other error has.
 */
const BODYLESS_ROUTER_ERRORS: Record<number, string> = {
  404: 'No such route',
  405: 'Method not allowed on this path',
  501: 'Unknown HTTP method',
};

export function errorMiddleware() {
  return async function errors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      const status = ctx.status;
      if (BODYLESS_ROUTER_ERRORS[status] !== undefined && (ctx.body === undefined || ctx.body === null)) {
        ctx.body = { error: { code: CODE_BY_STATUS[status]!, message: BODYLESS_ROUTER_ERRORS[status]!, details: [] } };
        // Setting a body makes Koa assume 200 unless the status is set again.
        ctx.status = status;
      }
    } catch (raw) {
      const err = translatePgError(raw);
      if (err instanceof AppError) {
        ctx.status = err.status;
        ctx.set(err.headers);
        ctx.body = { error: { code: err.code, message: err.message, details: err.details } };
        if (err.status >= 500) ctx.state.log?.warn({ err: raw }, 'request failed');
        return;
      }
      const e = err as { status?: number; statusCode?: number; expose?: boolean; message?: string; type?: string };
      // co-body (under @koa/bodyparser) throws JSON.parse's own SyntaxError with status 400
      // and no `type`; its message quotes the client's body back, so it is replaced.
      const malformedJson = e.type === 'entity.parse.failed' || (err instanceof SyntaxError && e.status === 400);
      const status = e.status ?? e.statusCode ?? 500;
      if (status < 500 && status >= 400) {
        ctx.status = status;
        const message =
          status === 401
            ? 'Not authenticated'
            : malformedJson
              ? 'Malformed JSON body'
              : status === 413
                ? `Request body too large (limit ${BODY_LIMIT_TEXT})`
                : (e.message ?? 'Bad request');
        ctx.body = { error: { code: CODE_BY_STATUS[status] ?? 'bad_request', message, details: [] } };
        return;
      }
      ctx.state.log?.error({ err: raw }, 'unhandled error');
      ctx.status = 500;
      ctx.body = { error: { code: 'internal_error', message: 'Internal server error', details: [] } };
    }
  };
}
