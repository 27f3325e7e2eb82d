// The decoder registry, and the promise every decoder makes: bad bytes fail as a DecodeError, nothing else.
import t from 'tap';
import { DecodeError, decoderNames, decoders, getDecoder } from '../../../src/domain/decoders/index.js';
import { chirpstackObject } from '../../../src/domain/decoders/chirpstack-object.js';
import { nwaveNps405 } from '../../../src/domain/decoders/nwave.js';

const KINDS = ['status', 'heartbeat', 'startup', 'other'];

t.test('decoderNames lists every required decoder', async (t) => {
  t.strictSame(decoderNames, [
    'chirpstack-object',
    'nwave-nps405',
    'nwave-nps310',
    'bosch-tps110',
    'tekzitel-tekzipark',
    'pni-placepod',
    'libelium-smart-parking',
  ]);
});

t.test('each registry key is its decoder\'s own name', async (t) => {
  t.strictSame(
    [...decoders].map(([key, decoder]) => [key, decoder.name]),
    decoderNames.map((name) => [name, name]),
  );
});

t.test('null and undefined select chirpstack-object', async (t) => {
  t.equal(getDecoder(null), chirpstackObject);
  t.equal(getDecoder(undefined), chirpstackObject);
});

t.test('a registered name selects its decoder', async (t) => {
  t.equal(getDecoder('nwave-nps405'), nwaveNps405);
});

for (const name of ['acme-parking', '', 'NWAVE-NPS405']) {
  t.test(`an unknown name ("${name}") is a DecodeError from the registry`, async (t) => {
    let thrown: unknown;
    try {
      getDecoder(name);
    } catch (err) {
      thrown = err;
    }
    if (!(thrown instanceof DecodeError)) {
      t.fail(`expected a DecodeError, got ${String(thrown)}`);
      return;
    }
    t.strictSame({ decoder: thrown.decoder, reason: thrown.reason }, { decoder: 'registry', reason: `unknown decoder "${name}"` });
  });
}

/** Deterministic pseudo-random bytes (a 32-bit LCG), so a failure names a reproducible payload. */
function* payloads(count: number): Generator<Uint8Array> {
  let seed = 0x2545f491;
  for (let i = 0; i < count; i++) {
    const bytes = new Uint8Array(i % 25);
    for (let j = 0; j < bytes.length; j++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      bytes[j] = seed >>> 24;
    }
    yield bytes;
  }
}

t.test('arbitrary bytes on any fPort give a Reading or a DecodeError, never another exception', async (t) => {
  const failures: string[] = [];
  let decoded = 0;
  let rejected = 0;
  for (const decoder of decoders.values()) {
    if (decoder === chirpstackObject) continue; // it reads the object, not the bytes
    for (const bytes of payloads(500)) {
      for (let fPort = 0; fPort <= 12; fPort++) {
        try {
          const reading = decoder.decode(fPort, bytes);
          decoded++;
          if (!KINDS.includes(reading.kind) || ![true, false, null].includes(reading.occupied)) {
            failures.push(`${decoder.name} fPort ${fPort} ${Buffer.from(bytes).toString('hex')}: malformed reading`);
          }
        } catch (err) {
          rejected++;
          if (!(err instanceof DecodeError) || err.decoder !== decoder.name) {
            failures.push(`${decoder.name} fPort ${fPort} ${Buffer.from(bytes).toString('hex')}: ${String(err)}`);
          }
        }
      }
    }
  }
  t.strictSame(failures, []);
  // Both outcomes must actually occur, or the sweep proves nothing.
  t.not(decoded, 0, 'some payloads decode');
  t.not(rejected, 0, 'some payloads are rejected');
});
