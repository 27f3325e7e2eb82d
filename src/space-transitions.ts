/**
 * Applies one state-machine input to one space outside the ingest batch path (API
 * actions, jobs): lock the space, decide, write the state, record check-in/out effects on
 * the reservation, append the event, notify.
 * Runs inside the caller's transaction, under the caller's tenant setting.
 */
import type { Queryable } from './db/pool.js';
import { decide, type Decision, type SpaceInput } from './domain/state-machine.js';
import { appendSpaceEvents, lockSpaces, writeSpaceStates } from './storage/space-state.js';
import { checkInOutFromEffects, recordCheckInOut } from './storage/reservations.js';

export async function applySpaceInput(
  c: Queryable,
  tenantId: string,
  spaceId: string,
  input: SpaceInput,
  meta: { deviceId?: string | null; reservationId?: string | null; at?: Date } = {},
): Promise<Decision | null> {
  const space = (await lockSpaces(c, [spaceId])).get(spaceId);
  if (!space) return null;
  const d = decide(space, input);
  if (!d.applied) return d;
  const at = meta.at ?? new Date();
  await writeSpaceStates(c, [
    { id: spaceId, currentState: d.next.currentState, sensorState: d.next.sensorState, changedAt: d.transition ? at : null },
  ]);
  await recordCheckInOut(c, checkInOutFromEffects(d.effects.map((effect) => ({ effect, at }))));
  if (d.transition) {
    await appendSpaceEvents(c, tenantId, [
      {
        spaceId,
        siteId: space.siteId,
        from: d.transition.from,
        to: d.transition.to,
        cause: d.transition.cause,
        deviceId: meta.deviceId ?? null,
        reservationId: meta.reservationId ?? d.effects[0]?.reservationId ?? null,
        at,
      },
    ]);
  }
  return d;
}
