/**
 * Owns password hashing: the one code path that decides bcrypt's cost (BCRYPT_ROUNDS), for
 * new hashes and for the stand-in compared when an email is unknown. With a stand-in of any
 * other cost an unknown email answers faster or slower than a wrong password, and the
 * difference tells an attacker which accounts exist (issue 19 §2: cost 10 against the
 * default 12 made misses about four times faster).
 */
import bcrypt from 'bcrypt';

const STAND_IN_PASSWORD = 'baygate-dummy-password';
/** One stand-in per cost, made on first use (tests run several costs in one process). */
const standIns = new Map<number, Promise<string>>();

/** The hash an unknown account is checked against: the configured cost, like every new hash. */
export function standInHash(rounds: number): Promise<string> {
  let h = standIns.get(rounds);
  if (!h) {
    h = bcrypt.hash(STAND_IN_PASSWORD, rounds);
    standIns.set(rounds, h);
  }
  return h;
}

export function hashPassword(password: string, rounds: number): Promise<string> {
  return bcrypt.hash(password, rounds);
}

/** Whether `password` matches `hash`; with no hash (unknown account) it spends the same time and answers false. */
export async function checkPassword(password: string, hash: string | null, rounds: number): Promise<boolean> {
  if (hash === null) {
    await bcrypt.compare(password, await standInHash(rounds));
    return false;
  }
  return bcrypt.compare(password, hash);
}
