/**
 * Owns the trailing-slash rule: the replaced platform answered with and without one, so
 * `/api/v6/spaces/` is `/api/v6/spaces`. In linear time: the regular expression `/\/+$/`
 * backtracks over every run of slashes that does not end the path (each start position is
 * tried against the rest of the run), and it ran before authentication, so `/` + 15,000
 * slashes + `x/` cost any anonymous client tens of milliseconds of CPU (issue 19 §3).
 */
import type { Middleware } from 'koa';

/** The path without its trailing slashes; `/` stays `/`. */
export function withoutTrailingSlashes(path: string): string {
  let end = path.length;
  while (end > 1 && path.charCodeAt(end - 1) === 0x2f) end--;
  return end === path.length ? path : path.slice(0, end);
}

export function trailingSlash(): Middleware {
  return async (ctx, next) => {
    const path = withoutTrailingSlashes(ctx.path);
    if (path !== ctx.path) ctx.path = path;
    await next();
  };
}
