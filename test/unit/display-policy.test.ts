// Display signs: which state a space's sign is in, what each state shows under a tenant's
// policy, the bytes each display model is sent, and the command topic and body, as tables.
import t from 'tap';
import {
  DEFAULT_DISPLAY_RULES, displayLook, displayState, effectiveRules, type DisplayFacts, type DisplayRuleOverrides,
} from '../../src/domain/display-policy.js';
import { DISPLAY_ENCODINGS, displayEncodingFor } from '../../src/domain/display-encodings.js';
import { compileCommandTopic, downlinkCommand } from '../../ingest/displays.js';

t.test('display state: maintenance > reserved now > sensor occupied > sensor free > unknown', async (t) => {
  const facts = (over: Partial<DisplayFacts>): DisplayFacts => ({ maintenance: false, reservedNow: false, sensorState: 'unknown', ...over });
  const rows: [string, Partial<DisplayFacts>, string][] = [
    ['nothing known', {}, 'unknown'],
    ['sensor free', { sensorState: 'free' }, 'free'],
    ['sensor occupied', { sensorState: 'occupied' }, 'occupied'],
    ['reserved, sensor free', { reservedNow: true, sensorState: 'free' }, 'reserved'],
    ['reserved wins over occupied (the holder parked)', { reservedNow: true, sensorState: 'occupied' }, 'reserved'],
    ['reserved, sensor unknown', { reservedNow: true }, 'reserved'],
    ['maintenance wins over occupied', { maintenance: true, sensorState: 'occupied' }, 'maintenance'],
    ['maintenance wins over reserved', { maintenance: true, reservedNow: true, sensorState: 'free' }, 'maintenance'],
  ];
  for (const [name, over, want] of rows) t.equal(displayState(facts(over)), want, name);
});

t.test('policy: defaults, overrides per state and per field', async (t) => {
  const rows: [string, DisplayRuleOverrides | null, string, { colour: string; blink: boolean }][] = [
    ['no policy: default free', null, 'free', { colour: '#00ff00', blink: false }],
    ['no policy: default unknown blinks', null, 'unknown', { colour: '#ffffff', blink: true }],
    ['colour override, blink kept', { occupied: { colour: '#FF00FF' } }, 'occupied', { colour: '#ff00ff', blink: false }],
    ['blink override, colour kept', { reserved: { blink: true } }, 'reserved', { colour: '#ffbf00', blink: true }],
    ['both overridden', { maintenance: { colour: '#123456', blink: true } }, 'maintenance', { colour: '#123456', blink: true }],
    ['an override of another state changes nothing here', { free: { colour: '#000000' } }, 'occupied', { colour: '#ff0000', blink: false }],
  ];
  for (const [name, overrides, state, want] of rows) {
    t.same(displayLook(state as never, effectiveRules(overrides)), want, name);
  }
  t.same(effectiveRules({}), DEFAULT_DISPLAY_RULES, 'empty overrides are the defaults');
});

t.test('encodings: fPort and bytes per display model', async (t) => {
  const rows: [string, string, { colour: string; blink: boolean }, number, string][] = [
    ['generic red steady', 'generic', { colour: '#ff0000', blink: false }, 10, 'ff000000'],
    ['generic amber blinking', 'generic', { colour: '#ffbf00', blink: true }, 10, 'ffbf0001'],
    ['generic rgb order', 'generic', { colour: '#123456', blink: false }, 10, '12345600'],
    // The field-tested Busylight reference: steady red is FF00006400, green 0000FF6400.
    ['kuando red steady', 'kuando-busylight', { colour: '#ff0000', blink: false }, 15, 'ff00006400'],
    ['kuando green steady (blue byte before green)', 'kuando-busylight', { colour: '#00ff00', blink: false }, 15, '0000ff6400'],
    ['kuando blue steady', 'kuando-busylight', { colour: '#0000ff', blink: false }, 15, '00ff006400'],
    ['kuando rgb order', 'kuando-busylight', { colour: '#123456', blink: false }, 15, '1256346400'],
    ['kuando white blinking', 'kuando-busylight', { colour: '#ffffff', blink: true }, 15, 'ffffff0a0a'],
  ];
  for (const [name, encoding, look, fPort, hex] of rows) {
    const frame = DISPLAY_ENCODINGS[encoding]!.encode(look);
    t.same({ fPort: frame.fPort, hex: frame.data.toString('hex') }, { fPort, hex }, name);
  }
});

t.test('encoding chosen per device', async (t) => {
  const rows: [string, { model: string | null; config: Record<string, unknown> }, string][] = [
    ['no model, no config', { model: null, config: {} }, 'generic'],
    ['a Busylight by model name', { model: 'Kuando Busylight IoT Omega', config: {} }, 'kuando-busylight'],
    ['config names the encoding', { model: 'Kuando Busylight', config: { display_encoding: 'generic' } }, 'generic'],
    ['an unknown configured encoding falls back', { model: null, config: { display_encoding: 'nope' } }, 'generic'],
  ];
  for (const [name, device, want] of rows) t.equal(displayEncodingFor(device).name, want, name);
});

t.test('command topic and body', async (t) => {
  const topic = compileCommandTopic('application/{application_id}/device/{dev_eui}/command/{command}');
  t.equal(topic({ applicationId: 'app-1', devEui: '70B3D5E75E00000A', command: 'down' }), 'application/app-1/device/70b3d5e75e00000a/command/down', 'DevEUI lowercase');
  const handlebars = compileCommandTopic('pfx/application/{{ application_id }}/device/{{dev_eui}}/command/{{command}}');
  t.equal(handlebars({ applicationId: 'a', devEui: 'AB', command: 'down' }), 'pfx/application/a/device/ab/command/down', "ChirpStack's own {{…}} form");
  const bad: [string, RegExp][] = [
    ['application/{application_id}/device/{dev_eui}/command', /no \{command\}/],
    ['application/{application_id}/device/+/command/{command}', /no \{dev_eui\}|literal level/],
    ['application/{app}/device/{dev_eui}/command/{command}', /unknown placeholder \{app\}/],
    ['application/x{application_id}/device/{dev_eui}/command/{command}', /whole placeholder/],
  ];
  for (const [template, err] of bad) t.throws(() => compileCommandTopic(template), err, template);
  t.same(
    JSON.parse(downlinkCommand({
      queueItemId: '00000000-0000-4000-8000-000000000001', devEui: '70B3D5E75E00000A', confirmed: true, fPort: 15, data: Buffer.from('ff00006400', 'hex'),
      expiresAt: new Date('2026-12-07T02:00:30.250Z'),
    })),
    // expiresAt: DownlinkCommand.expires_at, a Timestamp in RFC 3339 (ChirpStack ≥ 4.14).
    { id: '00000000-0000-4000-8000-000000000001', devEui: '70b3d5e75e00000a', confirmed: true, fPort: 15, data: '/wAAZAA=', expiresAt: '2026-12-07T02:00:30.250Z' },
  );
});
