/**
 * Runs the test suite on real services. Without DATABASE_URL it starts an embedded
 * PostgreSQL on a free port; either way it migrates one template database, and each
 * test file clones its own database from it (fast: a file copy), so files are isolated.
 * Arguments are passed to tap (e.g. `npm test -- test/unit`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres, type EmbeddedDb } from '../src/db/embedded.js';
import { createOwnerPool } from '../src/db/pool.js';
import { migrate } from '../src/db/migrate.js';
import { createLogger } from '../src/log.js';
import { withDatabase } from '../test/helpers/pg-url.js';

const log = createLogger(process.env.LOG_LEVEL ?? 'warn', 'test-runner');

async function main(): Promise<number> {
  let embedded: EmbeddedDb | undefined;
  let dataDir: string | undefined;
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    dataDir = mkdtempSync(join(tmpdir(), 'baygate-test-pg-'));
    embedded = await startEmbeddedPostgres({ dataDir, port: 0, log });
    serverUrl = embedded.url;
  }
  const template = `baygate_tmpl_${process.pid}_${Date.now().toString(36)}`;
  const admin = createOwnerPool(serverUrl, { max: 1, log, applicationName: 'baygate-test-runner' });
  try {
    await admin.query(`CREATE DATABASE ${template}`);
    const owner = createOwnerPool(withDatabase(serverUrl, template), { max: 1, log, applicationName: 'baygate-test-runner' });
    try {
      await migrate(owner);
    } finally {
      await owner.end();
    }
    const code = await new Promise<number>((resolve) => {
      const child = spawn('npx', ['tap', ...process.argv.slice(2)], {
        stdio: 'inherit',
        env: { ...process.env, BAYGATE_TEST_SERVER_URL: serverUrl, BAYGATE_TEST_TEMPLATE: template },
      });
      child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
    });
    return code;
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`).catch((e) => log.warn(e));
    await admin.end();
    await embedded?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
