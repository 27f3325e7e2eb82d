/**
 * Readiness: 200 when this API process can serve (database reachable, schema current),
 * 503 naming the failing check otherwise. Public, like /health, for load balancers.
 */
import type { Readiness } from '../../src/readiness.js';
import { readinessBody, readinessSchema } from '../../src/readiness.js';
import type { DocumentedRoute } from '../../src/openapi.js';

export function readyRoutes(deps: { ready: () => Promise<Readiness> }): DocumentedRoute[] {
  return [
    {
      method: 'get', path: '/ready', summary: 'Readiness (database reachable, migrations current)', tag: 'operations', auth: false,
      response: readinessSchema,
      responses: { 503: { description: 'Not ready; `failed` names the failing checks', schema: readinessSchema } },
      handler: async (ctx) => {
        const r = await deps.ready();
        // Set here rather than returned: the status depends on the outcome.
        ctx.status = r.ok ? 200 : 503;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = readinessBody(r);
        return undefined;
      },
    },
  ];
}
