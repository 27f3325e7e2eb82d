// Tekzitel TEKZIPARK decoder: the vendor's published examples, byte for byte, then our own edges.
import t from 'tap';
import { tekzitelTekzipark } from '../../../src/domain/decoders/tekzitel.js';
import { errorTable, table, type ErrorRow, type Row } from '../../helpers/decoder-table.js';


const flags = (occupied: 0 | 1, keepAlive: 0 | 1, reset: 0 | 1, No_Beacon: 0 | 1, Radar: 0 | 1, Obstruction: 0 | 1, Good_Battery: 0 | 1) => ({
  occupied,
  keepAlive,
  reset,
  No_Beacon,
  Radar,
  Obstruction,
  Good_Battery,
});

// Source: TheThingsNetwork/lorawan-devices vendor/tekzitel/tekzipark-codec.yaml @ 62c8acdd7f0f1e43b65a86f6c158d83b3d0cd200
// (decoder vendor/tekzitel/tekzipark.js @ 3e90f02d9883c966b204fea5af10650561a150bb). `details` is the yaml's `data`.
table(tekzitelTekzipark, [
  [
    'vendor example "Occupied state with radar detection non-keepalive and non-reset with beacon IDs"',
    1,
    'A82D63B000550120',
    {
      kind: 'status',
      occupied: true,
      lowBattery: false,
      temperatureC: 45,
      details: { ...flags(1, 0, 0, 0, 1, 0, 1), Temperature: 45, Parking_ID: 99, Beacon_RSSI: -80, Beacons: [0x0055, 0x0120] },
    },
  ],
  [
    'vendor example "Occupied state with radar detection non-keepalive and non-reset"',
    1,
    'A82D63',
    {
      kind: 'status',
      occupied: true,
      lowBattery: false,
      temperatureC: 45,
      details: { ...flags(1, 0, 0, 0, 1, 0, 1), Temperature: 45, Parking_ID: 99 },
    },
  ],
  [
    'vendor example "Vacant state with radar detection keepalive and non-reset"',
    1,
    '292E62',
    {
      kind: 'heartbeat',
      occupied: false,
      lowBattery: false,
      temperatureC: 46,
      details: { ...flags(0, 1, 0, 0, 1, 0, 1), Temperature: 46, Parking_ID: 98 },
    },
  ],
]);

// Our own vectors, derived from tekzipark.js @3e90f02d.
table(tekzitelTekzipark, [
  [
    'reset, no beacon, obstruction and a weak battery below zero',
    1,
    '96F601',
    {
      kind: 'status',
      occupied: true,
      lowBattery: true,
      temperatureC: -10,
      details: { ...flags(1, 0, 1, 1, 0, 1, 0), Temperature: -10, Parking_ID: 1 },
    },
  ],
  [
    'an RSSI byte with no beacon IDs gives an empty list, as the codec does',
    1,
    'A82D63B0',
    {
      kind: 'status',
      occupied: true,
      lowBattery: false,
      temperatureC: 45,
      details: { ...flags(1, 0, 0, 0, 1, 0, 1), Temperature: 45, Parking_ID: 99, Beacon_RSSI: -80, Beacons: [] },
    },
  ],
  [
    'fPort 2 debug frame',
    2,
    'A82D63FE020010F005000107',
    {
      kind: 'other',
      occupied: true,
      lowBattery: false,
      temperatureC: 45,
      fault: false,
      details: {
        ...flags(1, 0, 0, 0, 1, 0, 1),
        Temperature: 45,
        Parking_ID: 99,
        Deflection_X: -2,
        Deflection_Y: 2,
        Deflection_Z: 0,
        Baseline_X: 16,
        Baseline_Y: -16,
        Baseline_Z: 5,
        Fault_Code: 0,
        // byte 10 replaces the header flag, as in the codec
        Obstruction: 1,
        D_Reflection: 7,
      },
    },
  ],
  [
    'fPort 2 debug frame with a fault code',
    2,
    '092E62000000000000030000',
    {
      kind: 'other',
      occupied: false,
      lowBattery: true,
      temperatureC: 46,
      fault: true,
      details: {
        ...flags(0, 1, 0, 0, 1, 0, 0),
        Temperature: 46,
        Parking_ID: 98,
        Deflection_X: 0,
        Deflection_Y: 0,
        Deflection_Z: 0,
        Baseline_X: 0,
        Baseline_Y: 0,
        Baseline_Z: 0,
        Fault_Code: 3,
        Obstruction: 0,
        D_Reflection: 0,
      },
    },
  ],
]);

errorTable(tekzitelTekzipark, [
  // the vendor yaml's "Unknown FPort" example (its codec returns errors: ['unknown FPort'])
  ['vendor example "Unknown FPort"', 42, '292E62', 'fPort 42 is not a known tekzitel-tekzipark frame'],
  ['a status without its parking ID', 1, 'A82D', 'fPort 1 status needs 3 bytes, got 2'],
  ['a beacon ID cut in half', 1, 'A82D63B0005501', 'fPort 1 beacon list has 3 bytes, not a whole number of 2-byte IDs'],
  ['a truncated debug frame', 2, 'A82D63FE02', 'fPort 2 debug needs 12 bytes, got 5'],
]);

t.test('heartbeat period and battery fallback', async (t) => {
  t.strictSame([tekzitelTekzipark.heartbeatMinutes, tekzitelTekzipark.lowBatteryPercent], [1440, 20]);
});
