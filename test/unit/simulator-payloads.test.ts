// The simulator's frames go through the real decoders and say what the simulator meant.
import t from 'tap';
import { getDecoder } from '../../src/domain/decoders/index.js';
import { devEuiAt, seededRandom, sensorFrame, SIMULATED_DECODERS } from '../../src/simulator/payloads.js';

for (const decoder of SIMULATED_DECODERS) {
  t.test(decoder, async (t) => {
    const d = getDecoder(decoder);
    for (const occupied of [true, false]) {
      const status = sensorFrame(decoder, { occupied, kind: 'status', previousMinutes: 12 });
      t.match(d.decode(status.fPort, status.data, status.object), { kind: 'status', occupied }, `status ${occupied}`);
      const hb = sensorFrame(decoder, { occupied, kind: 'heartbeat', batteryMv: 3400, temperatureC: 18 });
      const reading = d.decode(hb.fPort, hb.data, hb.object);
      t.match(reading, { kind: 'heartbeat', occupied }, `heartbeat ${occupied}`);
      t.equal(reading.batteryVolts, 3.4);
      t.equal(reading.temperatureC, 18);
    }
  });
}

t.test('nwave-nps405 status frames carry the previous state duration', async (t) => {
  const f = sensorFrame('nwave-nps405', { occupied: true, kind: 'status', previousMinutes: 42 });
  t.match(getDecoder('nwave-nps405').decode(f.fPort, f.data).details, { previous_state_duration: 42 });
  const long = sensorFrame('nwave-nps405', { occupied: false, kind: 'status', previousMinutes: 10_000 });
  t.equal(long.data.length, 1, 'clamped into the one byte');
});

t.test('consecutive DevEUIs', async (t) => {
  t.equal(devEuiAt('70B3D5E75E000001', 0), '70B3D5E75E000001');
  t.equal(devEuiAt('70B3D5E75E0000FF', 1), '70B3D5E75E000100', 'carries');
  t.equal(devEuiAt('00000000000000ff', 1), '0000000000000100', 'zero-padded, uppercase');
});

t.test('a seed repeats a run', async (t) => {
  const a = seededRandom(7);
  const b = seededRandom(7);
  const xs = Array.from({ length: 5 }, () => a());
  t.same(xs, Array.from({ length: 5 }, () => b()));
  t.ok(xs.every((x) => x >= 0 && x < 1));
});
