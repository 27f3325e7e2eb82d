/**
 * Gives each test file its own database, cloned from the template that scripts/test.ts
 * migrated, and the pools the processes use (runtime roles bound by RLS, plus the owner
 * for setup and for checking what was written).
 */
import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import { createOwnerPool, createRuntimePool, type Pool } from '../../src/db/pool.js';
import { createLogger } from '../../src/log.js';
import { withDatabase } from './pg-url.js';

export interface TestDb {
  name: string;
  url: string;
  /** Owner connection: bypasses RLS. For arranging and asserting, never for code under test. */
  owner: Pool;
  app: Pool;
  ingest: Pool;
}

const log = createLogger(process.env.LOG_LEVEL ?? 'silent', 'test');

export function testServerUrl(): string {
  const url = process.env.BAYGATE_TEST_SERVER_URL;
  if (!url) throw new Error('run the tests with `npm test` (scripts/test.ts prepares the database)');
  return url;
}

export async function testDb(t: Test): Promise<TestDb> {
  const serverUrl = testServerUrl();
  const template = process.env.BAYGATE_TEST_TEMPLATE!;
  const name = `baygate_t_${randomBytes(6).toString('hex')}`;
  const admin = createOwnerPool(serverUrl, { max: 1, log, applicationName: 'baygate-test' });
  await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  const url = withDatabase(serverUrl, name);
  const db: TestDb = {
    name,
    url,
    owner: createOwnerPool(url, { max: 2, log, applicationName: 'baygate-test-owner' }),
    app: createRuntimePool(url, 'baygate_app', { max: 5, log, applicationName: 'baygate-test-app' }),
    ingest: createRuntimePool(url, 'baygate_ingest', { max: 5, log, applicationName: 'baygate-test-ingest' }),
  };
  t.teardown(async () => {
    await Promise.all([db.owner.end(), db.app.end(), db.ingest.end()]);
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });
  return db;
}
