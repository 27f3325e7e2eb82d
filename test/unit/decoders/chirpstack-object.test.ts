// chirpstack-object decoder: readings from the `object` a ChirpStack device-profile codec produced.
import t from 'tap';
import { chirpstackObject } from '../../../src/domain/decoders/chirpstack-object.js';
import { DecodeError, type Reading } from '../../../src/domain/decoders/types.js';

const NO_BYTES = new Uint8Array();

type Row = [name: string, object: Record<string, unknown>, expected: Omit<Reading, 'details'>];

// strictSame, not same: same() would accept 1 for true. `details` is always the object itself.
function table(rows: Row[]): void {
  for (const [name, object, expected] of rows) {
    t.test(name, async (t) => {
      t.strictSame(chirpstackObject.decode(1, NO_BYTES, object), { ...expected, details: object });
    });
  }
}

// Objects a TTN-repository codec would put in UplinkEvent.object, copied from the vendors' expected `data`:
// vendor/nwave/nps405-codec.yaml @ 62c8acdd7f0f1e43b65a86f6c158d83b3d0cd200,
// vendor/bosch/tps110-0292-codec.yaml @ 3410a4b514782f139bb5d4e6c9cb27fe01971022,
// vendor/tekzitel/tekzipark-codec.yaml @ 62c8acdd7f0f1e43b65a86f6c158d83b3d0cd200 (TheThingsNetwork/lorawan-devices).
table([
  [
    'Nwave "Parking Status" output',
    { type: 'parking_status', occupied: true, previous_state_duration: 74, previous_state_duration_error: 0, previous_state_duration_overflow: false },
    { kind: 'status', occupied: true },
  ],
  [
    'Nwave "Heartbeat" output: type hint, volts, battery_health, temperature',
    { type: 'heartbeat', occupied: false, battery_voltage: 3.344, temperature: -10, battery_health: 'normal', hw_health_status: 0 },
    { kind: 'heartbeat', occupied: false, batteryVolts: 3.344, lowBattery: false, temperatureC: -10 },
  ],
  [
    'Nwave "Startup" output',
    { type: 'startup', firmware_version: '2.4.9', reset_cause: 'power_on', occupied: false },
    { kind: 'startup', occupied: false },
  ],
  [
    'Nwave tag registration without occupancy (occupied: null)',
    { type: 'user_registration', occupied: null, tag_id: '1F345678' },
    { kind: 'other', occupied: null },
  ],
  ['Bosch "Parking Status" output', { type: 'parking status', occupied: true }, { kind: 'status', occupied: true }],
  [
    'Bosch "Heartbeat" output',
    { type: 'heartbeat', occupied: true, temperature: -1 },
    { kind: 'heartbeat', occupied: true, temperatureC: -1 },
  ],
  [
    'Tekzipark keep-alive output: 0/1 flags, Good_Battery, Temperature',
    { occupied: 0, keepAlive: 1, reset: 0, No_Beacon: 0, Radar: 1, Obstruction: 0, Good_Battery: 1, Temperature: 46, Parking_ID: 98 },
    { kind: 'heartbeat', occupied: false, lowBattery: false, temperatureC: 46 },
  ],
  [
    'Tekzipark change output with a weak battery',
    { occupied: 1, keepAlive: 0, reset: 0, No_Beacon: 0, Radar: 1, Obstruction: 0, Good_Battery: 0, Temperature: 45, Parking_ID: 99 },
    { kind: 'status', occupied: true, lowBattery: true, temperatureC: 45 },
  ],
]);

// ChirpStack's built-in Cayenne LPP codec output for PlacePod payloads (reference notes §3.6: keyed by channel).
table([
  [
    'Cayenne presence on channel 21 (PlacePod 0302016D026700EB156601)',
    { analogInput: { '3': 3.65 }, temperatureSensor: { '2': 23.5 }, presenceSensor: { '21': 1 } },
    { kind: 'status', occupied: true, temperatureC: 23.5 },
  ],
  ['Cayenne presence on channel 55 is a keep-alive', { presenceSensor: { '55': 0 } }, { kind: 'heartbeat', occupied: false }],
  ['Cayenne presence on another channel is a status', { presenceSensor: { '7': 1 } }, { kind: 'status', occupied: true }],
  ['channel 21 wins over 55', { presenceSensor: { '55': 0, '21': 1 } }, { kind: 'status', occupied: true }],
  [
    'two temperature channels are ambiguous and left out',
    { temperatureSensor: { '1': 20, '2': 21 }, presenceSensor: { '21': 0 } },
    { kind: 'status', occupied: false },
  ],
]);

// Our own shapes: status words, kind hints, battery fields.
table([
  ['status "FREE"', { status: 'FREE' }, { kind: 'status', occupied: false }],
  ['status "vacant"', { status: 'vacant' }, { kind: 'status', occupied: false }],
  ['p_state "Occupied"', { p_state: 'Occupied' }, { kind: 'status', occupied: true }],
  ['an unrecognised status word says nothing', { status: 'ok' }, { kind: 'other', occupied: null }],
  ['message_type "keep-alive"', { message_type: 'keep-alive', status: 'occupied' }, { kind: 'heartbeat', occupied: true }],
  ['type "Start_Up" without occupancy', { type: 'Start_Up' }, { kind: 'startup', occupied: null }],
  ['occupied as a string is not guessed at', { occupied: 'yes' }, { kind: 'other', occupied: null }],
  ['an empty object', {}, { kind: 'other', occupied: null }],
  ['a debug frame is other even when it repeats the state', { type: 'debug', occupied: true }, { kind: 'other', occupied: true }],
  [
    'battery percent with its own low flag',
    { occupied: false, batteryPercent: 15, lowBattery: true },
    { kind: 'status', occupied: false, batteryPercent: 15, lowBattery: true },
  ],
  ['battery in millivolts', { occupied: true, battery_mv: 3600 }, { kind: 'status', occupied: true, batteryVolts: 3.6 }],
  ['battery_health "critical" is low', { occupied: true, battery_health: 'critical' }, { kind: 'status', occupied: true, lowBattery: true }],
  ['a fault flag', { occupied: true, fault: true }, { kind: 'status', occupied: true, fault: true }],
  ['non-finite numbers are ignored', { occupied: true, temperature: Number.NaN }, { kind: 'status', occupied: true }],
]);

t.test('details is a copy, not the caller\'s object', async (t) => {
  const object = { occupied: true };
  const reading = chirpstackObject.decode(1, NO_BYTES, object);
  t.not(reading.details, object);
});

t.test('rejects an uplink without a decoded object', async (t) => {
  let thrown: unknown;
  try {
    chirpstackObject.decode(1, Uint8Array.of(0x01));
  } catch (err) {
    thrown = err;
  }
  if (!(thrown instanceof DecodeError)) {
    t.fail(`expected a DecodeError, got ${String(thrown)}`);
    return;
  }
  t.strictSame(
    { decoder: thrown.decoder, reason: thrown.reason },
    { decoder: 'chirpstack-object', reason: 'no decoded object: ChirpStack ran no codec for this device' },
  );
});

t.test('heartbeat period and battery fallback', async (t) => {
  t.strictSame([chirpstackObject.heartbeatMinutes, chirpstackObject.lowBatteryPercent], [1440, 20]);
});
