/**
 * Owns the security headers every answer carries (issue 19 §5; OWASP Secure Headers Project):
 * no MIME sniffing, no framing (clickjacking), no Referer leaving the origin (a stream URL
 * may carry ?access_token=), HSTS when HSTS_MAX_AGE is set (only behind TLS), and a Content
 * Security Policy fitting the page. The console and Swagger UI load only their own scripts
 * (api/routes/docs.ts keeps Swagger's init in a file for that); ReDoc's styled-components
 * inject <style> elements and it parses the document in a blob: worker, so /redoc and /docs
 * allow inline styles and blob: workers, never inline scripts. Map tiles come from whatever
 * tile server a site's config names (web/src/map.ts), a city's own often on plain http, hence
 * images from anywhere: an image cannot run script.
 */
import type { Middleware } from 'koa';

const BASE = ["default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'", "connect-src 'self'"];
const CONSOLE_CSP = [...BASE, "style-src 'self'", 'img-src * data: blob:'].join('; ');
const DOCS_CSP = [...BASE, "style-src 'self' 'unsafe-inline'", 'img-src * data:', "worker-src 'self' blob:", "font-src 'self' data:"].join('; ');
/** JSON answers never render; nothing at all may load from them. */
const API_CSP = "default-src 'none'; frame-ancestors 'none'";

function policyFor(path: string): string {
  if (path === '/docs' || path.startsWith('/docs/') || path === '/redoc' || path.startsWith('/redoc/')) return DOCS_CSP;
  if (path.startsWith('/api/') || path === '/openapi.json' || path === '/metrics' || path === '/health' || path === '/ready') return API_CSP;
  return CONSOLE_CSP;
}

export function securityHeaders(opts: { hstsMaxAgeSeconds: number }): Middleware {
  return async (ctx, next) => {
    // Set before the route runs, so errors and streams carry them too.
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Content-Security-Policy', policyFor(ctx.path));
    if (opts.hstsMaxAgeSeconds > 0) ctx.set('Strict-Transport-Security', `max-age=${opts.hstsMaxAgeSeconds}; includeSubDomains`);
    await next();
  };
}
