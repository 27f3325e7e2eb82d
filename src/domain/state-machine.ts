/**
 * The one place that decides a parking space's state. Pure: a snapshot of the space and
 * one input in, the next snapshot, the transition (if any) and side effects out.
 *
 * A space's `current_state` is derived from three facts kept apart:
 *   - the operator's maintenance flag (or the space being disabled),
 *   - `sensor_state`, what the sensor last said (free / occupied / unknown),
 *   - the reservation that holds the space now, if any, and whether it was checked in/out.
 * Derivation, highest priority first: maintenance → sensor occupied → held by a
 * reservation (not yet vacated) → sensor free → unknown. So maintenance ignores sensors
 * (they still update sensor_state), a reserved space that becomes occupied is
 * `occupied`, and a startup frame leaves the space `unknown` until the next status.
 */

export const SPACE_STATES = ['free', 'occupied', 'reserved', 'maintenance', 'unknown'] as const;
export type SpaceState = (typeof SPACE_STATES)[number];
export type SensorState = 'free' | 'occupied' | 'unknown';

export interface HeldBy {
  reservationId: string;
  checkedIn: boolean;
  checkedOut: boolean;
}

export interface SpaceSnapshot {
  currentState: SpaceState;
  sensorState: SensorState;
  /** Operator maintenance, or the space is disabled. */
  maintenance: boolean;
  /** The reservation whose window holds the space now (status active), if any. */
  heldBy: HeldBy | null;
}

/** Identifies an uplink in a device's sequence: LoRaWAN frame counter and reception time. */
export interface Frame {
  fCnt: number;
  /** The time the frame is applied at: ChirpStack's `time`, or baygate's receive time when that was implausible (src/domain/frame-time.ts). */
  at: Date;
  /** When baygate received it: the guard's notion of "now". Absent for stored frames; without it only `at` and `fCnt` order. */
  receivedAt?: Date;
}

export type SpaceInput =
  | { type: 'sensor'; kind: 'status' | 'heartbeat'; occupied: boolean; frame: Frame; lastFrame: Frame | null }
  | { type: 'startup'; frame: Frame; lastFrame: Frame | null }
  | { type: 'comms_lost' }
  /** The space's sensor was unassigned or moved elsewhere: nothing reports for it any more. */
  | { type: 'sensor_removed' }
  | { type: 'maintenance'; on: boolean }
  | { type: 'reservation_start'; reservationId: string }
  | { type: 'reservation_end'; reservationId: string };

export type Cause =
  | 'sensor_status'
  | 'sensor_heartbeat'
  | 'sensor_startup'
  | 'comms_lost'
  | 'sensor_removed'
  | 'maintenance_on'
  | 'maintenance_off'
  | 'reservation_start'
  | 'reservation_end'
  | 'check_in'
  | 'check_out';

export type Effect = { type: 'check_in'; reservationId: string } | { type: 'check_out'; reservationId: string };

export interface Decision {
  next: SpaceSnapshot;
  /** Set only when current_state changes. */
  transition: { from: SpaceState; to: SpaceState; cause: Cause } | null;
  /** False when a frame was older than the last one applied: it is stored but changes nothing. */
  applied: boolean;
  effects: Effect[];
}

/**
 * Two frames further apart than this are ordered by reception time; closer ones by
 * frame counter, then time. Time alone cannot order frames received within the same
 * instant (or by gateways with skewed clocks); the counter alone cannot survive a
 * device rejoin, which restarts it at 0. A broker redelivery keeps the frame's original
 * `time` (ChirpStack stamps it at reception), so a late copy never passes as newer.
 */
export const FRAME_CLOCK_TOLERANCE_MS = 5_000;

/**
 * A stored last frame whose time lies this far ahead of a new frame's reception is a bad
 * value (written before ingest corrected frame times, or by hand), not a clock to respect:
 * the guard ignores it rather than let it freeze the space. Ingest never applies a frame
 * more than INGEST_MAX_CLOCK_SKEW_SECONDS ahead of its reception, and src/config.ts caps
 * that setting at this same day.
 */
export const FRAME_MAX_LEAD_MS = 86_400_000;

/**
 * Whether `frame` comes after `last` in the device's sequence. It survives one bad value of
 * any kind (issue 17): a last frame stamped ahead of the clock by a fast gateway yields to
 * a frame with a higher counter, and an impossible stored time (FRAME_MAX_LEAD_MS) to any
 * frame, while a counter reset (rejoin) is still ordered by time.
 */
export function isNewerFrame(last: Frame | null, frame: Frame): boolean {
  if (last === null) return true;
  // How far the last applied frame's time lies ahead of this frame's reception.
  const lead = frame.receivedAt ? last.at.getTime() - frame.receivedAt.getTime() : Number.NEGATIVE_INFINITY;
  if (lead > FRAME_MAX_LEAD_MS) return true;
  const dt = frame.at.getTime() - last.at.getTime();
  if (Math.abs(dt) > FRAME_CLOCK_TOLERANCE_MS) {
    if (dt > 0) return true;
    // Older by time. When the last frame's time is still in the future its clock ran fast,
    // and the frame counter is the better witness; otherwise time rules (a late, pre-reset
    // frame stays stale).
    return lead > FRAME_CLOCK_TOLERANCE_MS && frame.fCnt > last.fCnt;
  }
  if (frame.fCnt !== last.fCnt) return frame.fCnt > last.fCnt;
  return dt > 0;
}

export function deriveState(s: Omit<SpaceSnapshot, 'currentState'>): SpaceState {
  if (s.maintenance) return 'maintenance';
  if (s.sensorState === 'occupied') return 'occupied';
  if (s.heldBy && !s.heldBy.checkedOut) return 'reserved';
  if (s.sensorState === 'free') return 'free';
  return 'unknown';
}

function settle(prev: SpaceSnapshot, facts: Omit<SpaceSnapshot, 'currentState'>, cause: Cause, effects: Effect[]): Decision {
  const to = deriveState(facts);
  const next = { ...facts, currentState: to };
  const transition = to === prev.currentState ? null : { from: prev.currentState, to, cause };
  return { next, transition, applied: true, effects };
}

const STALE = (prev: SpaceSnapshot): Decision => ({ next: prev, transition: null, applied: false, effects: [] });

export function decide(prev: SpaceSnapshot, input: SpaceInput): Decision {
  const facts = { sensorState: prev.sensorState, maintenance: prev.maintenance, heldBy: prev.heldBy };
  switch (input.type) {
    case 'sensor': {
      if (!isNewerFrame(input.lastFrame, input.frame)) return STALE(prev);
      const sensorState: SensorState = input.occupied ? 'occupied' : 'free';
      const effects: Effect[] = [];
      let heldBy = prev.heldBy;
      let cause: Cause = input.kind === 'status' ? 'sensor_status' : 'sensor_heartbeat';
      // Check-in and check-out follow the sensor, also under maintenance: they are facts about the reservation.
      if (heldBy && input.occupied && !heldBy.checkedIn) {
        heldBy = { ...heldBy, checkedIn: true };
        effects.push({ type: 'check_in', reservationId: heldBy.reservationId });
        cause = 'check_in';
      } else if (heldBy && !input.occupied && heldBy.checkedIn && !heldBy.checkedOut) {
        heldBy = { ...heldBy, checkedOut: true };
        effects.push({ type: 'check_out', reservationId: heldBy.reservationId });
        cause = 'check_out';
      }
      return settle(prev, { ...facts, sensorState, heldBy }, cause, effects);
    }
    case 'startup':
      if (!isNewerFrame(input.lastFrame, input.frame)) return STALE(prev);
      return settle(prev, { ...facts, sensorState: 'unknown' }, 'sensor_startup', []);
    case 'comms_lost':
      return settle(prev, { ...facts, sensorState: 'unknown' }, 'comms_lost', []);
    case 'sensor_removed':
      return settle(prev, { ...facts, sensorState: 'unknown' }, 'sensor_removed', []);
    case 'maintenance':
      return settle(prev, { ...facts, maintenance: input.on }, input.on ? 'maintenance_on' : 'maintenance_off', []);
    case 'reservation_start': {
      // A vehicle already in the space when the window opens counts as the reservation's arrival.
      const occupied = prev.sensorState === 'occupied';
      const heldBy: HeldBy = { reservationId: input.reservationId, checkedIn: occupied, checkedOut: false };
      const effects: Effect[] = occupied ? [{ type: 'check_in', reservationId: input.reservationId }] : [];
      return settle(prev, { ...facts, heldBy }, 'reservation_start', effects);
    }
    case 'reservation_end':
      if (prev.heldBy?.reservationId !== input.reservationId) return settle(prev, facts, 'reservation_end', []);
      return settle(prev, { ...facts, heldBy: null }, 'reservation_end', []);
  }
}
