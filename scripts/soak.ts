/**
 * The long form of the proof suites (`npm run soak`): the fault, restart and scale-out
 * suites plus the attack and fuzz suites, at FUZZ_SCALE (default 20: 20,000 uplinks per
 * ingest fault, 20 broker restarts over 12,000 uplinks, 40,000 fuzzed MQTT payloads).
 * Every suite scales its bounded `npm test` form by FUZZ_SCALE (test/helpers/fuzz.ts), so
 * this reuses scripts/fuzz.ts to run them and to print each suite's figures (attempts,
 * failures, losses) at the end. FUZZ_SEED replays a fuzz run; extra arguments replace the
 * file list. DATABASE_URL and MQTT_URL are honoured as by `npm test`.
 */
import { spawn } from 'node:child_process';

/** Twenty times the bounded form: ingest-faults then sends the 20,000 uplinks. */
const DEFAULT_SCALE = '20';

const FILES = [
  'test/integration/ingest-faults.test.ts',
  'test/integration/broker-restart.test.ts',
  'test/integration/scale-out.test.ts',
  'test/integration/api-scale-out.test.ts',
  'test/integration/auth-attacks.test.ts',
  'test/integration/request-limits.test.ts',
  'test/integration/fuzz-api.test.ts',
  'test/integration/fuzz-ingest.test.ts',
];

const args = process.argv.slice(2);
const child = spawn('npx', ['tsx', 'scripts/fuzz.ts', ...(args.length ? args : FILES)], {
  stdio: 'inherit',
  env: { ...process.env, FUZZ_SCALE: process.env.FUZZ_SCALE ?? DEFAULT_SCALE },
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
