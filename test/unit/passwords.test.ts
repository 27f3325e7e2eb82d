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
