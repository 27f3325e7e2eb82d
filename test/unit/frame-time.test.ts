// When an event's own time is used and when baygate's receive time replaces it (issue 17).
import t from 'tap';
import { EARLIEST_PLAUSIBLE_FRAME_MS, frameTime } from '../../src/domain/frame-time.js';

const received = new Date('2026-12-07T10:00:00Z');
const skew = 300_000;
const plus = (ms: number) => new Date(received.getTime() + ms);

t.test('frameTime', async (t) => {
  const cases: [name: string, time: Date, at: Date, corrected: string | null][] = [
    ['on time', received, received, null],
    ['a second behind', plus(-1_000), plus(-1_000), null],
    ['a backlog a day old is genuine', plus(-86_400_000), plus(-86_400_000), null],
    ['ahead within the skew', plus(skew), plus(skew), null],
    ['just beyond the skew', plus(skew + 1), received, 'future'],
    ['9999-12-31', new Date('9999-12-31T00:00:00Z'), received, 'future'],
    ['the Unix epoch (a gateway without a clock)', new Date(0), received, 'too_old'],
    ['the GPS epoch', new Date('1980-01-06T00:00:00Z'), received, 'too_old'],
    ['just before 2015', new Date(EARLIEST_PLAUSIBLE_FRAME_MS - 1), received, 'too_old'],
    ['2015-01-01 itself', new Date(EARLIEST_PLAUSIBLE_FRAME_MS), new Date(EARLIEST_PLAUSIBLE_FRAME_MS), null],
    ['not a time', new Date(Number.NaN), received, 'invalid'],
  ];
  for (const [name, time, at, corrected] of cases) t.same(frameTime(time, received, skew), { at, corrected }, name);
  t.same(frameTime(plus(1), received, 0), { at: received, corrected: 'future' }, 'a skew of 0 allows nothing ahead');
});
