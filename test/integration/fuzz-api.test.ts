// Fuzzes the API (issue 10, "Bad input"): for every route with a body or query schema,
// inputs generated from the schema and mutated (test/helpers/schema-fuzz.ts). Every answer
// is below 500 and, when 4xx, has the error body; inputs the route's own validator refuses
// leave every table as it was; and no input, valid or not, touches another tenant's rows.
// Bounded here; `npm run fuzz` runs it at FUZZ_SCALE=10. Replay a run with FUZZ_SEED.
import t from 'tap';
import { allRoutes } from '../../api/app.js';
import type { RouteDef } from '../../api/routes/route.js';
import { compile } from '../../src/schemas/validator.js';
import { createLogger } from '../../src/log.js';
import { testApi, type TestApi } from '../helpers/api.js';
import { fuzzScale, fuzzSeed, reportFigures, rng, type Rng } from '../helpers/fuzz.js';
import { generate, mutate, mutateQuery, parsedQuery, rawBodies, toQueryString } from '../helpers/schema-fuzz.js';
import type { Pool } from '../../src/db/pool.js';

const CASES_PER_ROUTE = 16;
/** Longest a single fuzz request may take: a hang is a failure too. */
const REQUEST_TIMEOUT_MS = 10_000;

interface Case {
  route: RouteDef;
  where: 'body' | 'query';
  kind: string;
  path: string;
  body?: unknown;
  /** Sent as is instead of JSON.stringify(body). */
  rawBody?: string;
  /** The route's own validator accepts it: the handler runs and may write. */
  valid: boolean;
}

/** Row counts of every table (as the owner, past RLS); optionally only one tenant's rows. */
async function rowCounts(owner: Pool, tenantId?: string): Promise<Record<string, number>> {
  const tables = await owner.query<{ table_name: string; has_tenant: boolean }>(
    `SELECT t.table_name, EXISTS (SELECT 1 FROM information_schema.columns c
              WHERE c.table_schema = 'public' AND c.table_name = t.table_name AND c.column_name = 'tenant_id') AS has_tenant
       FROM information_schema.tables t
      WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND t.table_name <> 'schema_migrations'
      ORDER BY 1`,
  );
  const out: Record<string, number> = {};
  for (const { table_name, has_tenant } of tables.rows) {
    if (tenantId && !has_tenant) continue;
    const r = await owner.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${table_name}"${tenantId ? ' WHERE tenant_id = $1' : ''}`,
      tenantId ? [tenantId] : [],
    );
    out[table_name] = r.rows[0]!.n;
  }
  return out;
}

/** `value` is cloned first (defaults are filled in place) unless the caller passes a fresh one. */
function accepts(where: 'body' | 'query', schema: object, value: unknown, fresh = false): boolean {
  try {
    compile(where, schema)(fresh ? value : structuredClone(value));
    return true;
  } catch {
    return false;
  }
}

function fillPath(r: Rng, path: string, ids: Record<string, string>): string {
  return path.replace(/:([a-z_]+)/g, (_m, name: string) => {
    if (name === 'dev_eui') return r.bytes(8).toString('hex');
    const resource = /\/api\/v6\/([a-z-]+)\//.exec(path)?.[1] ?? '';
    // Half the time a real row of the caller's tenant, so handlers run past their lookup.
    return ids[resource] && r.chance(0.5) ? ids[resource]! : crypto.randomUUID();
  });
}

function casesFor(r: Rng, route: RouteDef, ids: Record<string, string>, n: number): Case[] {
  const cases: Case[] = [];
  for (let i = 0; i < n; i++) {
    const path = fillPath(r, route.path, ids);
    if (route.body) {
      const schema = route.body as Record<string, any>;
      const valid = generate(r, schema);
      const m = i === 0 ? { kind: 'generated', value: valid } : mutate(r, schema, valid);
      cases.push({ route, where: 'body', kind: m.kind, path, body: m.value, valid: accepts('body', schema, m.value) });
      if (i === 1) {
        for (const raw of rawBodies(r, valid)) {
          // Valid when it still parses (a truncation may cut at a value's end) and the validator takes it.
          let parsed: unknown;
          try {
            parsed = JSON.parse(raw.text);
          } catch {
            parsed = undefined;
          }
          // BODY_LIMIT (api/app.ts) is '1mb': 1,048,576 bytes, beyond which the API answers 413.
          // Parsed, not cloned: structuredClone overflows the stack on the deepest bodies,
          // which once made the test call them refused while the API rightly took them.
          const ok = parsed !== undefined && Buffer.byteLength(raw.text) <= 1024 * 1024 && accepts('body', schema, parsed, true);
          cases.push({ route, where: 'body', kind: raw.kind, path, rawBody: raw.text, valid: ok });
        }
      }
    }
    if (route.query) {
      const schema = route.query as Record<string, any>;
      const valid = generate(r, schema) as Record<string, unknown>;
      const m = i === 0 ? { kind: 'generated', value: valid } : mutateQuery(r, schema, valid);
      const qs = toQueryString(m.value as Record<string, unknown>);
      cases.push({ route, where: 'query', kind: m.kind, path: path + qs, valid: accepts('query', schema, parsedQuery(qs)) });
    }
  }
  return cases;
}

async function send(api: TestApi, token: string, c: Case): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  let body: string | undefined;
  if (c.route.method !== 'get' && c.route.method !== 'delete') {
    headers['content-type'] = 'application/json';
    body = c.rawBody ?? (c.body === undefined ? '{}' : JSON.stringify(c.body));
  }
  const res = await fetch(api.url + c.path, { method: c.route.method.toUpperCase(), headers, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    await res.body?.cancel(); // a live stream that opened: the filters were accepted
    return { status: res.status, body: undefined };
  }
  const text = await res.text();
  try {
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  } catch {
    return { status: res.status, body: text };
  }
}

function isErrorBody(b: any): boolean {
  return (
    b && typeof b === 'object' && b.error && typeof b.error.code === 'string' && typeof b.error.message === 'string' && Array.isArray(b.error.details)
  );
}

t.test('every route with a schema: generated and mutated inputs never give 5xx, and refused ones write nothing', async (t) => {
  const seed = fuzzSeed();
  t.comment(`FUZZ_SEED=${seed}`);
  const r = rng(seed);
  const api = await testApi(t);
  const a = await api.register('acme');
  const b = await api.register('bravo');
  // Rows for both tenants, so handlers get past their lookups and B has something to lose.
  const ids: Record<string, string> = {};
  const sites = await api.request('GET', '/api/v6/sites', { token: a.token });
  ids.sites = sites.body.items?.[0]?.id ?? sites.body[0]?.id;
  const space = await api.request('POST', '/api/v6/spaces', { token: a.token, json: { code: 'A-1', site_id: ids.sites } });
  t.equal(space.status, 201, 'arranged a space for A');
  ids.spaces = space.body.id;
  t.equal((await api.request('POST', '/api/v6/spaces', { token: b.token, json: { code: 'B-1' } })).status, 201, 'and one for B');
  const bBefore = await rowCounts(api.db.owner, b.user.tenant_id);

  const routes = allRoutes({ config: api.config, pool: api.db.app, log: createLogger('silent'), live: api.live.hub }).filter(
    (x) => x.body || x.query,
  );
  const all = routes.flatMap((route) => casesFor(r, route, ids, CASES_PER_ROUTE * fuzzScale()));
  // Logging out with a valid body would end the session the fuzzer runs on.
  const cases = all.filter((c) => !(c.valid && c.route.path === '/api/auth/logout'));
  const failures: string[] = [];
  const check = (c: Case, res: { status: number; body: any }) => {
    const what = `${c.route.method.toUpperCase()} ${c.route.path} [${c.where} ${c.kind}] → ${res.status}`;
    if (res.status >= 500) failures.push(`${what} ${JSON.stringify(res.body)?.slice(0, 300)}`);
    else if (res.status >= 400 && !isErrorBody(res.body)) failures.push(`${what}: not the error body: ${JSON.stringify(res.body)?.slice(0, 200)}`);
    else if (!c.valid && res.status < 400) {
      failures.push(`${what}: the validator refuses this input, the API accepted it: ${(c.rawBody ?? JSON.stringify(c.body))?.slice(0, 60)} (${(c.rawBody ?? JSON.stringify(c.body) ?? "").length} chars) → ${JSON.stringify(res.body)?.slice(0, 200)}`);
    }
  };

  // 1. Inputs the route's validator refuses: 4xx, and not one row changes anywhere.
  const refused = cases.filter((c) => !c.valid);
  const before = await rowCounts(api.db.owner);
  for (const c of refused) check(c, await send(api, a.token, c));
  t.same(await rowCounts(api.db.owner), before, `${refused.length} refused inputs changed no table`);

  // 2. Inputs it accepts (generated, extra fields, odd but allowed strings): handlers run.
  const accepted = cases.filter((c) => c.valid);
  for (const c of accepted) check(c, await send(api, a.token, c));
  t.same(await rowCounts(api.db.owner, b.user.tenant_id), bBefore, "no input touched the other tenant's rows");

  t.same(failures.slice(0, 25), [], `${failures.length} bad answers`);
  reportFigures(t, 'fuzz-api', {
    seed,
    routes: routes.length,
    attempts: cases.length,
    refused: refused.length,
    accepted: accepted.length,
    failures: failures.length,
  });
});

// Regressions the fuzzer found (FUZZ_SCALE=10 run, 2026-11-24): each was a 500.
t.test('regression: NUL characters, huge page numbers, event ids and deep bodies are 400, not 500', async (t) => {
  const api = await testApi(t);
  const a = await api.register('acme');
  const site = (await api.request('GET', '/api/v6/sites', { token: a.token })).body.items[0];
  const cases: [string, string, unknown?][] = [
    ['PATCH', `/api/v6/sites/${site.id}`, { address: 'a\u0000b' }],
    ['POST', '/api/auth/register', { email: 'nul@x.example', password: 'longenough', username: 'n', tenant_name: '\u0000', tenant_slug: 'nul' }],
    ['GET', `/api/v6/sites?page=${'9'.repeat(400)}`],
    ['GET', `/api/v6/users?page=${2 ** 62}`],
    ['GET', `/api/v6/devices/sensors?q=${encodeURIComponent('a\u0000')}`],
    ['GET', `/api/v6/events?last_event_id=${'9'.repeat(30)}`],
    // A free-form jsonb field nested 5,000 deep overflowed the stack when written (raw text: too deep to stringify).
    ['PATCH', `/api/v6/sites/${site.id}`, `{"config":${'{"a":'.repeat(5_000)}1${'}'.repeat(5_001)}`],
  ];
  for (const [method, path, json] of cases) {
    const r = await fetch(api.url + path, {
      method,
      headers: { authorization: `Bearer ${a.token}`, ...(json ? { 'content-type': 'application/json' } : {}) },
      body: typeof json === 'string' ? json : json ? JSON.stringify(json) : undefined,
      signal: AbortSignal.timeout(5_000),
    });
    const body = (r.headers.get('content-type') ?? '').includes('event-stream') ? (await r.body?.cancel(), null) : await r.json();
    t.ok(r.status >= 400 && r.status < 500, `${method} ${path.slice(0, 60)} → ${r.status}`);
    t.ok(isErrorBody(body), 'with the error body');
  }
});
