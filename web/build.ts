/**
 * Owns building the web console (web/src → web/dist): one esbuild bundle of the browser
 * code (with its npm dependencies: Leaflet, jsQR), its stylesheet (with Leaflet's) and
 * index.html. Run by `npm run build` (and the `prepare` script at `npm install`), and by
 * the API at start-up when web/dist is missing or older than web/src, so the console is
 * never absent or stale. Nothing
 * is fetched at run time: the bundle is the whole app.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';

const WEB_DIR = dirname(fileURLToPath(import.meta.url));
export const CONSOLE_DIST_DIR = join(WEB_DIR, 'dist');
/** The files a build produces; the API serves these names and nothing else. */
export const CONSOLE_FILES = ['index.html', 'app.js', 'app.css'] as const;

/** Builds into a fresh directory and renames it into place, so a reader never sees half a build. */
export async function buildConsole(outDir = CONSOLE_DIST_DIR): Promise<void> {
  // Imported lazily: a process that finds the console already built never loads esbuild.
  const { build } = await import('esbuild');
  const tmp = `${outDir}.tmp-${randomUUID()}`;
  try {
    await build({
      entryPoints: { app: join(WEB_DIR, 'src', 'main.ts'), 'app-style': join(WEB_DIR, 'src', 'style.css') },
      bundle: true,
      format: 'esm',
      target: ['es2020'],
      minify: true,
      sourcemap: false,
      outdir: tmp,
      logLevel: 'warning',
      tsconfig: join(WEB_DIR, 'tsconfig.json'),
      // Leaflet's stylesheet (imported by style.css) names its control icons by file; inlined,
      // they stay inside app.css, the only stylesheet the API serves (api/routes/console.ts).
      loader: { '.png': 'dataurl' },
    });
    await rename(join(tmp, 'app-style.css'), join(tmp, 'app.css'));
    await copyFile(join(WEB_DIR, 'src', 'index.html'), join(tmp, 'index.html'));
    await mkdir(dirname(outDir), { recursive: true });
    await rm(outDir, { recursive: true, force: true });
    await rename(tmp, outDir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Newest modification time (ms) of the files under `dir` (the console's sources). */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Builds the console unless a complete build is there and newer than every source (after
 * a `git pull` that changed web/src, `npm start` and the tests would otherwise serve the
 * previous console).
 */
export async function ensureConsoleBuilt(outDir = CONSOLE_DIST_DIR): Promise<boolean> {
  const built = CONSOLE_FILES.every((f) => existsSync(join(outDir, f)));
  if (built && Math.min(...CONSOLE_FILES.map((f) => statSync(join(outDir, f)).mtimeMs)) >= newestMtime(join(WEB_DIR, 'src'))) return false;
  try {
    await buildConsole(outDir);
  } catch (err) {
    // Two processes building at once: the loser's rename fails; the winner's build is as good.
    if (!CONSOLE_FILES.every((f) => existsSync(join(outDir, f)))) throw err;
  }
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildConsole();
  console.log(`console built into ${CONSOLE_DIST_DIR}`);
}
