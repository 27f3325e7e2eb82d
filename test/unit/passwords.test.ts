// One code path decides bcrypt's cost (src/auth/passwords.ts): the stand-in compared for an
// unknown email has the configured cost, so a miss takes as long as a wrong password.
import t from 'tap';
import bcrypt from 'bcrypt';
import { checkPassword, hashPassword, standInHash } from '../../src/auth/passwords.js';

t.test('the stand-in hash has the configured cost, whatever it is', async (t) => {
  for (const rounds of [4, 6]) {
    t.equal(bcrypt.getRounds(await standInHash(rounds)), rounds, `cost ${rounds}`);
    t.equal(bcrypt.getRounds(await hashPassword('secret', rounds)), rounds, `new hashes at cost ${rounds}`);
  }
  t.equal(await standInHash(4), await standInHash(4), 'made once per cost');
});

t.test('checkPassword', async (t) => {
  const hash = await hashPassword('correct horse', 4);
  t.equal(await checkPassword('correct horse', hash, 4), true);
  t.equal(await checkPassword('wrong', hash, 4), false);
  t.equal(await checkPassword('baygate-dummy-password', null, 4), false, 'no account: false, even for the stand-in password');
});

t.test('a new password beyond 72 bytes is refused, by bytes, naming the field', async (t) => {
  t.equal(bcrypt.getRounds(await hashPassword('a'.repeat(72), 4)), 4, '72 ASCII bytes are fine');
  const err = await hashPassword('a'.repeat(73), 4).then(() => null, (e: unknown) => e as { status: number; details: { field: string }[] });
  t.match(err, { status: 400 }, '73 are not');
  t.equal(err?.details[0]?.field, 'body.password', 'naming the field');
  await t.rejects(hashPassword('é'.repeat(37), 4), /at most 72 bytes in UTF-8 \(this one is 74\)/, '37 characters, 74 bytes');
  // Why: bcrypt would have accepted a different 73rd byte as the same password.
  const h = await bcrypt.hash('a'.repeat(72), 4);
  t.equal(await bcrypt.compare(`${'a'.repeat(72)}b`, h), true, 'bcrypt itself ignores the 73rd byte');
});
