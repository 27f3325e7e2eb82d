/**
 * Serves the web console (web/, built into web/dist by web/build.ts): index.html at `/`
 * and its two assets under /console/. Public, like /docs: the page holds no data, and
 * every call it makes carries the user's token. Nothing is fetched from elsewhere.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { send } from '@koa/send';
import { CONSOLE_DIST_DIR, CONSOLE_FILES } from '../../web/build.js';

/** Asset names do not carry a content hash: a short cache, so a new release shows within minutes. */
const ASSET_MAX_AGE_MS = 5 * 60 * 1000;
const FILES = new Set<string>(CONSOLE_FILES);

export function mountConsole(router: Router, deps: { dir?: string } = {}): void {
  const root = deps.dir ?? CONSOLE_DIST_DIR;
  router.get('/', async (ctx: Context) => {
    // index.html is never cached: it names the assets a release brings.
    await send(ctx, 'index.html', { root });
    ctx.set('Cache-Control', 'no-cache');
  });
  router.get('/console/:file', async (ctx: Context) => {
    const file = (ctx.params as Record<string, string>).file ?? '';
    // Only the built names: no paths, so nothing else on disk can be asked for.
    if (!FILES.has(file) || file === 'index.html') return;
    await send(ctx, file, { root, maxAge: ASSET_MAX_AGE_MS });
  });
}
