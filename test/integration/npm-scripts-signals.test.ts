// The long-running npm scripts must let a busy process finish its orderly stop on Ctrl-C.
// Run through the tsx CLI they would not: its parent process SIGKILLs the child when the
// child has not reported the signal back within 30 ms, twice (tsx 4, cli.mjs relaySignals),
// which an event loop busy for longer misses; `npm start` then lost its "baygate stopped"
// line in a CI run. So these scripts run `node --import tsx <file>` instead, and this test
// runs each script's command on a busy fixture and sends the group a terminal's Ctrl-C.
import t from 'tap';
import { spawn } from 'node:child_process';
import pkg from '../../package.json' with { type: 'json' };
import { waitFor } from '../helpers/wait.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const FIXTURE = 'test/fixtures/busy-until-sigint.ts';

for (const name of ['start', 'start:api', 'start:ingest', 'simulate'] as const) {
  t.test(`npm run ${name}: a busy process stops in order on Ctrl-C`, async (t) => {
    const words = pkg.scripts[name].split(' ');
    t.match(words.at(-1), /\.ts$/, 'the script ends with the file it runs');
    // Its command, on the fixture instead of the real entry file.
    const command = [...words.slice(0, -1), FIXTURE].join(' ');
    let out = '';
    const child = spawn('sh', ['-c', command], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout!.on('data', (b) => (out += b));
    child.stderr!.on('data', (b) => (out += b));
    const closed = new Promise((resolve) => child.once('close', resolve));
    t.teardown(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    });
    await waitFor(() => out.includes('ready'), 30_000, `start-up of ${command}`);
    process.kill(-child.pid!, 'SIGINT');
    await closed;
    t.match(out, 'stopped in order', `${command}: the handler ran to its end`, { output: out });
  });
}
