/**
 * Moves a device to another ChirpStack application, or clears its binding: the explicit act
 * issue 17 asks for, since a bound device accepts events only from its own application
 * (src/domain/application-binding.ts). Technicians and above, as they register and move
 * sensors in the field; every change is recorded as a device event naming who made it.
 */
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { ConflictError, NotFoundError, UnprocessableError } from '../../src/errors.js';
import { getApplications } from '../../src/storage/chirpstack.js';
import { applicationMappedElsewhere, deviceJson, setApplicationBinding } from '../../src/storage/devices.js';
import { deviceSchema } from './devices.js';
import type { RouteDef } from './route.js';

const FIELD = 'body.chirpstack_application_id';

const bindingBody = {
  type: 'object',
  additionalProperties: false,
  required: ['chirpstack_application_id'],
  properties: {
    chirpstack_application_id: {
      type: ['string', 'null'],
      format: 'uuid',
      description: "The ChirpStack application whose events count for the device from now on; null clears the binding, and the next event accepted for the device binds it again",
    },
  },
} as const;

export function deviceBindingRoutes(deps: { pool: Pool }): RouteDef[] {
  return [
    {
      method: 'put', path: '/api/v6/devices/:id/chirpstack-application', tag: 'devices', auth: 'technician',
      summary: "Binds the device to a ChirpStack application (or clears its binding); events from any other application are refused as application_mismatch",
      body: bindingBody,
      response: deviceSchema,
      handler: async (_ctx, { params, body, principal }) => {
        // Lowercase, as ChirpStack prints its ids and as ingest compares them.
        const applicationId = (body as { chirpstack_application_id: string | null }).chirpstack_application_id?.toLowerCase() ?? null;
        return withTx(deps.pool, principal, async (c) => {
          if (applicationId !== null) {
            const mapped = await getApplications(c);
            if (mapped.length > 0 && !mapped.includes(applicationId)) {
              throw new UnprocessableError("Not one of this tenant's mapped ChirpStack applications", [
                { field: FIELD, message: 'must be one of the applications in GET /api/v6/tenants/current/chirpstack' },
              ]);
            }
            if (await applicationMappedElsewhere(c, applicationId)) {
              const message = 'This ChirpStack application is mapped to another tenant';
              throw new ConflictError(message, [{ field: FIELD, message }]);
            }
          }
          const device = await setApplicationBinding(c, params.id!, applicationId, principal.userId);
          if (!device) throw new NotFoundError('Device');
          return deviceJson(device);
        });
      },
    },
  ];
}
