/** Liveness: answers without auth and without touching the database. */
import { VERSION } from '../../src/version.js';
import type { RouteDef } from './route.js';

export function healthRoutes(): RouteDef[] {
  return [
    {
      method: 'get', path: '/health', summary: 'Liveness', tag: 'operations', auth: false,
      response: { type: 'object', properties: { status: { const: 'healthy' }, version: { type: 'string' } } },
      handler: async () => ({ status: 'healthy', version: VERSION }),
    },
  ];
}
