/**
 * Owns the schema version: numbered plain-SQL files in migrations/, applied in order,
 * each in its own transaction, under an advisory lock so that several processes
 * starting at once migrate exactly once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Pool } from './pool.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));
/** Arbitrary constant naming baygate's migration lock among the database's advisory locks. */
const MIGRATION_LOCK_KEY = 727_001;
const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .map((file) => ({ file, m: FILE_PATTERN.exec(file) }))
    .filter((x): x is { file: string; m: RegExpExecArray } => x.m !== null)
    .map(({ file, m }) => ({ version: Number(m[1]), name: m[2]!, sql: readFileSync(`${dir}/${file}`, 'utf8') }))
    .sort((a, b) => a.version - b.version);
}

export const LATEST_VERSION = (): number => listMigrations().at(-1)?.version ?? 0;

/** Applies pending migrations; returns the versions applied. Runs as the owner (DATABASE_URL's user). */
export async function migrate(owner: Pool, migrations = listMigrations()): Promise<number[]> {
  const client = await owner.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set(
      (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version),
    );
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${m.version}_${m.name} failed: ${(err as Error).message}`);
      }
      applied.push(m.version);
    }
    return applied;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    client.release();
  }
}

export class SchemaOutOfDateError extends Error {
  constructor(current: number, wanted: number) {
    super(
      `database schema is at version ${current}, this baygate needs ${wanted}: ` +
        'run `npx baygate migrate` (or `npm start`, which migrates) first',
    );
    this.name = 'SchemaOutOfDateError';
  }
}

/** The schema version the database is at (0 when never migrated). */
export async function schemaVersion(pool: Pool): Promise<number> {
  const r = await pool.query<{ v: number | null }>(
    `SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN 0
                 ELSE (SELECT coalesce(max(version), 0) FROM schema_migrations) END AS v`,
  );
  return r.rows[0]?.v ?? 0;
}

/** Refuses to start a process against a schema older than its code. */
export async function assertSchemaCurrent(pool: Pool): Promise<void> {
  const current = await schemaVersion(pool);
  const wanted = LATEST_VERSION();
  if (current < wanted) throw new SchemaOutOfDateError(current, wanted);
}
