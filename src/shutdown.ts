/**
 * Owns how a service process (api/main.ts, ingest/main.ts) ends: the first SIGTERM or
 * SIGINT runs its orderly stop and exits 0; a second signal, a stop that fails, or one that
 * outlasts SHUTDOWN_TIMEOUT_MS exits 1 at once. An unhandled rejection or uncaught
 * exception is logged with its error and then stops the process the same orderly way,
 * rather than Node's bare crash (STYLE.md §12).
 */
import type { Logger } from './log.js';

/**
 * Longest an orderly stop may take. Below docker compose's default stop_grace_period
 * (10 s), after which the engine sends SIGKILL: exiting on our own first leaves a log line
 * that says what was still running. Ingest's batch drain (5 s) fits inside it.
 */
export const SHUTDOWN_TIMEOUT_MS = 8_000;

/**
 * One Ctrl-C reaches a process several times: from the terminal (same process group) and
 * relayed by npm. (The npm scripts run `node --import tsx`, not the tsx CLI, whose parent
 * process would relay it too and then SIGKILL a child too busy to answer within 30 ms:
 * test/integration/npm-scripts-signals.test.ts.) On a loaded machine a relay can lag the
 * original by more than a second (a CI run once lost `npm start`'s "baygate stopped" line
 * that way), so only a signal this long after the first counts as a person's second Ctrl-C.
 * bin/start.ts uses it too.
 */
export const SIGNAL_ECHO_MS = 5_000;

export interface ShutdownOptions {
  log: Logger;
  /** The orderly stop: stop intake, drain, close clients and pools. */
  stop: () => Promise<void>;
  timeoutMs?: number;
  signalEchoMs?: number;
  /** process.exit unless a test passes its own. */
  exit?: (code: number) => void;
}

/** Returns the function a signal or fatal error calls: `reason` is logged, `code` is the exit code of a clean stop. */
export function shutdownHandler(o: ShutdownOptions): (reason: string, code?: number) => Promise<void> {
  const exit = o.exit ?? ((code: number) => process.exit(code));
  const timeoutMs = o.timeoutMs ?? SHUTDOWN_TIMEOUT_MS;
  const echoMs = o.signalEchoMs ?? SIGNAL_ECHO_MS;
  let since = 0;
  return async (reason, code = 0) => {
    if (since) {
      if (Date.now() - since < echoMs) return;
      o.log.warn({ reason }, 'second signal: exiting without finishing the stop');
      exit(1);
      return;
    }
    since = Date.now();
    o.log.info({ reason }, 'stopping');
    const timer = setTimeout(() => {
      o.log.error({ timeoutMs }, 'stop did not finish in time: exiting');
      exit(1);
    }, timeoutMs);
    try {
      await o.stop();
      clearTimeout(timer);
      exit(code);
    } catch (err) {
      clearTimeout(timer);
      o.log.error({ err }, 'stop failed');
      exit(1);
    }
  };
}

/** Installs the handler for SIGTERM, SIGINT and fatal errors on this process. */
export function installShutdown(o: ShutdownOptions): void {
  const shutdown = shutdownHandler(o);
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('unhandledRejection', (err) => {
    o.log.fatal({ err }, 'unhandled rejection');
    void shutdown('unhandledRejection', 1);
  });
  process.on('uncaughtException', (err) => {
    o.log.fatal({ err }, 'uncaught exception');
    void shutdown('uncaughtException', 1);
  });
}
