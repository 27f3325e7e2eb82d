/**
 * Owns password hashing: the one code path that decides bcrypt's cost (BCRYPT_ROUNDS), for
 * new hashes and for the stand-in compared when an email is unknown. With a stand-in of any
 * other cost an unknown email answers faster or slower than a wrong password, and the
 * difference tells an attacker which accounts exist (issue 19 §2: cost 10 against the
 * default 12 made misses about four times faster).
 */
import bcrypt from 'bcrypt';
import { ValidationError } from '../errors.js';

/**
 * bcrypt reads the first 72 bytes of a password and silently ignores the rest (OpenBSD
 * bcrypt(3); node.bcrypt.js README "Security Issues and Concerns"), so a longer password
 * would be a shorter one in disguise. New passwords are refused beyond it, by bytes: an
 * `é` is two (issue 19 §7). Logins are not checked, so a password set before still works.
 */
export const MAX_PASSWORD_BYTES = 72;

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

/** Hashes a new password; one longer than MAX_PASSWORD_BYTES is a 400 naming `field`. */
export async function hashPassword(password: string, rounds: number, field = 'body.password'): Promise<string> {
  const bytes = Buffer.byteLength(password, 'utf8');
  if (bytes > MAX_PASSWORD_BYTES) {
    const message = `must be at most ${MAX_PASSWORD_BYTES} bytes in UTF-8 (this one is ${bytes})`;
    throw new ValidationError(`Request validation failed: ${field} ${message}`, [{ field, message }]);
  }
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
