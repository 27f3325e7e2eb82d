/**
 * Owns readiness: the checks that decide whether a process should receive work (a load
 * balancer's or orchestrator's `/ready`), as opposed to liveness (`/health`, which never
 * touches a dependency). Both processes check the database and the schema version;
 * ingest adds its MQTT session.
 */
import type { Pool } from './db/pool.js';
import { LATEST_VERSION, schemaVersion } from './db/migrate.js';

/** A check resolves when healthy and throws (with a message for the operator) when not. */
export type Check = () => Promise<void>;

export interface CheckResult {
  ok: boolean;
  ms: number;
  error?: string;
}

export interface Readiness {
  ok: boolean;
  checks: Record<string, CheckResult>;
}

/**
 * A check that takes longer than this fails: a readiness probe must answer before the
 * probe's own timeout (Kubernetes' default is 1 s, compose's here 5 s), and a database
 * that needs 2 s for `SELECT` is not one to send traffic to.
 */
export const CHECK_TIMEOUT_MS = 2_000;

class CheckTimeout extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
  }
}

async function run(check: Check, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new CheckTimeout(timeoutMs)), timeoutMs);
      }),
    ]);
    return { ok: true, ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { ok: false, ms: Math.round(performance.now() - started), error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

export interface ReadinessOptions {
  /** A runtime pool of the process (its own role, so the check exercises its real path). */
  pool: Pool;
  /** Further checks by name, e.g. ingest's `mqtt`. */
  extra?: Record<string, Check>;
  timeoutMs?: number;
  /** The schema version the code needs; default: the newest migration file. */
  wantedVersion?: number;
}

/**
 * Returns a function that runs every check concurrently and reports each by name. The
 * migrations check reads the version on its own connection, so a database that is down
 * fails both `database` and `migrations`, each with its own message.
 */
export function readinessChecks(opts: ReadinessOptions): () => Promise<Readiness> {
  const timeoutMs = opts.timeoutMs ?? CHECK_TIMEOUT_MS;
  const wanted = opts.wantedVersion ?? LATEST_VERSION();
  const checks: Record<string, Check> = {
    database: async () => {
      await opts.pool.query('SELECT 1');
    },
    migrations: async () => {
      const current = await schemaVersion(opts.pool);
      if (current < wanted) throw new Error(`schema at version ${current}, this baygate needs ${wanted}: run \`npx baygate migrate\``);
    },
    ...opts.extra,
  };
  return async () => {
    const names = Object.keys(checks);
    const results = await Promise.all(names.map((name) => run(checks[name]!, timeoutMs)));
    const out: Record<string, CheckResult> = {};
    names.forEach((name, i) => (out[name] = results[i]!));
    return { ok: results.every((r) => r.ok), checks: out };
  };
}

/** The HTTP body both processes answer `/ready` with. */
export function readinessBody(r: Readiness): { status: 'ready' | 'unavailable'; checks: Record<string, CheckResult>; failed?: string[] } {
  if (r.ok) return { status: 'ready', checks: r.checks };
  return {
    status: 'unavailable',
    checks: r.checks,
    failed: Object.entries(r.checks)
      .filter(([, c]) => !c.ok)
      .map(([name]) => name),
  };
}

/** JSON Schema of that body, for the OpenAPI document. */
export const readinessSchema = {
  type: 'object',
  required: ['status', 'checks'],
  properties: {
    status: { enum: ['ready', 'unavailable'] },
    checks: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['ok', 'ms'],
        properties: { ok: { type: 'boolean' }, ms: { type: 'integer' }, error: { type: 'string' } },
      },
    },
    failed: { type: 'array', items: { type: 'string' }, description: 'Names of the failing checks' },
  },
} as const;
