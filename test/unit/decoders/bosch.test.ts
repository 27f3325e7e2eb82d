// Bosch TPS110 decoder: the vendor's published examples, byte for byte, then our own edges.
import t from 'tap';
import { boschTps110 } from '../../../src/domain/decoders/bosch.js';
import { errorTable, table, type ErrorRow, type Row } from '../../helpers/decoder-table.js';


// Source: TheThingsNetwork/lorawan-devices vendor/bosch/tps110-0292-codec.yaml @ 3410a4b514782f139bb5d4e6c9cb27fe01971022
// (decoder vendor/bosch/tpl110-0292.js @ 0a254aaa3adb0237faed50aa34916df1d07cf417). `details` is the yaml's `data`.
table(boschTps110, [
  ['vendor example "Parking Status"', 1, '01', { kind: 'status', occupied: true, details: { type: 'parking status', occupied: true } }],
  [
    'vendor example "Heartbeat"',
    2,
    '01FF',
    { kind: 'heartbeat', occupied: true, temperatureC: -1, details: { type: 'heartbeat', occupied: true, temperature: -1 } },
  ],
  [
    'vendor example "Startup with codes 804 and 885"',
    3,
    '240300007503000000000000001D020301',
    {
      kind: 'startup',
      occupied: true,
      details: {
        type: 'startup',
        debugCodes: [804, 885],
        firmwareVersion: '0.29.2',
        resetCause: 'system request',
        occupied: true,
      },
    },
  ],
]);

// Our own vectors, derived from tpl110-0292.js @0a254aaa.
table(boschTps110, [
  ['status free', 1, '00', { kind: 'status', occupied: false, details: { type: 'parking status', occupied: false } }],
  // Firmware 0.23.x heartbeats carry no temperature byte.
  ['heartbeat without temperature', 2, '00', { kind: 'heartbeat', occupied: false, details: { type: 'heartbeat', occupied: false } }],
  [
    'heartbeat at 25 °C',
    2,
    '0019',
    { kind: 'heartbeat', occupied: false, temperatureC: 25, details: { type: 'heartbeat', occupied: false, temperature: 25 } },
  ],
  [
    'startup with empty debug slots after power on',
    3,
    '000000000000000000000000001D020200',
    {
      kind: 'startup',
      occupied: false,
      details: { type: 'startup', debugCodes: [], firmwareVersion: '0.29.2', resetCause: 'power on', occupied: false },
    },
  ],
  [
    'startup with an unnamed reset cause reports null',
    3,
    '000000000000000000000000001D020900',
    {
      kind: 'startup',
      occupied: false,
      details: { type: 'startup', debugCodes: [], firmwareVersion: '0.29.2', resetCause: null, occupied: false },
    },
  ],
  [
    'device information passes the bytes through',
    4,
    '0102',
    { kind: 'other', occupied: null, details: { type: 'device information', bytes: [1, 2] } },
  ],
  ['device usage passes the bytes through', 5, '03', { kind: 'other', occupied: null, details: { type: 'device usage', bytes: [3] } }],
  [
    'debug frame: LE timestamp, 12-bit code, LE sequence number',
    6,
    '78563412241300000500',
    { kind: 'other', occupied: null, details: { type: 'debug', timestamp: 0x12345678, debugCode: 804, sequenceNumber: 5 } },
  ],
  // Regression: the codec ORs bytes into a signed 32-bit int, so 0xFFFFFFFF came out as -1.
  [
    'debug timestamps above 2^31 stay positive',
    6,
    'FFFFFFFF75F30000FFFF',
    { kind: 'other', occupied: null, details: { type: 'debug', timestamp: 4294967295, debugCode: 885, sequenceNumber: 65535 } },
  ],
]);

errorTable(boschTps110, [
  ['an unknown fPort', 7, '01', 'fPort 7 is not a known bosch-tps110 frame'],
  ['an empty status', 1, '', 'fPort 1 parking status needs 1 byte, got 0'],
  ['an empty heartbeat', 2, '', 'fPort 2 heartbeat needs 1 byte, got 0'],
  ['a startup one byte short', 3, '240300007503000000000000001D0203', 'fPort 3 startup needs 17 bytes, got 16'],
  ['a truncated debug frame', 6, '78563412', 'fPort 6 debug needs 10 bytes, got 4'],
]);

t.test('heartbeat period and battery fallback', async (t) => {
  t.strictSame([boschTps110.heartbeatMinutes, boschTps110.lowBatteryPercent], [1440, 20]);
});
