// Sealed secrets (src/secret-box.ts): what opens, and what must not.
import t from 'tap';
import { secretBox, SecretBoxError } from '../../src/secret-box.js';

const SERVER_SECRET = 'test-secret-that-is-at-least-32-characters-long';
const KEY = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.a-chirpstack-api-key';

t.test('a sealed secret opens with the same server secret, purpose and context', async (t) => {
  const box = secretBox(SERVER_SECRET, 'chirpstack-api-key');
  const sealed = box.seal(KEY, 'tenant-a');
  t.match(sealed, /^v1\.[A-Za-z0-9_-]+$/);
  t.notOk(sealed.includes(KEY), 'the plaintext is not in it');
  t.equal(box.open(sealed, 'tenant-a'), KEY);
  t.not(box.seal(KEY, 'tenant-a'), sealed, 'a fresh nonce each time: equal keys do not look equal');
  t.equal(box.open(box.seal('', 'tenant-a'), 'tenant-a'), '', 'an empty secret round-trips');
});

t.test('it does not open under anything else', async (t) => {
  const box = secretBox(SERVER_SECRET, 'chirpstack-api-key');
  const sealed = box.seal(KEY, 'tenant-a');
  const raw = Buffer.from(sealed.slice(3), 'base64url');
  const flip = (i: number) => {
    const b = Buffer.from(raw);
    b[i] = b[i]! ^ 1;
    return `v1.${b.toString('base64url')}`;
  };
  const cases: [string, () => string][] = [
    ['another context (another tenant)', () => box.open(sealed, 'tenant-b')],
    ['another server secret', () => secretBox(SERVER_SECRET + 'x', 'chirpstack-api-key').open(sealed, 'tenant-a')],
    ['another purpose', () => secretBox(SERVER_SECRET, 'webhook-secret').open(sealed, 'tenant-a')],
    ['a flipped nonce bit', () => box.open(flip(0), 'tenant-a')],
    ['a flipped ciphertext bit', () => box.open(flip(12), 'tenant-a')],
    ['a flipped tag bit', () => box.open(flip(raw.length - 1), 'tenant-a')],
    ['truncated', () => box.open(`v1.${raw.subarray(0, 20).toString('base64url')}`, 'tenant-a')],
    ['an unknown version', () => box.open(sealed.replace(/^v1/, 'v9'), 'tenant-a')],
  ];
  for (const [name, open] of cases) t.throws(open, SecretBoxError, name);
});
