// The console is built when missing and rebuilt when web/src is newer than the build, so
// `npm start` after a pull that changed the console never serves the previous one.
import t from 'tap';
import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONSOLE_FILES, ensureConsoleBuilt } from '../../web/build.js';

t.test('built when missing, kept when current, rebuilt when older than its sources', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'baygate-console-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'dist');
  t.equal(await ensureConsoleBuilt(out), true, 'missing: built');
  t.equal(await ensureConsoleBuilt(out), false, 'current: kept');
  const longAgo = new Date('2000-01-01T00:00:00Z');
  for (const f of CONSOLE_FILES) utimesSync(join(out, f), longAgo, longAgo);
  t.equal(await ensureConsoleBuilt(out), true, 'older than web/src: rebuilt');
  t.equal(await ensureConsoleBuilt(out), false, 'and current again');
});
