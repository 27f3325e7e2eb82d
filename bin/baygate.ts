/**
 * The baygate operator CLI (`npx baygate <command>`): migrate the schema, create tenants
 * and users, run the ingest simulator, show the system's status and export the OpenAPI
 * document. Each command parses its own flags (node:util parseArgs) and answers --help.
 * Commands that touch the database use DATABASE_URL: migrations and reads across tenants
 * as its user (the owner), writes under Row-Level Security as the API's role, exactly as
 * the API itself writes them. Modules a command needs are imported when it runs, so
 * `--help` answers without loading the API, bcrypt or the MQTT client.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfig, type Config, type Env } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { createOwnerPool, createRuntimePool, type Pool } from '../src/db/pool.js';
import { LATEST_VERSION, migrate, schemaVersion } from '../src/db/migrate.js';
import { withTx } from '../src/db/tx.js';
import { AppError } from '../src/errors.js';
import { ROLES, type Role } from '../src/auth/roles.js';
import type { SystemStatus } from '../src/storage/admin.js';

const hashPassword = async (password: string, rounds: number) => (await import('bcrypt')).default.hash(password, rounds);

type Values = Record<string, string | boolean | undefined>;

interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Values, config: () => Config): Promise<number>;
}

/** Usage errors exit 2 (as getopt-style tools do), other failures 1. */
class UsageError extends Error {}

/**
 * No CLI command signs or verifies a token, so none needs JWT_SECRET: a placeholder keeps
 * loadConfig from requiring one (NODE_ENV=production) or generating one into DATA_DIR.
 */
const UNUSED_JWT_SECRET = 'the-baygate-cli-signs-no-tokens-----';

// Same rules as registration and POST /api/v6/users (api/routes/auth.ts, users.ts).
const SLUG = /^[a-z0-9-]+$/;
const MAX_SLUG_LENGTH = 63;
const MIN_PASSWORD_LENGTH = 8;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

const log = createLogger('silent', 'baygate-cli');

function databaseUrl(config: Config): string {
  if (!config.databaseUrl) {
    throw new UsageError('DATABASE_URL: is required (the PostgreSQL that the API and ingest use; its user must own the schema)');
  }
  return config.databaseUrl;
}

async function withPool<T>(pool: Pool, fn: (p: Pool) => Promise<T>): Promise<T> {
  try {
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

const ownerPool = (config: Config) => createOwnerPool(databaseUrl(config), { max: 1, log, applicationName: 'baygate-cli' });
const appPool = (config: Config) => createRuntimePool(databaseUrl(config), 'baygate_app', { max: 1, log, applicationName: 'baygate-cli' });

function required(values: Values, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v.trim() === '') throw new UsageError(`--${name} is required`);
  return v.trim();
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** The password from --password-stdin (preferred: it stays out of shell history and `ps`) or --password. */
async function password(values: Values, flag: string): Promise<string> {
  const p = values['password-stdin'] ? await readStdin() : (values[flag] as string | undefined);
  if (p === undefined) throw new UsageError(`--${flag} or --password-stdin is required`);
  if (p.length < MIN_PASSWORD_LENGTH) throw new UsageError(`the password must be at least ${MIN_PASSWORD_LENGTH} characters`);
  return p;
}

function email(values: Values, flag: string): string {
  const e = required(values, flag).toLowerCase();
  if (!EMAIL.test(e)) throw new UsageError(`--${flag} must be an email address`);
  return e;
}

function print(values: Values, json: unknown, text: string): void {
  console.log(values.json ? JSON.stringify(json, null, 2) : text);
}

const commands: Record<string, Command> = {
  migrate: {
    summary: 'apply pending database migrations (run once per release, as the schema owner)',
    usage: `Usage: baygate migrate

Applies the numbered migrations in migrations/ that the database lacks, in order, under an
advisory lock (safe to run from several places at once). Needs DATABASE_URL.`,
    options: {},
    async run(_values, config) {
      return withPool(ownerPool(config()), async (pool) => {
        const applied = await migrate(pool);
        const version = await schemaVersion(pool);
        console.log(applied.length ? `applied migrations ${applied.join(', ')}; schema at version ${version}` : `schema is current (version ${version})`);
        return 0;
      });
    },
  },

  'create-tenant': {
    summary: 'create a tenant with its default site, and optionally its owner',
    usage: `Usage: baygate create-tenant --name NAME --slug SLUG [--owner-email EMAIL --owner-username NAME (--password-stdin | --owner-password PW)] [--json]

Creates a tenant and its default site, as registration does; with --owner-email also the
tenant's owner. Prefer --password-stdin: a password on the command line is visible to
other users (ps) and stays in shell history. Needs DATABASE_URL.`,
    options: {
      name: { type: 'string' },
      slug: { type: 'string' },
      'owner-email': { type: 'string' },
      'owner-username': { type: 'string' },
      'owner-password': { type: 'string' },
      'password-stdin': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    async run(values, config) {
      const name = required(values, 'name');
      const slug = required(values, 'slug');
      if (!SLUG.test(slug) || slug.length > MAX_SLUG_LENGTH) throw new UsageError(`--slug must match ${SLUG.source}, at most ${MAX_SLUG_LENGTH} characters`);
      const owner = values['owner-email']
        ? {
            email: email(values, 'owner-email'),
            username: required(values, 'owner-username'),
            password: await password(values, 'owner-password'),
          }
        : null;
      const cfg = config();
      const hash = owner ? await hashPassword(owner.password, cfg.bcryptRounds) : null;
      const { insertTenant } = await import('../src/storage/tenants.js');
      const { insertSite } = await import('../src/storage/sites.js');
      const { insertMembership, insertUser } = await import('../src/storage/users.js');
      const tenantId = randomUUID();
      const userId = owner ? randomUUID() : null;
      const site = await withPool(appPool(cfg), (pool) =>
        withTx(pool, { tenantId, userId }, async (c) => {
          await insertTenant(c, { id: tenantId, name, slug });
          const s = await insertSite(c, tenantId, { name: 'Default site', is_default: true });
          if (owner && userId && hash) {
            await insertUser(c, { id: userId, email: owner.email, username: owner.username, passwordHash: hash });
            await insertMembership(c, { tenantId, userId, role: 'owner' });
          }
          return s;
        }),
      );
      const result = { tenant_id: tenantId, slug, default_site_id: site.id, owner: owner ? { user_id: userId, email: owner.email } : null };
      print(values, result, `created tenant ${slug} (${tenantId}) with default site ${site.id}${owner ? `; owner ${owner.email} (${userId})` : ''}`);
      return 0;
    },
  },

  'create-user': {
    summary: 'add a user with a role to a tenant',
    usage: `Usage: baygate create-user --tenant SLUG --email EMAIL --username NAME --role ROLE (--password-stdin | --password PW) [--json]

Adds a new user to the tenant with the given role (${ROLES.join(', ')}). Prefer
--password-stdin (see create-tenant). Needs DATABASE_URL.`,
    options: {
      tenant: { type: 'string' },
      email: { type: 'string' },
      username: { type: 'string' },
      role: { type: 'string' },
      password: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    async run(values, config) {
      const slug = required(values, 'tenant');
      const mail = email(values, 'email');
      const username = required(values, 'username');
      const role = required(values, 'role') as Role;
      if (!ROLES.includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
      const pw = await password(values, 'password');
      const cfg = config();
      const { findTenantBySlug } = await import('../src/storage/admin.js');
      const { insertMembership, insertUser } = await import('../src/storage/users.js');
      // The tenant is found by slug across tenants (owner), then written to under its RLS scope.
      const tenant = await withPool(ownerPool(cfg), (pool) => findTenantBySlug(pool, slug));
      if (!tenant) throw new UsageError(`no tenant with slug "${slug}"`);
      const hash = await hashPassword(pw, cfg.bcryptRounds);
      const userId = randomUUID();
      await withPool(appPool(cfg), (pool) =>
        withTx(pool, { tenantId: tenant.id, userId }, async (c) => {
          await insertUser(c, { id: userId, email: mail, username, passwordHash: hash });
          await insertMembership(c, { tenantId: tenant.id, userId, role });
        }),
      );
      print(values, { user_id: userId, email: mail, tenant_id: tenant.id, role }, `created ${role} ${mail} (${userId}) in tenant ${slug}`);
      return 0;
    },
  },

  simulate: {
    summary: 'publish simulated ChirpStack uplinks to an MQTT broker',
    usage: 'Usage: baygate simulate [options] (see --help)',
    options: {},
    run: async () => 0, // forwarded with its arguments to bin/simulate.ts before parsing: see main()
  },

  status: {
    summary: 'counts per table, space states, the last uplink, and the schema version',
    usage: `Usage: baygate status [--json]

Reads as DATABASE_URL's user, across tenants (complete when that user is a superuser or
BYPASSRLS, as the embedded and docker-compose databases are).`,
    options: { json: { type: 'boolean' } },
    async run(values, config) {
      return withPool(ownerPool(config()), async (pool) => {
        const version = await schemaVersion(pool);
        const latest = LATEST_VERSION();
        const { systemStatus } = await import('../src/storage/admin.js');
        const s = await systemStatus(pool);
        const schema = { version, latest, current: version >= latest };
        print(values, { schema, ...s }, statusText(schema, s));
        return 0;
      });
    },
  },

  'export-openapi': {
    summary: 'print the OpenAPI 3.1 document (as served at /openapi.json)',
    usage: `Usage: baygate export-openapi [--out FILE]

Prints the OpenAPI document generated from the API's routes, or writes it to FILE.
Needs no database.`,
    options: { out: { type: 'string' } },
    async run(values, config) {
      const { allRoutes } = await import('../api/app.js');
      const { apiDocument } = await import('../api/routes/docs.js');
      // Building the routes connects to nothing: the pool is only handed to handlers.
      const pool = createRuntimePool('postgres://unused@127.0.0.1:1/unused', 'baygate_app', { max: 1, log, applicationName: 'baygate-cli' });
      return withPool(pool, async () => {
        const doc = JSON.stringify(apiDocument(allRoutes({ config: config(), pool, log })), null, 2) + '\n';
        if (typeof values.out === 'string') writeFileSync(values.out, doc);
        else process.stdout.write(doc);
        return 0;
      });
    },
  },
};

function statusText(schema: { version: number; latest: number; current: boolean }, s: SystemStatus): string {
  const states = Object.entries(s.spaces_by_state)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const rows: [string, string][] = [
    ['schema', `version ${schema.version}${schema.current ? ' (current)' : ` (behind: this baygate needs ${schema.latest}; run baygate migrate)`}`],
    ['tenants', String(s.tenants)],
    ['users', String(s.users)],
    ['sites', String(s.sites)],
    ['spaces', `${s.spaces}${states ? ` (${states})` : ''}`],
    ['devices', String(s.devices)],
    ['readings', String(s.readings)],
    ['last uplink', s.last_uplink ? `${s.last_uplink.at} from ${s.last_uplink.dev_eui.toUpperCase()}` : 'none yet'],
    ['dead letters', String(s.dead_letters)],
    ['unclaimed devices', String(s.unclaimed_devices)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

function mainUsage(): string {
  const width = Math.max(...Object.keys(commands).map((k) => k.length));
  return `Usage: baygate <command> [options]

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  .join('\n')}

Run \`baygate <command> --help\` for a command's options. Configuration comes from the
environment (DATABASE_URL, …; see the README).`;
}

/** Runs one CLI invocation; returns the exit code. `env` is passed to loadConfig only. */
export async function main(argv: string[], env: Env = process.env): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainUsage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    console.error(`baygate: unknown command "${name}"\n\n${mainUsage()}`);
    return 2;
  }
  if (name === 'simulate') return (await import('./simulate.js')).simulateMain(rest);
  try {
    const { values } = parseArgs({
      args: rest,
      strict: true,
      allowPositionals: false,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help) {
      console.log(command.usage);
      return 0;
    }
    return await command.run(values as Values, () => loadConfig({ ...env, JWT_SECRET: UNUSED_JWT_SECRET }));
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`baygate ${name}: ${(err as Error).message}\n\n${command.usage}`);
      return 2;
    }
    if (err instanceof AppError) {
      console.error(`baygate ${name}: ${err.message}`);
      return 1;
    }
    console.error(`baygate ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}
