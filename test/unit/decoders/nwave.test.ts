// Nwave NPS-4.5 and NPS-3.1 decoders: the vendor's published examples, byte for byte, then our own edges.
import t from 'tap';
import { nwaveNps310, nwaveNps405 } from '../../../src/domain/decoders/nwave.js';
import { errorTable, table, type ErrorRow, type Row } from '../../helpers/decoder-table.js';
import type { Reading } from '../../../src/domain/decoders/types.js';


const duration = (previous_state_duration: number, previous_state_duration_error: number | null, previous_state_duration_overflow = false) => ({
  previous_state_duration,
  previous_state_duration_error,
  previous_state_duration_overflow,
});

// Source: TheThingsNetwork/lorawan-devices vendor/nwave/nps405-codec.yaml @ 62c8acdd7f0f1e43b65a86f6c158d83b3d0cd200
// (decoder vendor/nwave/nps405.js @ the same commit). `details` is the yaml's expected `data`.
table(nwaveNps405, [
  [
    'vendor example "Parking Status"',
    1,
    '95',
    {
      kind: 'status',
      occupied: true,
      details: { type: 'parking_status', occupied: true, ...duration(74, 0) },
    },
  ],
  [
    'vendor example "User Registration"',
    10,
    'D11F345678',
    {
      kind: 'other',
      occupied: true,
      details: { type: 'user_registration', occupied: true, ...duration(160, 4), tag_id: '1F345678' },
    },
  ],
  [
    'vendor example "Heartbeat"',
    2,
    '00D3D800590B',
    {
      kind: 'heartbeat',
      occupied: false,
      batteryVolts: 3.344,
      lowBattery: false,
      temperatureC: -10,
      fault: false,
      details: {
        type: 'heartbeat',
        occupied: false,
        battery_voltage: 3.344,
        temperature: -10,
        battery_health: 'normal',
        hw_health_status: 0,
      },
    },
  ],
  [
    'vendor example "Startup"',
    3,
    '0204090200',
    {
      kind: 'startup',
      occupied: false,
      details: { type: 'startup', firmware_version: '2.4.9', reset_cause: 'power_on', occupied: false },
    },
  ],
]);

// Our own vectors, derived from nps405.js @62c8acdd: each band edge of the duration compression.
table(nwaveNps405, [
  ['duration 0, free', 1, '00', { kind: 'status', occupied: false, details: { type: 'parking_status', occupied: false, ...duration(0, 0) } }],
  ['duration 89 is exact', 1, 'B3', { kind: 'status', occupied: true, details: { type: 'parking_status', occupied: true, ...duration(89, 0) } }],
  ['duration 90 starts the 5-step band', 1, 'B4', { kind: 'status', occupied: false, details: { type: 'parking_status', occupied: false, ...duration(90, 4) } }],
  ['duration 119 → 235', 1, 'EE', { kind: 'status', occupied: false, details: { type: 'parking_status', occupied: false, ...duration(235, 4) } }],
  ['duration 120 starts the 60-step band', 1, 'F1', { kind: 'status', occupied: true, details: { type: 'parking_status', occupied: true, ...duration(240, 59) } }],
  ['duration 126 → 600', 1, 'FC', { kind: 'status', occupied: false, details: { type: 'parking_status', occupied: false, ...duration(600, 59) } }],
  ['duration 127 is overflow', 1, 'FF', { kind: 'status', occupied: true, details: { type: 'parking_status', occupied: true, ...duration(660, null, true) } }],
]);

// Our own vectors for battery_health: 2948 mV (byte 0x70) and 2800 mV (0x4B) at 20 °C (0x14) and −10 °C (0xD8).
const heartbeat = (byte0: number, mv: number, celsius: number, health: string, fault: boolean): Reading => ({
  kind: 'heartbeat',
  occupied: (byte0 & 1) === 1,
  batteryVolts: mv / 1000,
  lowBattery: health !== 'normal',
  temperatureC: celsius,
  fault,
  details: {
    type: 'heartbeat',
    occupied: (byte0 & 1) === 1,
    hw_health_status: byte0 & 0x7f,
    temperature: celsius,
    battery_voltage: mv / 1000,
    battery_health: health,
  },
});
table(nwaveNps405, [
  ['heartbeat 2948 mV at 20 °C is low', 2, '007014', heartbeat(0x00, 2948, 20, 'low', false)],
  ['heartbeat 2948 mV at −10 °C is normal (cold thresholds)', 2, '0070D8', heartbeat(0x00, 2948, -10, 'normal', false)],
  ['heartbeat 2800 mV at 20 °C is critical', 2, '004B14', heartbeat(0x00, 2800, 20, 'critical', false)],
  ['heartbeat 2800 mV at −10 °C is low', 2, '004BD8', heartbeat(0x00, 2800, -10, 'low', false)],
  // The codec's hw_health_status (byte0 & 0x7F) includes the occupied bit; it alone is no fault.
  ['occupied heartbeat is not a fault', 2, '01D3D8', heartbeat(0x01, 3344, -10, 'normal', false)],
  ['heartbeat with a health bit set is a fault', 2, '03D3D8', heartbeat(0x03, 3344, -10, 'normal', true)],
]);

table(nwaveNps405, [
  [
    'tag registration without the occupied bit reports nulls, as the codec does',
    10,
    'D01F345678',
    {
      kind: 'other',
      occupied: null,
      details: {
        type: 'user_registration',
        occupied: null,
        previous_state_duration: null,
        previous_state_duration_error: null,
        previous_state_duration_overflow: null,
        tag_id: '1F345678',
      },
    },
  ],
  // Regression: the codec's signed 32-bit shift turns tag FF000001 into "-FFFFFF".
  [
    'tag IDs with the top bit set stay positive and zero-padded',
    10,
    '01FF000001',
    {
      kind: 'other',
      occupied: true,
      details: { type: 'user_registration', occupied: true, ...duration(0, 0), tag_id: 'FF000001' },
    },
  ],
  [
    'reset cause without a name is null',
    3,
    '0204090401',
    { kind: 'startup', occupied: true, details: { type: 'startup', firmware_version: '2.4.9', reset_cause: null, occupied: true } },
  ],
  ['debug frame passes the bytes through', 6, '0102', { kind: 'other', occupied: null, details: { type: 'debug', bytes: [1, 2] } }],
]);

errorTable(nwaveNps405, [
  ['an unknown fPort', 42, '95', 'fPort 42 is not a known nwave-nps405 frame'],
  ['an empty status', 1, '', 'fPort 1 parking status needs 1 byte, got 0'],
  ['a truncated heartbeat', 2, '00', 'fPort 2 heartbeat needs 3 bytes, got 1'],
  ['a truncated startup', 3, '020409', 'fPort 3 startup needs 5 bytes, got 3'],
  ['a truncated tag registration', 10, 'D11F34', 'fPort 10 tag registration needs 5 bytes, got 3'],
]);

// Source: TheThingsNetwork/lorawan-devices vendor/nwave/nps310sm-codec.yaml @ 74279b603e52483873390f57188903111fa3a17e
// (decoder vendor/nwave/nps310sm.js @ 0a254aaa3adb0237faed50aa34916df1d07cf417).
table(nwaveNps310, [
  ['vendor example "Parking Status"', 1, '01', { kind: 'status', occupied: true, details: { type: 'parking_status', occupied: true } }],
  ['vendor example "Heartbeat"', 2, '00', { kind: 'heartbeat', occupied: false, details: { type: 'heartbeat', occupied: false } }],
  [
    'vendor example "Startup"',
    3,
    '010D000200',
    {
      kind: 'startup',
      occupied: false,
      details: { firmware_version: '1.13.0', occupied: false, reset_cause: 'power_on', type: 'startup' },
    },
  ],
]);

// Our own: the NPS-3.1 reset-cause table differs from NPS-4.5's (4 = brownout here, unnamed there).
table(nwaveNps310, [
  [
    'reset cause 4 is brownout',
    3,
    '010D000401',
    { kind: 'startup', occupied: true, details: { type: 'startup', firmware_version: '1.13.0', reset_cause: 'brownout', occupied: true } },
  ],
  ['debug frame', 6, 'AB', { kind: 'other', occupied: null, details: { type: 'debug', bytes: [0xab] } }],
]);

errorTable(nwaveNps310, [
  ['fPort 10 (no tag support on NPS-3.1)', 10, 'D11F345678', 'fPort 10 is not a known nwave-nps310 frame'],
  ['an empty heartbeat', 2, '', 'fPort 2 heartbeat needs 1 byte, got 0'],
  ['a truncated startup', 3, '010D', 'fPort 3 startup needs 5 bytes, got 2'],
]);

t.test('heartbeat periods and battery fallbacks', async (t) => {
  t.strictSame(
    [nwaveNps405.heartbeatMinutes, nwaveNps310.heartbeatMinutes, nwaveNps405.lowBatteryPercent],
    [1440, 1440, 20],
  );
});
