// Issue 19 §5: security headers on every answer, and Content Security Policies that the
// console, Swagger UI and ReDoc really run under, checked in Debian's Chromium: each page
// renders and the browser reports no violation.
import t from 'tap';
import { chromium, type Browser } from 'playwright-core';
import { testApi } from '../helpers/api.js';
import { CHROMIUM, CHROMIUM_ARGS, UI_TIMEOUT_MS } from '../helpers/browser.js';

t.test('every answer carries the security headers; HSTS only when configured', async (t) => {
  const api = await testApi(t);
  for (const path of ['/', '/api/v6/spaces', '/api/auth/login', '/openapi.json', '/docs', '/redoc', '/health', '/no-such-page']) {
    const r = await fetch(`${api.url}${path}`);
    await r.arrayBuffer();
    t.equal(r.headers.get('x-content-type-options'), 'nosniff', `${path}: nosniff`);
    t.equal(r.headers.get('x-frame-options'), 'DENY', `${path}: no framing`);
    t.equal(r.headers.get('referrer-policy'), 'no-referrer', `${path}: no referrer`);
    t.match(r.headers.get('content-security-policy'), /frame-ancestors 'none'/, `${path}: CSP`);
    t.notOk(/unsafe-inline'?[^;]*script|script-src[^;]*unsafe/.test(r.headers.get('content-security-policy') ?? ''), `${path}: never an inline script`);
    t.equal(r.headers.get('strict-transport-security'), null, `${path}: no HSTS by default`);
  }
  t.match((await fetch(`${api.url}/api/v6/spaces`)).headers.get('content-security-policy'), /^default-src 'none'/, 'JSON answers load nothing');
  const tls = await testApi(t, { HSTS_MAX_AGE: '31536000' });
  t.equal((await fetch(`${tls.url}/`)).headers.get('strict-transport-security'), 'max-age=31536000; includeSubDomains');
});

t.test('the console, Swagger UI and ReDoc render under their policies with no violation', async (t) => {
  const api = await testApi(t);
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.teardown(() => browser.close());
  const pages: [path: string, rendered: string][] = [
    ['/', 'form'], // the console's login form
    ['/docs', '.swagger-ui .info'],
    ['/redoc', '.api-content'],
  ];
  for (const [path, selector] of pages) {
    const page = await browser.newPage();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    await page.goto(`${api.url}${path}`);
    await page.waitForSelector(selector, { timeout: UI_TIMEOUT_MS });
    t.same(violations, [], `${path} renders with no CSP violation`);
    await page.close();
  }
});
