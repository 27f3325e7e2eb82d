/**
 * A private Mosquitto for benchmarks, started from the `mosquitto` binary with the
 * deployment's own settings (deploy/mosquitto/mosquitto.conf) on a free loopback port, so
 * the figures measure the configuration a deployment ships and never the machine's broker.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { freePort } from '../../src/net.js';
import type { BrokerIdentity } from '../../src/mqtt/acl.js';

const DEPLOY_CONF = new URL('../../deploy/mosquitto/mosquitto.conf', import.meta.url);
const START_TIMEOUT_MS = 5_000;

export interface PrivateMosquitto {
  url: string;
  version: string;
  /** The broker's process, for CPU accounting (bench/lib/cpu.ts). */
  pid: number;
  /** The deployment settings in force, e.g. max_inflight_messages 1000. */
  settings: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Settings this run sets itself: its listener and persistence, and the deployment's
 * authentication (password and ACL files that entrypoint.sh writes inside the container):
 * a private broker on loopback for a test is anonymous, as the machine's is, unless the
 * caller gives an identity (bench:ingest does, so its figures include Mosquitto's password
 * and per-message ACL checks). The queueing and in-flight settings are the deployment's.
 */
const OWN_SETTINGS = ['listener', 'persistence_location', 'persistence', 'allow_anonymous', 'password_file', 'acl_file'];

/** The deploy config without the settings this run picks itself (OWN_SETTINGS). */
export function deploySettings(): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const line of readFileSync(DEPLOY_CONF, 'utf8').split('\n')) {
    const m = /^\s*([a-z_]+)\s+(.+?)\s*$/.exec(line);
    if (m && !OWN_SETTINGS.includes(m[1]!)) settings[m[1]!] = m[2]!;
  }
  return settings;
}

export function mosquittoVersion(): string | null {
  try {
    return /mosquitto version (\S+)/.exec(execFileSync('mosquitto', ['-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }))?.[1] ?? null;
  } catch (err) {
    const out = String((err as { stdout?: string }).stdout ?? '');
    return /mosquitto version (\S+)/.exec(out)?.[1] ?? null;
  }
}

export interface PrivateMosquittoOptions {
  /** Listen here (a restart keeps its clients' address); a free port when left out. */
  port?: number;
  /**
   * Persist sessions and queued messages in this directory (the caller's, kept after stop),
   * as deploy/mosquitto/mosquitto.conf does: a broker started again on it resumes them.
   */
  persistenceDir?: string;
  /** Only this identity may connect, with its topics as its ACL (bench/lib/broker.ts); the URL then carries its credentials. */
  identity?: BrokerIdentity;
}

/** Starts Mosquitto with the deploy settings; null when the binary is not installed. */
export async function startPrivateMosquitto(opts: PrivateMosquittoOptions = {}): Promise<PrivateMosquitto | null> {
  const version = mosquittoVersion();
  if (!version) return null;
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'baygate-bench-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  const settings = deploySettings();
  // persistence_location must end with a slash (mosquitto.conf(5)). Started as root, Mosquitto
  // drops to the `mosquitto` user (mosquitto.conf(5), `user`), which must be able to write there.
  if (opts.persistenceDir) chmodSync(opts.persistenceDir, 0o777);
  const persistence = opts.persistenceDir ? ['persistence true', `persistence_location ${opts.persistenceDir.replace(/\/?$/, '/')}`] : ['persistence false'];
  const auth = ['allow_anonymous true'];
  const id = opts.identity;
  if (id) {
    // Mosquitto drops to its own user before it reads these (mosquitto.conf(5), `user`).
    chmodSync(dir, 0o755);
    const passwd = join(dir, 'passwd');
    const acl = join(dir, 'acl');
    execFileSync('mosquitto_passwd', ['-b', '-c', passwd, id.username, id.password], { stdio: 'ignore' });
    chmodSync(passwd, 0o644);
    writeFileSync(acl, [`user ${id.username}`, ...id.publish.map((f) => `topic write ${f}`), ...id.subscribe.map((f) => `topic read ${f}`), ''].join('\n'));
    auth.splice(0, 1, 'allow_anonymous false', `password_file ${passwd}`, `acl_file ${acl}`);
  }
  writeFileSync(
    conf,
    [`listener ${port} 127.0.0.1`, ...auth, ...persistence, ...Object.entries(settings).map(([k, v]) => `${k} ${v}`), ''].join('\n'),
  );
  const child: ChildProcess = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = id ? `mqtt://${encodeURIComponent(id.username)}:${encodeURIComponent(id.password)}@127.0.0.1:${port}` : `mqtt://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      await (await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 500 })).endAsync();
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill();
        throw err;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    version,
    pid: child.pid!,
    settings,
    async stop() {
      child.kill();
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
