/**
 * Runs the real API app against a test database on an ephemeral port and gives tests a
 * small JSON client, plus a way to register a tenant and get its owner's token.
 */
import type { Test } from 'tap';
import { buildApp } from '../../api/app.js';
import { createApiServer, listenApi } from '../../api/server.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { testDb, type TestDb } from './db.js';
import { startLive, type Live } from '../../api/live/index.js';

export interface Reply<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export interface Client {
  url: string;
  request<T = any>(method: string, path: string, opts?: { token?: string; json?: unknown; form?: Record<string, string>; headers?: Record<string, string> }): Promise<Reply<T>>;
}

export interface TestApi extends Client {
  db: TestDb;
  config: Config;
  /** The live-event hub and its LISTEN connection, as startApi runs them. */
  live: Live;
  /** Registers a tenant with an owner and returns the owner's tokens and user. */
  register(slug: string): Promise<{ token: string; refresh: string; user: any; password: string; email: string }>;
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    JWT_SECRET: 'test-secret-that-is-at-least-32-characters-long',
    BCRYPT_ROUNDS: '4',
    // The tests stand in for one reverse proxy: a request's X-Forwarded-For names its client.
    TRUST_PROXY_HOPS: '1',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    ...overrides,
  });
}

export function client(url: string): Client {
  return {
    url,
    async request(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      let body: string | undefined;
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      if (opts.json !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(opts.json);
      } else if (opts.form) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        body = new URLSearchParams(opts.form).toString();
      }
      const res = await fetch(url + path, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        /* not JSON: keep the text */
      }
      return { status: res.status, headers: res.headers, body: parsed as any };
    },
  };
}

export async function testApi(t: Test, overrides: Record<string, string> = {}): Promise<TestApi> {
  const db = await testDb(t);
  const config = testConfig(overrides);
  const log = createLogger(config.logLevel, 'test-api');
  const live = await startLive({ config, pool: db.app, databaseUrl: db.url, log });
  const app = buildApp({ config, pool: db.app, log, live: live.hub });
  const server = createApiServer(config, app.callback());
  server.on('upgrade', live.upgrade);
  await listenApi(server, 0, '127.0.0.1');
  t.teardown(async () => {
    await live.stop();
    await new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
  });
  const addr = server.address();
  const c = client(`http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`);
  return {
    ...c,
    db,
    config,
    live,
    async register(slug) {
      const email = `owner@${slug}.example`;
      const password = 'correct horse battery';
      const r = await c.request('POST', '/api/auth/register', {
        json: { email, password, username: `${slug}-owner`, tenant_name: `Tenant ${slug}`, tenant_slug: slug },
      });
      if (r.status !== 201) throw new Error(`register failed: ${r.status} ${JSON.stringify(r.body)}`);
      return { token: r.body.access_token, refresh: r.body.refresh_token, user: r.body.user, password, email };
    },
  };
}
