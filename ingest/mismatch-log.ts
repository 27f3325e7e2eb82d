/**
 * Logs events refused by the application binding (ingest/apply.ts) once per device per
 * interval: a forged or misrouted feed sends thousands of them, and one line per message
 * would bury the log (the dead-letter rows and the refusal counter keep every one).
 */
import type { Logger } from '../src/log.js';
import type { BatchResult } from './apply.js';

/** How often one device's refusals are logged at most. */
export const MISMATCH_LOG_INTERVAL_MS = 5 * 60_000;

/** Devices remembered at most; beyond it the oldest entries go (they are logged again, no harm). */
const MAX_TRACKED_DEVICES = 10_000;

export function applicationMismatchLogger(log: Logger, intervalMs = MISMATCH_LOG_INTERVAL_MS): (result: BatchResult) => void {
  const lastLogged = new Map<string, number>();
  const suppressed = new Map<string, number>();
  return (result) => {
    const now = Date.now();
    for (const m of result.applicationMismatches) {
      const key = `${m.tenantId}:${m.devEui}`;
      const last = lastLogged.get(key);
      if (last !== undefined && now - last < intervalMs) {
        suppressed.set(key, (suppressed.get(key) ?? 0) + 1);
        continue;
      }
      const since = suppressed.get(key) ?? 0;
      suppressed.delete(key);
      // Re-inserted so the Map's order is oldest-logged first.
      lastLogged.delete(key);
      lastLogged.set(key, now);
      if (lastLogged.size > MAX_TRACKED_DEVICES) {
        const oldest = lastLogged.keys().next().value as string;
        lastLogged.delete(oldest);
        suppressed.delete(oldest);
      }
      log.warn(
        { tenantId: m.tenantId, devEui: m.devEui, refusal: m.refusal, applicationId: m.applicationId || null, refusedSinceLastLog: since },
        "event refused: it did not come through the device's own ChirpStack application (dead-lettered as application_mismatch)",
      );
    }
  };
}
