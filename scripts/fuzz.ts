/**
 * The long form of the attack and fuzz suites (`npm run fuzz`): runs them through
 * scripts/test.ts at FUZZ_SCALE (default 10: 20,000 MQTT payloads, ~8,000 API requests),
 * then prints every suite's figures (attempts, failures, losses). FUZZ_SEED replays a run.
 * Extra arguments replace the file list.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FILES = [
  'test/integration/auth-attacks.test.ts',
  'test/integration/request-limits.test.ts',
  'test/integration/fuzz-api.test.ts',
  'test/integration/fuzz-ingest.test.ts',
];
/** tap's default per-file timeout (30 s) is for the bounded form; the long form needs more. */
const FILE_TIMEOUT_SECONDS = 1_800;

const dir = mkdtempSync(join(tmpdir(), 'baygate-fuzz-'));
const report = join(dir, 'figures.jsonl');
const args = process.argv.slice(2);
const child = spawn('npx', ['tsx', 'scripts/test.ts', '--timeout', String(FILE_TIMEOUT_SECONDS), ...(args.length ? args : FILES)], {
  stdio: 'inherit',
  env: { ...process.env, FUZZ_SCALE: process.env.FUZZ_SCALE ?? '10', FUZZ_REPORT: report },
});
child.on('exit', (code, signal) => {
  console.log('\n=== fuzz figures (FUZZ_SCALE=%s) ===', process.env.FUZZ_SCALE ?? '10');
  if (existsSync(report)) {
    for (const line of readFileSync(report, 'utf8').trim().split('\n')) {
      const { suite, ...figures } = JSON.parse(line) as Record<string, unknown>;
      console.log(`${String(suite).padEnd(32)} ${Object.entries(figures).map(([k, v]) => `${k}=${v}`).join('  ')}`);
    }
  } else {
    console.log('(no figures: the suites did not get that far)');
  }
  rmSync(dir, { recursive: true, force: true });
  process.exit(code ?? (signal ? 1 : 0));
});
