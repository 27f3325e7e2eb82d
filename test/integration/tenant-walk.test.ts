// Broken object level authorization (OWASP API1:2023), walked from the OpenAPI document:
// two tenants hold data in every tenant table; tenant B's owner (the highest role, so no
// 403 ever hides a missing tenant check) calls every operation that names a row with A's
// ids, and every list and live filter with A's ids. Every answer is 404 (or 403), none
// carries anything of A, and A's rows, read as the owner past RLS, are exactly as before.
// Also: bodies that name A's rows are answered as for an id of nothing (no existence
// oracle), every list B may read shows nothing of A, SSE and WebSocket filters with A's ids
// deliver nothing, and in SQL the API's runtime role sees only the tenant it is set to.
// The walk reads /openapi.json, so a route added later is walked without editing this file;
// a path parameter whose kind this file cannot tell fails the test until it is taught here,
// and a new tenant table without a row for A fails it until seedTenant or seedJobRows fills it.
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { randomUUID } from 'node:crypto';
import { startIngest, type IngestProcess } from '../../ingest/main.js';
import { compile } from '../../src/schemas/validator.js';
import { createLogger } from '../../src/log.js';
import { withTx } from '../../src/db/tx.js';
import { applySpaceInput } from '../../src/space-transitions.js';
import { chirpstackKeyBox, putApiKey } from '../../src/storage/chirpstack-keys.js';
import { eventTopic, statusEvent, upEvent } from '../../src/simulator/events.js';
import { testApi, testConfig, type TestApi } from '../helpers/api.js';
import { testBroker, testPublisher } from '../helpers/mqtt.js';
import { sseConnect } from '../helpers/sse.js';
import { reportFigures, rng } from '../helpers/fuzz.js';
import { generate } from '../helpers/schema-fuzz.js';
import { waitFor } from '../helpers/wait.js';

/** What a path or body parameter names. */
type Kind =
  | 'tenant' | 'site' | 'space' | 'device' | 'display' | 'gateway' | 'reservation' | 'webhook' | 'delivery' | 'user'
  | 'dev_eui' | 'gateway_eui';

/** `{id}` takes its kind from the segment before it: /sites/{id} names a site. */
const COLLECTIONS: Record<string, Kind> = {
  sites: 'site', spaces: 'space', devices: 'device', gateways: 'gateway', reservations: 'reservation',
  webhooks: 'webhook', deliveries: 'delivery', users: 'user', tenants: 'tenant',
};
/** Any other parameter by its name (path, query or body). */
const NAMED: Record<string, Kind> = {
  tenant_id: 'tenant', site_id: 'site', space_id: 'space', device_id: 'device', gateway_id: 'gateway',
  reservation_id: 'reservation', subscription_id: 'webhook', webhook_id: 'webhook', delivery_id: 'delivery', user_id: 'user',
  dev_eui: 'dev_eui', gateway_eui: 'gateway_eui',
};

function kindOf(path: string, param: string): Kind | undefined {
  if (NAMED[param]) return NAMED[param];
  if (param !== 'id') return undefined;
  const segments = path.split('/');
  const before = segments[segments.indexOf(`{${param}}`) - 1];
  return before ? COLLECTIONS[before] : undefined;
}

type Ids = Record<Kind, string>;

interface Tenant {
  mark: string;
  token: string;
  ids: Ids;
  /** Strings that, seen in an answer to the other tenant, are a leak. */
  secrets: string[];
  /** The DevEUI of an unclaimed uplink in the tenant's ChirpStack application. */
  unclaimed?: string;
}

const PASSWORD = 'correct horse battery';
/** Receivers of A's and B's subscriptions: nothing listens (delivery is not under test here). */
const HOOK_URL = 'http://127.0.0.1:9/hook';

async function ok(api: TestApi, method: string, path: string, token: string, json?: unknown, headers?: Record<string, string>) {
  const r = await api.request(method, path, { token, json, headers });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/**
 * A tenant with a row in every table a tenant owns: through the API where a route makes it,
 * through ingest for what sensors make, and as the owner in SQL for what only jobs make.
 */
async function seedTenant(api: TestApi, slug: string, mark: string, euiPrefix: string): Promise<Tenant> {
  const owner = await api.register(slug);
  const tok = owner.token;
  const site = await ok(api, 'POST', '/api/v6/sites', tok, { name: `${mark} site`, address: `${mark} street` });
  const space = await ok(api, 'POST', '/api/v6/spaces', tok, { site_id: site.id, code: `${mark}-1`, name: `${mark} space` });
  const space2 = await ok(api, 'POST', '/api/v6/spaces', tok, { site_id: site.id, code: `${mark}-2` });
  const devEui = `${euiPrefix}000001`;
  const device = await ok(api, 'POST', '/api/v6/devices', tok, { dev_eui: devEui, device_type: 'sensor', decoder: 'nwave-nps405', name: `${mark} sensor` });
  await ok(api, 'POST', `/api/v6/devices/${device.id}/assign`, tok, { space_id: space.id });
  const display = await ok(api, 'POST', '/api/v6/devices', tok, { dev_eui: `${euiPrefix}0000D1`, device_type: 'display', name: `${mark} display` });
  const gatewayEui = `${euiPrefix}00A0A0`;
  const gateway = await ok(api, 'POST', '/api/v6/gateways', tok, { gateway_eui: gatewayEui, name: `${mark} gateway` });
  // Before the reservation: a subscription taking reservations makes its creation a tenant_events row.
  const webhook = await ok(api, 'POST', '/api/v6/webhooks', tok, { url: `${HOOK_URL}?${mark}`, events: ['space_state', 'reservation'] });
  const start = new Date(Date.now() + 3 * 3_600_000);
  const reservation = await ok(api, 'POST', '/api/v6/reservations', tok,
    { space_id: space2.id, start_time: start.toISOString(), end_time: new Date(start.getTime() + 3_600_000).toISOString(), user_name: `${mark} driver` },
    { 'idempotency-key': `${mark}-key` });
  await ok(api, 'POST', '/api/v6/webhooks/inbound-secret', tok, {});
  const member = await ok(api, 'POST', '/api/v6/users', tok, { email: `tech@${slug}.example`, password: PASSWORD, username: `${mark} tech`, role: 'technician' });
  const tenantId: string = owner.user.tenant_id;
  const ids: Ids = {
    tenant: tenantId, site: site.id, space: space.id, device: device.id, display: display.id, gateway: gateway.id,
    reservation: reservation.id, webhook: webhook.id, delivery: '', user: member.id, dev_eui: devEui, gateway_eui: gatewayEui,
  };
  return {
    mark,
    token: tok,
    ids,
    secrets: [mark, devEui.toLowerCase(), gatewayEui.toLowerCase(), webhook.secret, owner.user.id, space2.id],
  };
}

/** Rows of every table keyed by tenant_id, plus the tenant and its users, as the owner sees them. */
async function snapshot(api: TestApi, tenantId: string): Promise<Record<string, unknown[]>> {
  const tables = await api.db.owner.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.columns
      WHERE table_schema = 'public' AND column_name = 'tenant_id'
        AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE')
      ORDER BY 1`,
  );
  const out: Record<string, unknown[]> = {};
  for (const { table_name } of tables.rows) {
    const r = await api.db.owner.query(`SELECT to_jsonb(x) AS row FROM ${table_name} x WHERE tenant_id = $1 ORDER BY to_jsonb(x)::text`, [tenantId]);
    out[table_name] = r.rows.map((x) => x.row);
  }
  out.tenants = (await api.db.owner.query(`SELECT to_jsonb(x) AS row FROM tenants x WHERE id = $1`, [tenantId])).rows.map((x) => x.row);
  out.users = (await api.db.owner.query(
    `SELECT to_jsonb(x) AS row FROM users x WHERE id IN (SELECT user_id FROM user_memberships WHERE tenant_id = $1) ORDER BY id`, [tenantId],
  )).rows.map((x) => x.row);
  return out;
}

/** Ingest run in this process for the seeding only: its jobs must not change rows during the walk. */
async function ingestUplinks(t: Test, api: TestApi, tenants: Tenant[]): Promise<void> {
  const broker = await testBroker(t);
  const config = testConfig({ CHIRPSTACK_EVENT_TOPIC: broker.template, MQTT_CLIENT_ID: `bgt-walk-${broker.id}`, INGEST_BATCH_MAX_MS: '5' });
  const ingest: IngestProcess = await startIngest({ config, databaseUrl: api.db.url, mqttUrl: broker.url, log: createLogger('silent'), metricsServer: false });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await ingest.stop();
  };
  t.teardown(stop);
  const pub = await testPublisher(t, broker);
  for (const x of tenants) {
    const topic = (event: string) => eventTopic(broker.template, x.ids.dev_eui, event);
    await pub.publishAsync(topic('up'), JSON.stringify(upEvent({ devEui: x.ids.dev_eui, fCnt: 1, fPort: 1, data: Buffer.from([1]), gatewayId: x.ids.gateway_eui })), { qos: 1 });
    await pub.publishAsync(topic('status'), JSON.stringify(statusEvent({ devEui: x.ids.dev_eui, batteryLevel: 80 })), { qos: 1 });
  }
  await waitFor(async () => {
    const r = await api.db.owner.query(`SELECT (SELECT count(*) FROM sensor_readings)::int AS readings, (SELECT count(*) FROM device_events)::int AS events`);
    return r.rows[0].readings >= tenants.length && r.rows[0].events >= tenants.length;
  }, 20_000, 'readings and device events of both tenants');
  await stop();
}

/** What only jobs or ChirpStack's webhook make, written as the owner once nothing else runs. */
async function seedJobRows(api: TestApi, x: Tenant): Promise<void> {
  const q = (sql: string, params: unknown[]) => api.db.owner.query(sql, params);
  const tenant = x.ids.tenant;
  await q(`INSERT INTO gateway_events (tenant_id, gateway_id, kind, since, device_count, at) VALUES ($1, $2, 'gateway_offline', now() - interval '1 hour', 1, now())`, [tenant, x.ids.gateway]);
  // Ingest's fan-out job may already have made the delivery of the uplink's event.
  const d = (await q(`SELECT id FROM webhook_deliveries WHERE tenant_id = $1 LIMIT 1`, [tenant])).rows[0]
    ?? (await q(
      `INSERT INTO webhook_deliveries (tenant_id, subscription_id, type, data) VALUES ($1, $2, 'space_state', jsonb_build_object('space_id', $3::text)) RETURNING id`,
      [tenant, x.ids.webhook, x.ids.space],
    )).rows[0];
  x.ids.delivery = d.id;
  await q(`INSERT INTO webhook_spool (tenant_id, event, payload) VALUES ($1, 'up', convert_to('{}', 'UTF8'))`, [tenant]);
  await q(`INSERT INTO dead_letters (tenant_id, topic, payload, payload_size, reason, error, dev_eui) VALUES ($1, 'walk', '\\x00', 1, 'decode', 'seeded', $2)`, [tenant, x.ids.dev_eui]);
  // Tables of features still landing (ChirpStack mapping, display downlinks): seeded when
  // their migration is present, so the walk and the snapshot cover them from the first day.
  const appId = randomUUID();
  const optional: [table: string, sql: string, params: unknown[]][] = [
    ['tenant_chirpstack_applications', `INSERT INTO tenant_chirpstack_applications (application_id, tenant_id) VALUES ($2, $1)`, [tenant, appId]],
    ['chirpstack_devices', `INSERT INTO chirpstack_devices (tenant_id, dev_eui, application_id, name, synced_at) VALUES ($1, $2, $3, $4, now())`,
      [tenant, x.ids.dev_eui.slice(0, 10) + '0000C5', appId, `${x.mark} chirpstack device`]],
    ['display_policies', `INSERT INTO display_policies (tenant_id, rules) VALUES ($1, '{}') ON CONFLICT DO NOTHING`, [tenant]],
    // What a ChirpStack location event leaves (0022), on the tenant's display.
    ['device_locations', `INSERT INTO device_locations (device_id, tenant_id, latitude, longitude, source, accuracy, at) VALUES ($2, $1, 48.1, 11.5, 'GPS', 7, now())`,
      [tenant, x.ids.display]],
    ['display_downlinks',
      `INSERT INTO display_downlinks (tenant_id, device_id, display_state, colour, blink, encoding, dev_eui, application_id, topic, f_port, data, confirmed, status, max_attempts)
       SELECT $1, id, 'free', '#00ff00', false, 'walk', dev_eui, $3, 'walk', 10, '\\x00', false, 'failed', 1 FROM devices WHERE id = $2`,
      [tenant, x.ids.display, appId]],
  ];
  for (const [table, sql, params] of optional) {
    if ((await q(`SELECT to_regclass($1) AS t`, [table])).rows[0].t) await q(sql, params);
  }
  // The tenant's own ChirpStack API key (0019): neither it nor its sealed form reaches another tenant.
  if ((await q(`SELECT to_regclass('tenant_chirpstack_api_keys') AS t`, [])).rows[0].t) {
    const key = `${x.mark}-chirpstack-api-key`;
    await putApiKey(api.db.owner, chirpstackKeyBox(api.config.jwtSecret), tenant, key);
    const sealed = (await q(`SELECT sealed_key FROM tenant_chirpstack_api_keys WHERE tenant_id = $1`, [tenant])).rows[0].sealed_key as string;
    x.secrets.push(key.toLowerCase(), sealed.toLowerCase());
  }
  // An uplink from a DevEUI nobody registered, in the tenant's ChirpStack application: not
  // tenant data (no tenant_id), but listed to the tenant the application is mapped to.
  if ((await q(`SELECT to_regclass('tenant_chirpstack_applications') AS t`, [])).rows[0].t) {
    const unclaimed = x.ids.dev_eui.slice(0, 10) + '0000CC';
    await q(`INSERT INTO unclaimed_devices (dev_eui, application_id, first_seen_at, last_seen_at, uplink_count) VALUES ($1, $2, now(), now(), 1)`, [unclaimed, appId]);
    x.unclaimed = unclaimed;
    x.secrets.push(unclaimed.toLowerCase());
  }
}

interface OpenApiOperation {
  parameters?: { name: string; in: string; required?: boolean; schema: Record<string, any> }[];
  requestBody?: { content: Record<string, { schema: Record<string, any> }> };
  responses: Record<string, { content?: Record<string, unknown> }>;
}

/** Body values the generator cannot know: ids of the caller's own rows, a reachable URL, a future window. */
function fitBody(value: unknown, own: Ids): unknown {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
  const v = value as Record<string, unknown>;
  for (const k of Object.keys(v)) {
    const kind = NAMED[k];
    if (kind) v[k] = own[kind];
  }
  if ('site_ids' in v) v.site_ids = [own.site];
  if ('url' in v) v.url = HOOK_URL;
  if ('start_time' in v || 'end_time' in v) {
    const start = Date.now() + 30 * 3_600_000;
    v.start_time = new Date(start).toISOString();
    v.end_time = new Date(start + 3_600_000).toISOString();
  }
  return v;
}

/** A body the route's own schema accepts (tries seeds until one validates). */
function validBody(schema: Record<string, any>, own: Ids, what: string): unknown {
  const check = compile('body', schema);
  for (let seed = 1; seed <= 200; seed++) {
    const body = fitBody(generate(rng(seed), schema), own);
    try {
      check(structuredClone(body));
      return body;
    } catch {
      /* another seed */
    }
  }
  throw new Error(`no valid body generated for ${what}`);
}

function queryString(q: Record<string, unknown>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) p.append(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

t.test("tenant B walks every route of the OpenAPI document with A's ids", async (t) => {
  const api = await testApi(t, { WEBHOOK_ALLOW_PRIVATE: 'true' });
  const a = await seedTenant(api, 'walk-a', 'zqAsecret', '70B3D5E7A0');
  const b = await seedTenant(api, 'walk-b', 'zqBsecret', '70B3D5E7B0');
  await ingestUplinks(t, api, [a, b]);
  for (const x of [a, b]) await seedJobRows(api, x);
  a.secrets.push(...Object.values(a.ids).filter(Boolean).map((s) => s.toLowerCase()));

  const before = await snapshot(api, a.ids.tenant);
  const empty = Object.entries(before).filter(([, rows]) => rows.length === 0).map(([table]) => table);
  t.same(empty, [], 'A has rows in every tenant table (a new table needs a row in seedTenant or seedJobRows)');

  // The same isolation in SQL, as the API's runtime role: A's setting shows A's rows of every
  // tenant table and none of B's; no setting shows nothing. (baygate_ingest reads across
  // tenants on purpose: its ingest_read policies, migrations/0002_ingest.sql.)
  for (const table of Object.keys(before).filter((x) => x !== 'tenants' && x !== 'users')) {
    const seen = await withTx(api.db.app, { tenantId: a.ids.tenant }, async (c) => {
      await c.query('SAVEPOINT probe');
      try {
        return (await c.query(`SELECT count(*) FILTER (WHERE tenant_id = $1)::int AS own, count(*) FILTER (WHERE tenant_id <> $1)::int AS other FROM ${table}`, [a.ids.tenant])).rows[0];
      } catch (err) {
        // 42501: the runtime role has no privilege on the table at all, which isolates too.
        if ((err as { code?: string }).code !== '42501') throw err;
        await c.query('ROLLBACK TO SAVEPOINT probe');
        return null;
      }
    });
    if (!seen) {
      t.comment(`${table}: baygate_app has no privilege`);
      continue;
    }
    t.same(seen, { own: before[table]!.length, other: 0 }, `${table}: A's setting shows A's rows only`);
    const none = await withTx(api.db.app, {}, async (c) => (await c.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n);
    t.equal(none, 0, `${table}: no tenant setting, no rows`);
  }

  /** Secrets of A in an answer, leaving out the values B itself sent (an echo of the request is no leak). */
  const leaksIn = (body: unknown, sent: string): string[] => {
    const text = JSON.stringify(body ?? '').toLowerCase();
    const asked = sent.toLowerCase();
    return a.secrets.filter((s) => s.length > 0 && !asked.includes(s) && text.includes(s));
  };

  const doc = (await api.request('GET', '/openapi.json')).body as { paths: Record<string, Record<string, OpenApiOperation>> };
  t.ok(Object.keys(doc.paths).length > 10, 'the OpenAPI document lists the routes');

  const walked = new Set<string>();
  let calls = 0;
  let leaks = 0;
  let refusedBody = 0;
  const unknownKinds: string[] = [];
  const call = async (method: string, path: string, json: unknown, accept: (status: number) => boolean, what: string) => {
    calls++;
    const r = await api.request(method.toUpperCase(), path, { token: b.token, json });
    const found = leaksIn(r.body, path + JSON.stringify(json ?? ''));
    if (found.length) leaks++;
    t.same(found, [], `${what}: no trace of A`);
    t.ok(accept(r.status), `${what} → ${r.status}`, { body: r.body });
    return r;
  };

  for (const [template, operations] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const pathParams = (op.parameters ?? []).filter((p) => p.in === 'path');
      const query = Object.fromEntries((op.parameters ?? []).filter((p) => p.in === 'query' && p.required).map((p) => [p.name, generate(rng(1), p.schema)]));
      const bodySchema = op.requestBody?.content['application/json']?.schema;
      const streams = Object.values(op.responses).some((r) => r.content && 'text/event-stream' in r.content);
      const kinds = pathParams.map((p) => [p.name, kindOf(template, p.name)] as const);
      const unknown = kinds.filter(([, k]) => !k).map(([n]) => n);
      if (unknown.length) {
        unknownKinds.push(`${method.toUpperCase()} ${template} (${unknown.join(', ')})`);
        continue;
      }

      // Path parameters: A's ids in every parameter, then (with several) A's id in one and B's in the others.
      if (pathParams.length) {
        walked.add(`${method} ${template}`);
        const fills: Record<string, string>[] = [Object.fromEntries(kinds.map(([n, k]) => [n, a.ids[k!]]))];
        if (kinds.length > 1) {
          for (const [n] of kinds) fills.push(Object.fromEntries(kinds.map(([m, k]) => [m, m === n ? a.ids[k!] : b.ids[k!]])));
        }
        // A device is a sensor or a display, and some routes concern displays only: both are tried.
        for (const [n, k] of kinds) if (k === 'device') fills.push({ ...fills[0], [n]: a.ids.display });
        for (const fill of fills) {
          const path = template.replace(/\{([^}]+)\}/g, (_, n: string) => encodeURIComponent(fill[n]!)) + queryString(query);
          const json = bodySchema ? validBody(bodySchema, b.ids, `${method} ${template}`) : undefined;
          const r = await call(method, path, json, (s) => s === 404 || s === 403 || s === 400 || s === 422, `B ${method.toUpperCase()} ${template} with ${JSON.stringify(fill)}`);
          if (r.status === 400 || r.status === 422) {
            refusedBody++;
            t.comment(`refused before lookup: ${method.toUpperCase()} ${template} ${JSON.stringify(r.body)}`);
          }
        }
      }

      // Filters: A's ids in every query parameter that names a row, on routes B may call with its own ids.
      const filterParams = (op.parameters ?? []).filter((p) => p.in === 'query' && NAMED[p.name]);
      // Streams (SSE, WebSocket upgrade) are walked with live events below.
      if (method === 'get' && !streams && !op.responses['101'] && filterParams.length) {
        walked.add(`${method} ${template}`);
        const own = Object.fromEntries(pathParams.map((p) => [p.name, b.ids[kindOf(template, p.name)!]]));
        const base = template.replace(/\{([^}]+)\}/g, (_, n: string) => encodeURIComponent(own[n]!));
        for (const p of filterParams) {
          const path = base + queryString({ ...query, [p.name]: a.ids[NAMED[p.name]!] });
          await call('get', path, undefined, (s) => s === 200 || s === 404 || s === 400, `B GET ${template} ?${p.name}=A's`);
        }
      }
    }
  }
  t.same(unknownKinds, [], 'every path parameter has a kind this walk knows (teach COLLECTIONS or NAMED)');

  // Every list and overview B may read without naming a row: nothing of A in it.
  for (const [template, operations] of Object.entries(doc.paths)) {
    const op = operations.get;
    if (!op || template.includes('{') || op.responses['101'] || Object.values(op.responses).some((r) => r.content && 'text/event-stream' in r.content)) continue;
    walked.add(`get ${template}`);
    const query = Object.fromEntries((op.parameters ?? []).filter((p) => p.in === 'query' && p.required).map((p) => [p.name, generate(rng(1), p.schema)]));
    await call('get', template + queryString(query), undefined, (s) => s === 200, `B GET ${template}`);
  }
  if (doc.paths['/api/v6/devices/unclaimed'] && a.unclaimed) {
    const own = await api.request('GET', '/api/v6/devices/unclaimed', { token: a.token });
    t.match(JSON.stringify(own.body), a.unclaimed, "A's own unclaimed list shows its DevEUI: the check above could see one");
  }

  // Bodies that name A's rows, on routes B may otherwise use: answered exactly as for an id
  // that names nothing (a fresh UUID), so the answer is no oracle of what A has. DevEUIs and
  // gateway EUIs are left out: a DevEUI is registered by one tenant at a time (409, saying
  // not whose: tenant-isolation.test.ts), and each tenant keeps its own view of a gateway.
  const BODY_REFS = (k: string) => (NAMED[k] && NAMED[k] !== 'dev_eui' && NAMED[k] !== 'gateway_eui') || k === 'site_ids';
  for (const [template, operations] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const schema = op.requestBody?.content['application/json']?.schema;
      const props = Object.keys(schema?.properties ?? {}).filter(BODY_REFS);
      if (!schema || !props.length || template.startsWith('/api/auth')) continue;
      const pathParams = (op.parameters ?? []).filter((p) => p.in === 'path');
      if (pathParams.some((p) => !kindOf(template, p.name))) continue;
      walked.add(`${method} ${template}`);
      const path = template.replace(/\{([^}]+)\}/g, (_, n: string) => encodeURIComponent(b.ids[kindOf(template, n)!]));
      for (const prop of props) {
        const withRef = (id: string) => {
          const json = validBody(schema, b.ids, `${method} ${template}`) as Record<string, unknown>;
          json[prop] = prop === 'site_ids' ? [id] : id;
          return json;
        };
        const nobody = await api.request(method.toUpperCase(), path, { token: b.token, json: withRef(randomUUID()) });
        await call(method, path, withRef(a.ids[NAMED[prop] ?? 'site']), (s) => s === nobody.status,
          `B ${method.toUpperCase()} ${template} with A's ${prop} in the body (as for a UUID of nothing: ${nobody.status})`);
      }
    }
  }

  t.same(await snapshot(api, a.ids.tenant), before, "A's rows in every table are unchanged");
  reportFigures(t, 'tenant-walk', { routes: walked.size, calls, leaks, refused_before_lookup: refusedBody });

  // Live streams: B filtering by A's site or space receives nothing of A, while A's own
  // filtered stream and B's unfiltered one prove events were flowing.
  const sse = (q: string, token: string) => sseConnect(api.url, `/api/v6/events${q}`, { token });
  const wsUrl = api.url.replace(/^http/, 'ws') + '/api/v6/ws';
  const openWs = (q: string) =>
    new Promise<{ ws: WebSocket | null; status: number; messages: unknown[] }>((resolve, reject) => {
      const ws = new WebSocket(`${wsUrl}${q}`, ['bearer', b.token]);
      const messages: unknown[] = [];
      ws.on('message', (data) => messages.push(JSON.parse(String(data))));
      ws.once('open', () => resolve({ ws, status: 101, messages }));
      ws.once('unexpected-response', (_req, res) => resolve({ ws: null, status: res.statusCode ?? 0, messages }));
      ws.once('error', reject);
      t.teardown(() => ws.terminate());
    });
  const bFiltered = [
    await sse(`?site_id=${a.ids.site}`, b.token),
    await sse(`?space_id=${a.ids.space}`, b.token),
  ];
  const bWs = [await openWs(`?site_id=${a.ids.site}`), await openWs(`?space_id=${a.ids.space}`)];
  const aOwn = await sse(`?space_id=${a.ids.space}`, a.token);
  const bAll = await sse('', b.token);
  for (const c of [...bFiltered, aOwn, bAll]) t.teardown(() => c.close());
  for (const c of bFiltered) t.ok(c.status === 200 || c.status === 404, `B's SSE with A's filter: ${c.status}`);
  for (const c of bWs) t.ok(c.status === 101 || c.status === 404, `B's WebSocket with A's filter: ${c.status}`);

  const flip = async (x: Tenant, occupied: boolean) =>
    withTx(api.db.app, { tenantId: x.ids.tenant }, (c) =>
      applySpaceInput(c, x.ids.tenant, x.ids.space, { type: 'sensor', kind: 'status', occupied, frame: { fCnt: 100, at: new Date() }, lastFrame: null }));
  await flip(a, false);
  await aOwn.waitForMessages(1);
  // B's event after A's: once B's own stream has it, A's event has passed every B stream.
  await flip(b, false);
  await bAll.waitForMessages(1);
  t.same(bAll.messages.map((m) => m.json.space_id), [b.ids.space], "B's unfiltered stream has B's event only");
  for (const c of bFiltered) t.same(c.messages, [], "B's SSE filtered by A's id received nothing");
  for (const c of bWs) t.same(c.messages, [], "B's WebSocket filtered by A's id received nothing");
  t.equal(aOwn.messages[0]!.json.space_id, a.ids.space, 'A received its own event: the streams were live');
});
