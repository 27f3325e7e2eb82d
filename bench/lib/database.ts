/**
 * The benchmarks' database: with DATABASE_URL, a scratch database on that server (dropped
 * at stop); without, an embedded PostgreSQL in a temporary directory (removed at stop).
 * Either way migrated, so a benchmark starts from the schema as it ships.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import type { Logger } from '../../src/log.js';

export interface BenchDatabase {
  url: string;
  stop(): Promise<void>;
}

export async function benchDatabase(log: Logger, serverUrl = process.env.DATABASE_URL): Promise<BenchDatabase> {
  if (!serverUrl) {
    const dataDir = mkdtempSync(join(tmpdir(), 'baygate-bench-pg-'));
    const db = await startEmbeddedPostgres({ dataDir, port: 0, log });
    return {
      url: db.url,
      async stop() {
        await db.stop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  const name = `baygate_bench_${process.pid}_${Date.now().toString(36)}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  return {
    url: Object.assign(new URL(serverUrl), { pathname: `/${name}` }).toString(),
    stop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}
