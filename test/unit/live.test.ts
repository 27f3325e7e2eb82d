// The pure parts of the live stream: event framing, filters, the resume id, and the
// overstay duration syntax of GET /api/v6/spaces?occupied_longer_than=.
import t from 'tap';
import { WireEvent, matches } from '../../api/live/hub.js';
import { filterOf, resumeId } from '../../api/live/filter.js';
import { durationSeconds } from '../../api/routes/spaces.js';
import type { SpaceEvent } from '../../src/storage/space-events.js';

const SITE = '11111111-1111-4111-8111-111111111111';
const SPACE = '22222222-2222-4222-8222-222222222222';

const event = (over: Partial<SpaceEvent> = {}): SpaceEvent => ({
  id: 42,
  type: 'space_state',
  space_id: SPACE,
  code: 'A-1',
  site_id: SITE,
  from: 'free',
  to: 'occupied',
  cause: 'sensor_status',
  at: new Date('2024-01-15T08:15:00.000Z'),
  device_id: null,
  reservation_id: null,
  ...over,
});

t.test('an event is framed once per transport', async (t) => {
  const e = new WireEvent(event({ code: 'line\nbreak' }));
  const data = '{"id":42,"space_id":"' + SPACE + '","code":"line\\nbreak","site_id":"' + SITE +
    '","from":"free","to":"occupied","cause":"sensor_status","at":"2024-01-15T08:15:00.000Z","device_id":null,"reservation_id":null}';
  t.equal(e.sse, `id: 42\nevent: space_state\ndata: ${data}\n\n`, 'SSE: id, event, one data line (a newline in a field stays escaped)');
  t.same(JSON.parse(e.ws.toString()), { id: 42, event: 'space_state', data: JSON.parse(data) }, 'WebSocket: the same fields as JSON');
  t.equal(e.sse, e.sse, 'cached');
});

t.test('filters', async (t) => {
  const e = new WireEvent(event());
  const cases: [string, Parameters<typeof filterOf>[0], boolean][] = [
    ['no filter', {}, true],
    ['its site', { site_id: SITE }, true],
    ['another site', { site_id: SPACE }, false],
    ['its space', { space_id: SPACE }, true],
    ['another space', { space_id: SITE }, false],
    ['its type', { types: 'space_state' }, true],
    ['its type among others', { types: 'reservation,space_state' }, true],
    ['other types', { types: 'reservation,device_health,overstay' }, false],
    ['site and space and type', { site_id: SITE, space_id: SPACE, types: 'space_state' }, true],
  ];
  for (const [name, q, want] of cases) t.equal(matches(filterOf(q), e), want, name);
});

t.test('resume id: Last-Event-ID header, else ?last_event_id=', async (t) => {
  const cases: [string | undefined, number | undefined, number | null][] = [
    [undefined, undefined, null],
    ['17', undefined, 17],
    [' 17 ', 3, 17],
    [undefined, 3, 3],
    ['not-ours', 3, 3],
    ['-1', undefined, null],
    ['1e3', undefined, null],
  ];
  for (const [header, query, want] of cases) {
    t.equal(resumeId(header, query === undefined ? {} : { last_event_id: query }), want, `${header} / ${query}`);
  }
});

t.test('occupied_longer_than durations', async (t) => {
  const cases: [string, number][] = [['90s', 90], ['30m', 1800], ['30', 1800], ['2h', 7200], ['1d', 86400], ['0m', 0]];
  for (const [text, seconds] of cases) t.equal(durationSeconds(text), seconds, text);
});
