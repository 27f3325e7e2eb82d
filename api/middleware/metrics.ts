/**
 * HTTP metrics: times every request under its route pattern (`/api/v6/spaces/:id`, as the
 * router matched it), never the raw URL, so ids and probes of unknown paths cannot grow
 * the number of series; and serves the registry at GET /metrics.
 */
import type { Context, Next } from 'koa';
import type { Metrics } from '../../src/metrics.js';

/** Label for requests no route matched (404s, probes): one series instead of one per path. */
export const UNMATCHED_ROUTE = '(unmatched)';

export function httpMetrics(metrics: Metrics) {
  return async function timeRequest(ctx: Context, next: Next): Promise<void> {
    const end = metrics.httpDuration.startTimer();
    try {
      await next();
    } finally {
      // Set by @koa/router on the context when a layer matched (the pattern, not the URL).
      const matched = (ctx as Context & { _matchedRoute?: string | RegExp })._matchedRoute;
      const route = typeof matched === 'string' ? matched : matched ? String(matched) : UNMATCHED_ROUTE;
      end({ method: ctx.method, route, status: String(ctx.status) });
    }
  };
}

/** Handler for GET /metrics: the registry in Prometheus' text format. */
export function metricsEndpoint(metrics: Metrics) {
  return async function serveMetrics(ctx: Context): Promise<void> {
    ctx.set('Content-Type', metrics.registry.contentType);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await metrics.registry.metrics();
  };
}
