/** Device routes: registration by DevEUI, lookup, and assignment to spaces. */
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { NotFoundError, ValidationError } from '../../src/errors.js';
import { decoderNames } from '../../src/domain/decoders/index.js';
import { uuid, timestamp } from '../../src/schemas/common.js';
import { deviceJson, getDevice, insertDevice, recordAssignment, setAssignment, spaceExists, type NewDevice } from '../../src/storage/devices.js';
import { applySpaceInput } from '../../src/space-transitions.js';
import type { RouteDef } from './route.js';

const createBody = {
  type: 'object',
  required: ['dev_eui', 'device_type'],
  properties: {
    dev_eui: { type: 'string', pattern: '^[0-9A-Fa-f]{16}$' },
    name: { type: ['string', 'null'], maxLength: 200 },
    device_type: { enum: ['sensor', 'display'] },
    manufacturer: { type: ['string', 'null'], maxLength: 200 },
    model: { type: ['string', 'null'], maxLength: 200 },
    decoder: { type: ['string', 'null'], enum: [...decoderNames, null] },
    config: { type: 'object' },
  },
} as const;

const assignBody = {
  type: 'object',
  required: ['space_id'],
  properties: { space_id: uuid, reason: { type: 'string', maxLength: 500 } },
} as const;

export const deviceSchema = {
  type: 'object',
  properties: {
    id: uuid,
    tenant_id: uuid,
    dev_eui: { type: 'string' },
    name: { type: ['string', 'null'] },
    device_type: { enum: ['sensor', 'display'] },
    decoder: { type: ['string', 'null'] },
    status: { type: 'string' },
    lifecycle_state: { type: 'string' },
    assigned_space_id: { type: ['string', 'null'] },
    last_seen_at: { type: ['string', 'null'] },
    created_at: timestamp,
  },
} as const;

export function deviceRoutes(deps: { pool: Pool }): RouteDef[] {
  const tx = <T>(scope: { tenantId: string; userId: string }, fn: Parameters<typeof withTx<T>>[2]) => withTx(deps.pool, scope, fn);
  return [
    {
      method: 'post', path: '/api/v6/devices', summary: 'Register a device by DevEUI', tag: 'devices', auth: 'technician',
      body: createBody, status: 201, response: deviceSchema,
      handler: async (_ctx, { body, principal }) =>
        deviceJson(await tx(principal, (c) => insertDevice(c, principal.tenantId, body as NewDevice))),
    },
    {
      method: 'get', path: '/api/v6/devices/:id', summary: 'Get a device', tag: 'devices', auth: 'viewer', response: deviceSchema,
      handler: async (_ctx, { params, principal }) => {
        const d = await tx(principal, (c) => getDevice(c, params.id!));
        if (!d) throw new NotFoundError('Device');
        return deviceJson(d);
      },
    },
    {
      method: 'post', path: '/api/v6/devices/:id/assign', summary: 'Assign a device to a space (moves it from any other space)', tag: 'devices', auth: 'technician',
      body: assignBody, response: deviceSchema,
      handler: async (_ctx, { body, params, principal }) => {
        const b = body as { space_id: string; reason?: string };
        return deviceJson(
          await tx(principal, async (c) => {
            const device = await getDevice(c, params.id!, { forUpdate: true });
            if (!device) throw new NotFoundError('Device');
            if (!(await spaceExists(c, b.space_id))) {
              throw new ValidationError('Space not found', [{ field: 'body.space_id', message: 'body.space_id names no space of this tenant' }]);
            }
            if (device.assigned_space_id === b.space_id) return device;
            const from = device.assigned_space_id;
            const updated = await setAssignment(c, device.id, b.space_id);
            await recordAssignment(c, { tenantId: principal.tenantId, deviceId: device.id, fromSpaceId: from, toSpaceId: b.space_id, reason: b.reason ?? null, byUserId: principal.userId });
            // The space the sensor left no longer hears from it.
            if (from && device.device_type === 'sensor') {
              await applySpaceInput(c, principal.tenantId, from, { type: 'sensor_removed' }, { deviceId: device.id });
            }
            return updated;
          }),
        );
      },
    },
    {
      method: 'post', path: '/api/v6/devices/:id/unassign', summary: 'Unassign a device from its space', tag: 'devices', auth: 'technician',
      body: { type: 'object', properties: { reason: { type: 'string', maxLength: 500 } } }, response: deviceSchema,
      handler: async (_ctx, { body, params, principal }) =>
        deviceJson(
          await tx(principal, async (c) => {
            const device = await getDevice(c, params.id!, { forUpdate: true });
            if (!device) throw new NotFoundError('Device');
            const from = device.assigned_space_id;
            if (!from) return device;
            const updated = await setAssignment(c, device.id, null);
            await recordAssignment(c, { tenantId: principal.tenantId, deviceId: device.id, fromSpaceId: from, toSpaceId: null, reason: (body as { reason?: string }).reason ?? null, byUserId: principal.userId });
            if (device.device_type === 'sensor') {
              await applySpaceInput(c, principal.tenantId, from, { type: 'sensor_removed' }, { deviceId: device.id });
            }
            return updated;
          }),
        ),
    },
  ];
}
