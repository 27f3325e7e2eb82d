/**
 * What the attack and fuzz suites share: the scale (FUZZ_SCALE, 1 in `npm test`, larger
 * under `npm run fuzz`), a small seeded PRNG so a failing case can be replayed from its
 * seed, and the figures each suite reports at its end.
 */
import { appendFileSync } from 'node:fs';
import type { Test } from 'tap';

/** Multiplier of every suite's case count; `npm test` runs the bounded form (1). */
export function fuzzScale(): number {
  const n = Number(process.env.FUZZ_SCALE ?? '1');
  return Number.isFinite(n) && n > 0 ? n : 1;
}

/** The seed of this run: FUZZ_SEED to replay one, else fresh (and printed with the figures). */
export function fuzzSeed(): number {
  const given = process.env.FUZZ_SEED;
  return given ? Number(given) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
}

/** mulberry32: a tiny, fast, seedable generator; quality is ample for test inputs. */
export interface Rng {
  (): number;
  int(maxExclusive: number): number;
  pick<T>(xs: readonly T[]): T;
  chance(p: number): boolean;
  bytes(n: number): Buffer;
}

export function rng(seed: number): Rng {
  let a = seed >>> 0;
  const next = (() => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }) as Rng;
  next.int = (max) => Math.floor(next() * max);
  next.pick = (xs) => xs[next.int(xs.length)]!;
  next.chance = (p) => next() < p;
  next.bytes = (n) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = next.int(256);
    return b;
  };
  return next;
}

/**
 * Prints a suite's figures as a TAP comment and, when FUZZ_REPORT names a file (set by
 * scripts/fuzz.ts), appends them there as one JSON line for the run's summary.
 */
export function reportFigures(t: Test, suite: string, figures: Record<string, number | string>): void {
  const line = `${suite}: ` + Object.entries(figures).map(([k, v]) => `${k}=${v}`).join(' ');
  t.comment(line);
  process.stderr.write(`[figures] ${line}\n`);
  const file = process.env.FUZZ_REPORT;
  if (file) appendFileSync(file, JSON.stringify({ suite, ...figures }) + '\n');
}
