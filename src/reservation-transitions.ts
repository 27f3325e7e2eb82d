/**
 * Moves reservations through their lifecycle and their spaces through the state machine
 * together: activation, cancellation (one at a time, for the API) and the time-driven
 * changes (in batches, for the expire_reservations job). Every space change goes through
 * decide() and is recorded as a space_event naming the reservation, with a NOTIFY.
 * Runs inside the caller's transaction, under the caller's tenant setting; each function
 * locks the space before touching the reservation (see src/storage/reservations.ts).
 */
import type { Queryable } from './db/pool.js';
import { decide, type SpaceInput } from './domain/state-machine.js';
import type { SpaceEventNotice } from './events.js';
import { applySpaceInput } from './space-transitions.js';
import { appendSpaceEvents, lockSpaces, writeSpaceStates, type SpaceEventRow, type SpaceStateRow } from './storage/space-state.js';
import {
  applyDueActions,
  checkInOutFromEffects,
  getReservation,
  markActive,
  markCancelled,
  recordCheckInOut,
  reservationSpaceId,
  type DueReservation,
  type Reservation,
  type ReservationStatus,
} from './storage/reservations.js';

/** A reservation created with its window already begun holds its space at once. */
export async function activateNow(c: Queryable, tenantId: string, r: Reservation): Promise<Reservation> {
  await lockSpaces(c, [r.space_id]);
  if (!(await markActive(c, r.id))) return r;
  await applySpaceInput(c, tenantId, r.space_id, { type: 'reservation_start', reservationId: r.id }, { reservationId: r.id });
  return (await getReservation(c, r.id)) ?? r;
}

export type CancelOutcome =
  | { kind: 'missing' }
  /** Cancelled now, or already cancelled before (cancelling twice answers the same). */
  | { kind: 'cancelled'; reservation: Reservation }
  /** It had already completed, expired or been a no-show: nothing to cancel. */
  | { kind: 'final'; reservation: Reservation };

/** Cancels a pending or active reservation; an active one releases its space at once. */
export async function cancelReservation(
  c: Queryable,
  tenantId: string,
  id: string,
  by: string,
  reason: string | null,
): Promise<CancelOutcome> {
  const spaceId = await reservationSpaceId(c, id);
  if (spaceId === null) return { kind: 'missing' };
  await lockSpaces(c, [spaceId]);
  const done = await markCancelled(c, id, by, reason);
  if (!done) {
    const r = await getReservation(c, id);
    if (!r) return { kind: 'missing' };
    return r.status === 'cancelled' ? { kind: 'cancelled', reservation: r } : { kind: 'final', reservation: r };
  }
  if (done.before === 'active') {
    await applySpaceInput(c, tenantId, spaceId, { type: 'reservation_end', reservationId: id }, { reservationId: id });
  }
  return { kind: 'cancelled', reservation: done.reservation };
}

export interface DueResult {
  /** New status of each reservation that changed. */
  changed: Map<string, ReservationStatus>;
  transitions: SpaceEventNotice[];
}

const ACTION_ORDER = { end: 0, no_show: 0, activate: 1 } as const;

/**
 * Applies one tenant's due reservations (from dueReservations) as of `at` (database time):
 * lock their spaces, change each reservation that is still as it was judged, then feed the
 * state machine each change in time order (an end before a start at the same instant), and
 * write states, check-ins, events and notices in batches.
 */
export async function applyDueReservations(c: Queryable, tenantId: string, due: DueReservation[], at: Date): Promise<DueResult> {
  const spaces = await lockSpaces(c, [...new Set(due.map((d) => d.spaceId))]);
  const changed = await applyDueActions(
    c,
    due.map((d) => ({ id: d.id, action: d.action, from: d.status })),
  );
  const ordered = [...due].sort(
    (a, b) => a.dueAt.getTime() - b.dueAt.getTime() || ACTION_ORDER[a.action] - ACTION_ORDER[b.action],
  );
  const touched = new Map<string, { row: SpaceStateRow; changed: boolean }>();
  const events: SpaceEventRow[] = [];
  const effects: Parameters<typeof checkInOutFromEffects>[0] = [];
  for (const d of ordered) {
    const status = changed.get(d.id);
    if (status === undefined) continue;
    const prev = touched.get(d.spaceId);
    const space = prev?.row ?? spaces.get(d.spaceId);
    if (!space) continue; // a deleted space: the reservation's status still changes
    const input: SpaceInput =
      status === 'active' ? { type: 'reservation_start', reservationId: d.id } : { type: 'reservation_end', reservationId: d.id };
    const decision = decide(space, input);
    touched.set(d.spaceId, { row: { ...space, ...decision.next }, changed: (prev?.changed ?? false) || decision.transition !== null });
    for (const effect of decision.effects) effects.push({ effect, at });
    if (decision.transition) {
      events.push({
        spaceId: d.spaceId,
        siteId: space.siteId,
        from: decision.transition.from,
        to: decision.transition.to,
        cause: decision.transition.cause,
        deviceId: null,
        reservationId: d.id,
        at,
      });
    }
  }
  // Only spaces whose state moved are written: the holding reservation is not a column.
  await writeSpaceStates(
    c,
    [...touched.values()]
      .filter((x) => x.changed)
      .map(({ row }) => ({ id: row.id, currentState: row.currentState, sensorState: row.sensorState, changedAt: at })),
  );
  await recordCheckInOut(c, checkInOutFromEffects(effects));
  const transitions = await appendSpaceEvents(c, tenantId, events);
  return { changed, transitions };
}
