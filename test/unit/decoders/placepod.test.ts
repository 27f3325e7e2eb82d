// PNI PlacePod decoder: PNI's own Cayenne-LPP vectors and the protocol-table cases, then our own edges.
import t from 'tap';
import { pniPlacepod } from '../../../src/domain/decoders/placepod.js';
import { errorTable, hex, table, type ErrorRow, type Row } from '../../helpers/decoder-table.js';


// PlacePod's sources name no fPort; the decoder ignores it, so every row uses 1.
const PORT = 1;
const BATTERY_AND_TEMPERATURE = [{ analog_input_3: 3.65 }, { temperature_2: 23.5 }];

// Source: PNI-Cloud/PlacePod-Api test/CayenneLpp.test.js @ 5974aee757bceaf3ccce52081c83e8ff0b74dbbc.
// `details.lpp` is that test's `expected` (the cayenne-lpp package's output); the rest is our mapping
// after models/Packet.js (mode, keepAlive) and the protocol table (0x21 ≥ 0x80 = reboot/recalibration).
table(pniPlacepod, [
  [
    'PNI vector "car presence"',
    PORT,
    '156601',
    { kind: 'status', occupied: true, details: { lpp: [{ presence_21: 1 }], mode: 'presence', keepAlive: false } },
  ],
  [
    // Two changes in one frame; the later one is the current state.
    'PNI vector "double car presence"',
    PORT,
    '156601156600',
    { kind: 'status', occupied: false, details: { lpp: [{ presence_21: 1 }, { presence_21: 0 }], mode: 'presence', keepAlive: false } },
  ],
  [
    'PNI vector "car counter"',
    PORT,
    '21001F',
    { kind: 'other', occupied: null, details: { lpp: [{ digital_input_33: 31 }], mode: 'counter', count: 31 } },
  ],
  [
    'PNI vector "double car counter"',
    PORT,
    '21001F210020',
    { kind: 'other', occupied: null, details: { lpp: [{ digital_input_33: 31 }, { digital_input_33: 32 }], mode: 'counter', count: 32 } },
  ],
  [
    'PNI vector "temperature and battery"',
    PORT,
    '0302016D026700EB',
    { kind: 'other', occupied: null, batteryVolts: 3.65, temperatureC: 23.5, details: { lpp: BATTERY_AND_TEMPERATURE } },
  ],
  [
    'PNI vector "car presence with temperature and battery"',
    PORT,
    '0302016D026700EB156601',
    {
      kind: 'status',
      occupied: true,
      batteryVolts: 3.65,
      temperatureC: 23.5,
      details: { lpp: [...BATTERY_AND_TEMPERATURE, { presence_21: 1 }], mode: 'presence', keepAlive: false },
    },
  ],
  [
    'PNI vector "car counter with temperature and battery" (count 0x80 = reboot/recalibration)',
    PORT,
    '0302016D026700EB210080',
    {
      kind: 'startup',
      occupied: null,
      batteryVolts: 3.65,
      temperatureC: 23.5,
      details: { lpp: [...BATTERY_AND_TEMPERATURE, { digital_input_33: 128 }], mode: 'counter', recalibrationOrReboot: true },
    },
  ],
  [
    'PNI vector "car presence keep alive"',
    PORT,
    '376601',
    { kind: 'heartbeat', occupied: true, details: { lpp: [{ presence_55: 1 }], keepAlive: true, mode: 'presence' } },
  ],
  [
    // PNI's vector reuses the car-counter payload under this name.
    'PNI vector "car counter keep alive"',
    PORT,
    '21001F',
    { kind: 'other', occupied: null, details: { lpp: [{ digital_input_33: 31 }], mode: 'counter', count: 31 } },
  ],
  [
    'PNI vector "sensor error"',
    PORT,
    '050006060003',
    { kind: 'other', occupied: null, fault: true, details: { lpp: [{ digital_input_5: 6 }, { digital_input_6: 3 }] } },
  ],
]);

// Source: sjkp/PNI.PlacePod PNI.PlacePod.Test/DecoderTest.cs @ 216bd899ddfeb252bec3a578f7e0517fc31e7c70, which
// exercises the channel table copied from PNI's Communications Protocol into PNI.PlacePod/Decoder.cs.
table(pniPlacepod, [
  ['DecoderTest TemperatureTest 24.0 °C', PORT, '026700F0', { kind: 'other', occupied: null, temperatureC: 24, details: { lpp: [{ temperature_2: 24 }] } }],
  ['DecoderTest TemperatureTest 49.6 °C', PORT, '026701F0', { kind: 'other', occupied: null, temperatureC: 49.6, details: { lpp: [{ temperature_2: 49.6 }] } }],
  ['DecoderTest BatteryTest 3.5 V', PORT, '0302015E', { kind: 'other', occupied: null, batteryVolts: 3.5, details: { lpp: [{ analog_input_3: 3.5 }] } }],
  [
    'DecoderTest RealDataTest battery and temperature',
    PORT,
    '0302016c026700dc',
    { kind: 'other', occupied: null, batteryVolts: 3.64, temperatureC: 22, details: { lpp: [{ analog_input_3: 3.64 }, { temperature_2: 22 }] } },
  ],
  [
    'DecoderTest OccupiedTest vacant',
    PORT,
    '156600',
    { kind: 'status', occupied: false, details: { lpp: [{ presence_21: 0 }], mode: 'presence', keepAlive: false } },
  ],
  [
    // Recalibration leaves the state uncertain until the next status, so it reads as a startup.
    'DecoderTest RecalibateTest succeeded',
    PORT,
    '010101',
    { kind: 'startup', occupied: null, details: { lpp: [{ digital_output_1: 1 }], recalibrated: true } },
  ],
  [
    'DecoderTest RecalibateTest failed',
    PORT,
    '010100',
    { kind: 'startup', occupied: null, details: { lpp: [{ digital_output_1: 0 }], recalibrated: false } },
  ],
  ['DecoderTest DeactivateTest', PORT, '1C0101', { kind: 'other', occupied: null, details: { lpp: [{ digital_output_28: 1 }], deactivated: true } }],
  [
    'DecoderTest VehicleTest reboot/recalibration marker',
    PORT,
    '210080',
    { kind: 'startup', occupied: null, details: { lpp: [{ digital_input_33: 128 }], mode: 'counter', recalibrationOrReboot: true } },
  ],
  [
    'DecoderTest KeepAliveTest vacant',
    PORT,
    '376600',
    { kind: 'heartbeat', occupied: false, details: { lpp: [{ presence_55: 0 }], keepAlive: true, mode: 'presence' } },
  ],
  [
    'DecoderTest KeepAliveTest counting mode',
    PORT,
    '370020',
    { kind: 'heartbeat', occupied: null, details: { lpp: [{ digital_input_55: 32 }], keepAlive: true, mode: 'counter', count: 32 } },
  ],
  [
    'DecoderTest KeepAliveTest counting mode after a reboot',
    PORT,
    '370080',
    { kind: 'heartbeat', occupied: null, details: { lpp: [{ digital_input_55: 128 }], keepAlive: true, mode: 'counter', recalibrationOrReboot: true } },
  ],
  ['DecoderTest RebootTest', PORT, '3F0101', { kind: 'startup', occupied: null, details: { lpp: [{ digital_output_63: 1 }], rebootSucceeded: true } }],
]);

// Our own vectors.
table(pniPlacepod, [
  // Cayenne LPP temperature is two's complement ("Signed MSB"), as ChirpStack's codec and the cayenne-lpp
  // package read it. Decoder.cs reads sign-magnitude (its 026781F0 → −49.6); FF9C is −10.0 °C here.
  ['negative temperature is two\'s complement', PORT, '0267FF9C', { kind: 'other', occupied: null, temperatureC: -10, details: { lpp: [{ temperature_2: -10 }] } }],
  [
    'a change wins over a keep-alive in the same frame',
    PORT,
    '376600156601',
    { kind: 'status', occupied: true, details: { lpp: [{ presence_55: 0 }, { presence_21: 1 }], mode: 'presence', keepAlive: false } },
  ],
]);

t.test('the fPort does not change the reading', async (t) => {
  t.strictSame(pniPlacepod.decode(0, hex('156601')), pniPlacepod.decode(99, hex('156601')));
});

errorTable(pniPlacepod, [
  ['an empty payload', PORT, '', 'empty payload'],
  ['a lone channel byte', PORT, '15', 'entry at byte 0 needs a channel and a type byte, got 1 byte'],
  ['a presence entry without its value', PORT, '1566', 'channel 21 presence at byte 0 needs 3 bytes, got 2'],
  ['a temperature cut short', PORT, '0302016D0267', 'channel 2 temperature at byte 4 needs 4 bytes, got 2'],
  ['a presence value other than 0 or 1', PORT, '156602', 'channel 21 presence must be 0 or 1, got 2'],
  ['an LPP type PlacePod does not use', PORT, '157301', 'channel 21 at byte 0 has unknown LPP type 0x73'],
  ['an unknown channel', PORT, '996601', 'channel 153 (0x99) at byte 0 is not a known pni-placepod channel'],
  ['a channel with the wrong type', PORT, '150001', 'channel 21 (0x15) does not carry LPP type 0x00'],
]);

t.test('heartbeat period and battery fallback', async (t) => {
  t.strictSame([pniPlacepod.heartbeatMinutes, pniPlacepod.lowBatteryPercent], [1440, 20]);
});
