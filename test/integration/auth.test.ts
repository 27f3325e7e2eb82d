// Auth with the paths and fields of the platform baygate replaces.
import t from 'tap';
import jwt from 'jsonwebtoken';
import { generateKeyPairSync } from 'node:crypto';
import { testApi } from '../helpers/api.js';

t.test('register, login both ways, me, refresh rotation and reuse, logout', async (t) => {
  const api = await testApi(t);
  const reg = await api.request('POST', '/api/auth/register', {
    json: { email: 'Ana@Example.com', password: 'longenough', username: 'ana', tenant_name: 'Acme Parking', tenant_slug: 'acme', extra: 'ignored' },
  });
  t.equal(reg.status, 201);
  t.match(reg.body, { token_type: 'bearer', expires_in: 3600, user: { email: 'ana@example.com', username: 'ana', tenant_name: 'Acme Parking', tenant_slug: 'acme', role: 'owner' } });
  t.type(reg.body.access_token, 'string');
  t.type(reg.body.user.created_at, 'string');

  const dupEmail = await api.request('POST', '/api/auth/register', {
    json: { email: 'ana@example.com', password: 'longenough', username: 'x', tenant_name: 'Other', tenant_slug: 'other' },
  });
  t.equal(dupEmail.status, 409);
  t.equal(dupEmail.body.error.code, 'conflict');
  const dupSlug = await api.request('POST', '/api/auth/register', {
    json: { email: 'bo@example.com', password: 'longenough', username: 'x', tenant_name: 'Other', tenant_slug: 'acme' },
  });
  t.equal(dupSlug.status, 409);
  const other = await api.request('GET', '/api/v6/sites', { token: reg.body.access_token });
  t.equal(other.body.total, 1, 'the failed registrations left nothing behind in acme');

  const form = await api.request('POST', '/api/auth/login', { form: { username: 'ana@example.com', password: 'longenough' } });
  t.equal(form.status, 200);
  t.equal(form.body.user.role, 'owner');
  const json = await api.request('POST', '/api/auth/login', { json: { email: 'ANA@example.com', password: 'longenough' } });
  t.equal(json.status, 200);

  const wrongPw = await api.request('POST', '/api/auth/login', { json: { email: 'ana@example.com', password: 'wrong-password' } });
  const noUser = await api.request('POST', '/api/auth/login', { json: { email: 'nobody@example.com', password: 'longenough' } });
  t.equal(wrongPw.status, 401);
  t.equal(noUser.status, 401);
  t.same(wrongPw.body, noUser.body, 'no hint which part was wrong');

  const me = await api.request('GET', '/api/auth/me', { token: json.body.access_token });
  t.equal(me.status, 200);
  t.match(me.body, { tenant_id: reg.body.user.tenant_id, tenant_name: 'Acme Parking', role: 'owner' });

  const r1 = await api.request('POST', '/api/auth/refresh', { json: { refresh_token: json.body.refresh_token } });
  t.equal(r1.status, 200);
  t.not(r1.body.refresh_token, json.body.refresh_token);
  const reuse = await api.request('POST', '/api/auth/refresh', { json: { refresh_token: json.body.refresh_token } });
  t.equal(reuse.status, 401, 'a rotated refresh token is refused');
  const afterReuse = await api.request('POST', '/api/auth/refresh', { json: { refresh_token: r1.body.refresh_token } });
  t.equal(afterReuse.status, 401, 'reuse revoked the whole family');
  const meAfterReuse = await api.request('GET', '/api/auth/me', { token: r1.body.access_token });
  t.equal(meAfterReuse.status, 401, 'and its access tokens');

  const logout = await api.request('POST', '/api/auth/logout', { token: form.body.access_token });
  t.equal(logout.status, 200);
  const refreshAfterLogout = await api.request('POST', '/api/auth/refresh', { json: { refresh_token: form.body.refresh_token } });
  t.equal(refreshAfterLogout.status, 401);
  const meAfterLogout = await api.request('GET', '/api/auth/me', { token: form.body.access_token });
  t.equal(meAfterLogout.status, 401);
  const stillOk = await api.request('GET', '/api/auth/me', { token: reg.body.access_token });
  t.equal(stillOk.status, 200, 'other sessions keep working');
});

t.test('registration validation names the field', async (t) => {
  const api = await testApi(t);
  const cases: [Record<string, unknown>, string][] = [
    [{ email: 'a@b.co', password: 'short', username: 'a', tenant_name: 'A', tenant_slug: 'a' }, 'body.password'],
    [{ email: 'a@b.co', password: 'longenough', username: 'a', tenant_name: 'A', tenant_slug: 'Bad Slug' }, 'body.tenant_slug'],
    [{ email: 'not-an-email', password: 'longenough', username: 'a', tenant_name: 'A', tenant_slug: 'a' }, 'body.email'],
    [{ password: 'longenough', username: 'a', tenant_name: 'A', tenant_slug: 'a' }, 'body.email'],
    [{ email: 'a@b.co', password: 12345678, username: 'a', tenant_name: 'A', tenant_slug: 'a' }, 'body.password'],
  ];
  for (const [json, field] of cases) {
    const r = await api.request('POST', '/api/auth/register', { json });
    t.equal(r.status, 400, field);
    t.equal(r.body.error.code, 'validation_error');
    t.ok(r.body.error.details.some((d: { field: string }) => d.field === field), `details name ${field}`);
  }
  const malformed = await api.request('POST', '/api/auth/register', { headers: { 'content-type': 'application/json' }, json: undefined });
  t.equal(malformed.status, 400);
});

/** The same token with another `alg` in its header (signature left as it was). */
function relabel(token: string, alg: string): string {
  const [, payload, signature] = token.split('.');
  return `${Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url')}.${payload}.${signature}`;
}

t.test('tokens: wrong algorithm, bad signature, expired, wrong type → 401', async (t) => {
  const api = await testApi(t);
  const { token, refresh } = await api.register('acme');
  const claims = jwt.decode(token) as Record<string, unknown>;
  const { exp: _e, iat: _i, ...base } = claims;
  const bad = {
    none: jwt.sign(base, '', { algorithm: 'none' }),
    hs512: jwt.sign(base, api.config.jwtSecret, { algorithm: 'HS512' }),
    rs256: jwt.sign(base, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, { algorithm: 'RS256' }),
    // Algorithm confusion: the header claims RS256 but the signature is HMAC-SHA256 with our
    // secret, as a verifier that took the key type from the header would accept.
    rs256Confused: relabel(jwt.sign(base, api.config.jwtSecret, { algorithm: 'HS256' }), 'RS256'),
    wrongSecret: jwt.sign(base, 'another-secret-another-secret-another', { algorithm: 'HS256' }),
    expired: jwt.sign({ ...base, exp: Math.floor(Date.now() / 1000) - 10 }, api.config.jwtSecret, { algorithm: 'HS256' }),
    notYet: jwt.sign(base, api.config.jwtSecret, { algorithm: 'HS256', notBefore: 3600 }),
    noSub: jwt.sign({ ...base, sub: undefined }, api.config.jwtSecret, { algorithm: 'HS256' }),
    tampered: token.split('.')[0] + '.' + Buffer.from(JSON.stringify({ ...claims, tid: '00000000-0000-4000-8000-000000000000' })).toString('base64url') + '.' + token.split('.')[2],
    refreshAsAccess: refresh,
  };
  for (const [name, tok] of Object.entries(bad)) {
    const r = await api.request('GET', '/api/auth/me', { token: tok });
    t.equal(r.status, 401, name);
    t.equal(r.body.error.code, 'unauthorized', name);
  }
  const none = await api.request('GET', '/api/auth/me');
  t.equal(none.status, 401);
  const ok = await api.request('GET', '/api/auth/me', { token });
  t.equal(ok.status, 200);
  const accessAsRefresh = await api.request('POST', '/api/auth/refresh', { json: { refresh_token: token } });
  t.equal(accessAsRefresh.status, 401);
  // The refresh endpoint verifies on its own (not through koa-jwt): the same forgeries of a refresh token.
  const { exp: _re, iat: _ri, ...refreshBase } = jwt.decode(refresh) as Record<string, unknown>;
  const badRefresh = {
    none: jwt.sign(refreshBase, '', { algorithm: 'none' }),
    hs512: jwt.sign(refreshBase, api.config.jwtSecret, { algorithm: 'HS512' }),
    rs256: jwt.sign(refreshBase, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, { algorithm: 'RS256' }),
    expired: jwt.sign({ ...refreshBase, exp: Math.floor(Date.now() / 1000) - 10 }, api.config.jwtSecret, { algorithm: 'HS256' }),
  };
  for (const [name, tok] of Object.entries(badRefresh)) {
    const r = await api.request('POST', '/api/auth/refresh', { json: { refresh_token: tok } });
    t.equal(r.status, 401, `refresh: ${name}`);
  }
  t.equal((await api.request('POST', '/api/auth/refresh', { json: { refresh_token: refresh } })).status, 200, 'the genuine refresh token still works');
});

t.test('health answers without auth; unknown routes give the error body', async (t) => {
  const api = await testApi(t);
  const h = await api.request('GET', '/health');
  t.equal(h.status, 200);
  t.match(h.body, { status: 'healthy', version: String });
  const missing = await api.request('GET', '/api/v6/nothing-here');
  t.equal(missing.status, 404);
  t.match(missing.body, { error: { code: 'not_found' } });
});

// Regression: the router's own 405 and 501 came back with an empty body, and a body that is
// not JSON answered with JSON.parse's message (which quotes the body) instead of ours.
t.test('another method on a known path, an unknown method and malformed JSON give the error body', async (t) => {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const notAllowed = await api.request('DELETE', '/api/v6/spaces', { token });
  t.equal(notAllowed.status, 405);
  t.same(notAllowed.body, { error: { code: 'method_not_allowed', message: 'Method not allowed on this path', details: [] } });
  t.match(notAllowed.headers.get('allow'), /GET/, 'Allow names the methods there are');
  const notAllowedSlash = await api.request('PUT', '/api/v6/sites/', { token });
  t.equal(notAllowedSlash.status, 405, 'with a trailing slash too');
  t.equal(notAllowedSlash.body?.error?.code, 'method_not_allowed');
  const unknown = await api.request('PROPFIND', '/api/v6/spaces', { token });
  t.equal(unknown.status, 501);
  t.same(unknown.body, { error: { code: 'not_implemented', message: 'Unknown HTTP method', details: [] } });
  for (const raw of ['{"name":', '{"name": "x"', "{'name': 'x'}", '"a string"']) {
    const r = await fetch(`${api.url}/api/v6/sites`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: raw });
    t.equal(r.status, 400, raw);
    t.same(await r.json(), { error: { code: 'bad_request', message: 'Malformed JSON body', details: [] } }, `${raw}: our message, not the parser's`);
  }
});
