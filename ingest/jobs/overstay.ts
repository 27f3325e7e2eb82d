/**
 * detect_overstays: a space occupied for longer than its config.max_stay_minutes gets one
 * `overstay` space event per stay (from = to = 'occupied', cause 'overstay', at = the
 * moment the stay passed the limit). The event goes through appendSpaceEvents, so it is
 * ordered, announced by NOTIFY and delivered on the live stream like any other; analytics
 * ignore it (it changes no state).
 *
 * Candidates are found across tenants with the ingest role's read policy; each tenant's
 * are then locked (lockSpaces, the lock every state writer takes) and checked again, so a
 * space that was freed meanwhile, or a concurrent run, never yields a second event.
 */
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import type { Logger } from '../../src/log.js';
import { findOverstays, type Overstay } from '../../src/storage/overstays.js';
import { appendSpaceEvents, lockSpaces } from '../../src/storage/space-state.js';
import { OVERSTAY_CAUSE } from '../../src/storage/space-events.js';
import type { JobDef } from './job.js';

export async function detectOverstays(pool: Pool, log: Logger, now: Date): Promise<{ overstays: number; tenants: number }> {
  const candidates = await withTx(pool, {}, (c) => findOverstays(c, now));
  const byTenant = new Map<string, Overstay[]>();
  for (const o of candidates) byTenant.set(o.tenantId, [...(byTenant.get(o.tenantId) ?? []), o]);
  let overstays = 0;
  for (const [tenantId, list] of byTenant) {
    overstays += await withTx(pool, { tenantId }, async (c) => {
      const ids = list.map((o) => o.spaceId);
      await lockSpaces(c, ids);
      const due = await findOverstays(c, now, ids);
      await appendSpaceEvents(
        c,
        tenantId,
        due.map((o) => ({
          spaceId: o.spaceId,
          siteId: o.siteId,
          from: 'occupied' as const,
          to: 'occupied' as const,
          cause: OVERSTAY_CAUSE,
          deviceId: null,
          reservationId: null,
          at: o.exceededAt,
        })),
      );
      return due.length;
    });
  }
  if (overstays > 0) log.info({ overstays, tenants: byTenant.size }, 'overstay events sent');
  return { overstays, tenants: byTenant.size };
}

/** Every 30 s: an overstay event reaches the stream within half a minute of the limit. */
export const detectOverstaysJob: JobDef = {
  name: 'detect_overstays',
  schedule: '*/30 * * * * *',
  async run({ pool, log, now }) {
    const r = await detectOverstays(pool, log, now());
    return { status: 'succeeded', counts: r };
  },
};
