// Every transition of the space state machine, as a table.
import t from 'tap';
import { decide, deriveState, isNewerFrame, type SpaceSnapshot, type SpaceInput, type Frame } from '../../src/domain/state-machine.js';

const at = (s: number) => new Date(Date.UTC(2026, 10, 24, 10, 0, s));
const f = (fCnt: number, s: number): Frame => ({ fCnt, at: at(s) });
const R = 'r-1';

const space = (over: Partial<SpaceSnapshot> = {}): SpaceSnapshot => {
  const base = { sensorState: 'unknown', maintenance: false, heldBy: null, ...over } as Omit<SpaceSnapshot, 'currentState'>;
  return { ...base, currentState: over.currentState ?? deriveState(base) };
};
const sensor = (occupied: boolean, kind: 'status' | 'heartbeat' = 'status', frame = f(10, 10), lastFrame: Frame | null = f(9, 5)): SpaceInput =>
  ({ type: 'sensor', kind, occupied, frame, lastFrame });

type Row = [name: string, before: SpaceSnapshot, input: SpaceInput, to: string, transition: string | null, effects?: string[], applied?: boolean];

const rows: Row[] = [
  // sensors set occupancy
  ['unknown + status occupied', space(), sensor(true), 'occupied', 'unknown→occupied:sensor_status'],
  ['unknown + status free', space(), sensor(false), 'free', 'unknown→free:sensor_status'],
  ['free + status occupied', space({ sensorState: 'free' }), sensor(true), 'occupied', 'free→occupied:sensor_status'],
  ['occupied + status free', space({ sensorState: 'occupied' }), sensor(false), 'free', 'occupied→free:sensor_status'],
  ['free + heartbeat free is no transition', space({ sensorState: 'free' }), sensor(false, 'heartbeat'), 'free', null],
  ['occupied + heartbeat occupied is no transition', space({ sensorState: 'occupied' }), sensor(true, 'heartbeat'), 'occupied', null],
  ['free + heartbeat occupied corrects the state', space({ sensorState: 'free' }), sensor(true, 'heartbeat'), 'occupied', 'free→occupied:sensor_heartbeat'],
  ['unknown + heartbeat free sets it', space(), sensor(false, 'heartbeat'), 'free', 'unknown→free:sensor_heartbeat'],
  // startup
  ['occupied + startup → unknown', space({ sensorState: 'occupied' }), { type: 'startup', frame: f(0, 20), lastFrame: f(9, 5) }, 'unknown', 'occupied→unknown:sensor_startup'],
  ['free + startup → unknown', space({ sensorState: 'free' }), { type: 'startup', frame: f(0, 20), lastFrame: null }, 'unknown', 'free→unknown:sensor_startup'],
  // stale frames change nothing
  ['older fCnt within tolerance is stale', space({ sensorState: 'free' }), sensor(true, 'status', f(8, 10), f(9, 9)), 'free', null, [], false],
  ['same fCnt and time is stale (duplicate)', space({ sensorState: 'free' }), sensor(true, 'status', f(9, 9), f(9, 9)), 'free', null, [], false],
  ['much older time is stale even with a higher fCnt', space({ sensorState: 'free' }), sensor(true, 'status', f(50, 0), f(2, 30)), 'free', null, [], false],
  ['counter reset with later time applies', space({ sensorState: 'free' }), sensor(true, 'status', f(1, 40), f(900, 10)), 'occupied', 'free→occupied:sensor_status'],
  ['stale startup changes nothing', space({ sensorState: 'free' }), { type: 'startup', frame: f(3, 10), lastFrame: f(4, 10) }, 'free', null, [], false],
  // maintenance ignores sensors but keeps sensor_state
  ['maintenance + status occupied stays', space({ maintenance: true, sensorState: 'free' }), sensor(true), 'maintenance', null],
  ['maintenance on', space({ sensorState: 'occupied' }), { type: 'maintenance', on: true }, 'maintenance', 'occupied→maintenance:maintenance_on'],
  ['maintenance off → what the sensor says', space({ maintenance: true, sensorState: 'occupied' }), { type: 'maintenance', on: false }, 'occupied', 'maintenance→occupied:maintenance_off'],
  ['maintenance off with no reading → unknown', space({ maintenance: true }), { type: 'maintenance', on: false }, 'unknown', 'maintenance→unknown:maintenance_off'],
  // comms lost
  ['occupied + comms lost → unknown', space({ sensorState: 'occupied' }), { type: 'comms_lost' }, 'unknown', 'occupied→unknown:comms_lost'],
  ['occupied + sensor removed → unknown', space({ sensorState: 'occupied' }), { type: 'sensor_removed' }, 'unknown', 'occupied→unknown:sensor_removed'],
  ['maintenance + comms lost stays', space({ maintenance: true, sensorState: 'free' }), { type: 'comms_lost' }, 'maintenance', null],
  // reservations
  ['free + reservation start → reserved', space({ sensorState: 'free' }), { type: 'reservation_start', reservationId: R }, 'reserved', 'free→reserved:reservation_start'],
  ['unknown + reservation start → reserved', space(), { type: 'reservation_start', reservationId: R }, 'reserved', 'unknown→reserved:reservation_start'],
  ['occupied + reservation start checks in', space({ sensorState: 'occupied' }), { type: 'reservation_start', reservationId: R }, 'occupied', null, ['check_in']],
  ['reserved + occupied → occupied, checked in', space({ sensorState: 'free', heldBy: { reservationId: R, checkedIn: false, checkedOut: false } }), sensor(true), 'occupied', 'reserved→occupied:check_in', ['check_in']],
  ['reserved + heartbeat free stays reserved', space({ sensorState: 'free', heldBy: { reservationId: R, checkedIn: false, checkedOut: false } }), sensor(false, 'heartbeat'), 'reserved', null],
  ['checked in + free → checked out, free', space({ sensorState: 'occupied', heldBy: { reservationId: R, checkedIn: true, checkedOut: false } }), sensor(false), 'free', 'occupied→free:check_out', ['check_out']],
  ['checked out + occupied again → occupied, no second check-in', space({ sensorState: 'free', heldBy: { reservationId: R, checkedIn: true, checkedOut: true } }), sensor(true), 'occupied', 'free→occupied:sensor_status'],
  ['reserved + end → what the sensor says', space({ sensorState: 'free', heldBy: { reservationId: R, checkedIn: false, checkedOut: false } }), { type: 'reservation_end', reservationId: R }, 'free', 'reserved→free:reservation_end'],
  ['occupied + end stays occupied', space({ sensorState: 'occupied', heldBy: { reservationId: R, checkedIn: true, checkedOut: false } }), { type: 'reservation_end', reservationId: R }, 'occupied', null],
  ['end of another reservation changes nothing', space({ sensorState: 'free', heldBy: { reservationId: R, checkedIn: false, checkedOut: false } }), { type: 'reservation_end', reservationId: 'other' }, 'reserved', null],
  ['maintenance + reservation start stays maintenance', space({ maintenance: true }), { type: 'reservation_start', reservationId: R }, 'maintenance', null],
  ['reserved + startup stays reserved', space({ sensorState: 'free', heldBy: { reservationId: R, checkedIn: false, checkedOut: false } }), { type: 'startup', frame: f(0, 20), lastFrame: f(9, 5) }, 'reserved', null],
];

for (const [name, before, input, to, transition, effects = [], applied = true] of rows) {
  t.test(name, async (t) => {
    const d = decide(before, input);
    t.equal(d.next.currentState, to, 'state');
    t.equal(d.transition ? `${d.transition.from}→${d.transition.to}:${d.transition.cause}` : null, transition, 'transition');
    t.same(d.effects.map((e) => e.type), effects, 'effects');
    t.equal(d.applied, applied, 'applied');
    if (!applied) t.same(d.next, before, 'a stale frame leaves the snapshot untouched');
  });
}

t.test('maintenance still records what the sensor says', async (t) => {
  const d = decide(space({ maintenance: true, sensorState: 'free' }), sensor(true));
  t.equal(d.next.sensorState, 'occupied');
});

t.test('isNewerFrame orders by fCnt within the clock tolerance, by time beyond it', async (t) => {
  t.equal(isNewerFrame(null, f(0, 0)), true);
  t.equal(isNewerFrame(f(5, 10), f(6, 8)), true, 'higher fCnt, 2 s earlier clock: newer');
  t.equal(isNewerFrame(f(5, 10), f(4, 12)), false, 'lower fCnt within tolerance: older');
  t.equal(isNewerFrame(f(5, 10), f(5, 11)), true, 'same fCnt, later time');
  t.equal(isNewerFrame(f(500, 10), f(0, 30)), true, 'counter reset, 20 s later');
  t.equal(isNewerFrame(f(0, 30), f(500, 10)), false, 'pre-reset frame delivered late');
});

// The guard survives one bad value of any kind (issue 17: one `time` of 9999-12-31 froze a space).
t.test('isNewerFrame: one bad stored time cannot freeze the sequence', async (t) => {
  const day = 86_400;
  // A frame received at `rs` seconds, claiming time `s`.
  const rx = (fCnt: number, s: number, rs: number): Frame => ({ fCnt, at: at(s), receivedAt: at(rs) });
  const cases: [name: string, last: Frame, frame: Frame, newer: boolean][] = [
    ['a fast gateway clock (+4 min), then a genuine higher fCnt', f(10, 240), rx(11, 30, 30), true],
    ['a fast gateway clock (+4 min), then a replay of an older fCnt', f(10, 240), rx(9, 30, 30), false],
    ['a fast clock, then a rejoin (fCnt 0) before that time passes: waits at most the skew', f(10, 240), rx(0, 30, 30), false],
    ['a fast clock, then a rejoin once that time has passed', f(10, 240), rx(0, 250, 250), true],
    ['a stored far-future time (written before ingest corrected times), genuine higher fCnt', f(10, 3 * day), rx(11, 30, 30), true],
    ['a stored far-future time, then a rejoin (fCnt 0)', f(10, 3 * day), rx(0, 30, 30), true],
    ['a garbage fCnt, then a genuine frame a minute later', f(4_294_967_295, 0), rx(12, 60, 60), true],
    ['a garbage fCnt, then a genuine frame within the tolerance: the counter still orders', f(4_294_967_295, 0), rx(12, 2, 2), false],
    ['normal: a late frame from before a reset stays stale', f(0, 30), rx(500, 10, 40), false],
    ['normal: a broker backlog drained later keeps its order', f(10, 10), rx(11, 20, 3_600), true],
    ['normal: a redelivered older frame of a backlog stays stale', f(11, 20), rx(10, 10, 3_600), false],
  ];
  for (const [name, last, frame, newer] of cases) t.equal(isNewerFrame(last, frame), newer, name);
});
