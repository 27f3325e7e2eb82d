/**
 * Device routes: registration by DevEUI, listing and lookup (by id and by the DevEUI on
 * the label), edits, soft deletion, assignment to spaces with its history, and the latest
 * readings a technician checks after installing a sensor.
 */
import type { Pool, PoolClient } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { NotFoundError, ValidationError } from '../../src/errors.js';
import { decoderNames } from '../../src/domain/decoders/index.js';
import { DISPLAY_ENCODING_NAMES } from '../../src/domain/display-encodings.js';
import { listOf, pageWindow, pagination, uuid, timestamp, type Page } from '../../src/schemas/common.js';
import {
  DEVICE_STATUSES,
  LIFECYCLE_STATES,
  deviceJson,
  getDevice,
  getDeviceByEui,
  insertDevice,
  latestReadings,
  listAssignments,
  listDevices,
  recordAssignment,
  setAssignment,
  softDeleteDevice,
  spaceExists,
  updateDevice,
  type DeviceEdit,
  type DeviceFilter,
  type DeviceRow,
  type NewDevice,
} from '../../src/storage/devices.js';
import { applySpaceInput } from '../../src/space-transitions.js';
import type { Principal } from '../../src/storage/users.js';
import type { RouteDef } from './route.js';

const DEV_EUI = '^[0-9A-Fa-f]{16}$';
const nullableText = { type: ['string', 'null'], maxLength: 200 } as const;

/**
 * A ChirpStack application id goes verbatim into the display's command topic
 * (CHIRPSTACK_COMMAND_TOPIC's {application_id}), so anything but a UUID is refused here:
 * `#` or `+` would make the topic a wildcard, which an MQTT client must not publish to
 * ([MQTT-3.3.2-2]), and `/` would move the DevEUI to another topic level. ChirpStack names
 * applications by UUID (api/proto/api/application.proto) and writes them in lowercase; topic
 * names are case-sensitive and matched without normalisation (MQTT 3.1.1 §4.7.3,
 * [MQTT-4.7.3-4]), so only that form is taken, the one
 * devices.application_id holds too (migrations/0018). The pattern, not ajv's `uuid` format
 * alone: that format also takes upper case and a `urn:uuid:` prefix.
 */
const applicationIdSchema = {
  type: 'string',
  format: 'uuid',
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
} as const;

const editFields = {
  name: nullableText,
  manufacturer: nullableText,
  model: nullableText,
  decoder: { type: ['string', 'null'], enum: [...decoderNames, null] },
  enabled: { type: 'boolean' },
  config: {
    type: 'object',
    properties: {
      heartbeat_minutes: { type: 'integer', minimum: 1, maximum: 43_200, description: 'Expected heartbeat period; silent for 1.5× this, the sensor is offline' },
      display_encoding: { enum: DISPLAY_ENCODING_NAMES, description: 'Displays: the downlink layout (default: kuando-busylight when the model names a Busylight, else generic)' },
      application_id: {
        ...applicationIdSchema,
        description: "Displays: the ChirpStack application id (a lowercase UUID, as ChirpStack shows it) for downlinks while the display has sent no uplink (its uplinks' application wins)",
      },
    },
  },
} as const;

const createBody = {
  type: 'object',
  required: ['dev_eui', 'device_type'],
  properties: {
    dev_eui: { type: 'string', pattern: DEV_EUI },
    device_type: { enum: ['sensor', 'display'] },
    ...editFields,
  },
} as const;

const patchBody = { type: 'object', properties: editFields } as const;

const assignBody = {
  type: 'object',
  required: ['space_id'],
  properties: { space_id: uuid, reason: { type: 'string', maxLength: 500 } },
} as const;

const reasonBody = { type: 'object', properties: { reason: { type: 'string', maxLength: 500 } } } as const;

const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const;

export const deviceSchema = {
  type: 'object',
  properties: {
    id: uuid,
    tenant_id: uuid,
    dev_eui: { type: 'string' },
    name: { type: ['string', 'null'] },
    device_type: { enum: ['sensor', 'display'] },
    manufacturer: { type: ['string', 'null'] },
    model: { type: ['string', 'null'] },
    decoder: { type: ['string', 'null'] },
    enabled: { type: 'boolean' },
    config: { type: 'object' },
    status: { enum: DEVICE_STATUSES },
    lifecycle_state: { enum: LIFECYCLE_STATES },
    assigned_space_id: { type: ['string', 'null'], format: 'uuid' },
    assigned_at: nullableTime,
    last_seen_at: nullableTime,
    battery: { type: ['number', 'null'] },
    battery_volts: { type: ['number', 'null'] },
    low_battery: { type: 'boolean' },
    rssi: { type: ['integer', 'null'] },
    snr: { type: ['number', 'null'] },
    last_gateway_eui: { type: ['string', 'null'] },
    uplink_count: { type: 'integer' },
    chirpstack_application_id: { type: ['string', 'null'], format: 'uuid', description: 'The ChirpStack application whose events count for the device; null until the sync job, a person or its first accepted event binds it' },
    chirpstack_application_bound_by: { enum: ['first_event', 'sync', 'user', 'migration', null], description: 'How the binding came about (migration: the application its uplinks came through before bindings were enforced)' },
    chirpstack_application_bound_at: nullableTime,
    application_id: { type: ['string', 'null'], description: 'Deprecated: the same as chirpstack_application_id' },
    created_at: timestamp,
    updated_at: timestamp,
    location: {
      type: ['object', 'null'],
      description: "Where ChirpStack last resolved the device to be (its `location` event: a GPS fix, the device profile's configured position or a geolocation resolver's answer); null until it reports one",
      properties: {
        latitude: { type: 'number', minimum: -90, maximum: 90, description: 'Degrees (WGS84)' },
        longitude: { type: 'number', minimum: -180, maximum: 180, description: 'Degrees (WGS84)' },
        altitude: { type: ['number', 'null'], description: 'Metres' },
        source: { type: 'string', description: "ChirpStack's LocationSource: UNKNOWN, GPS, CONFIG, GEO_RESOLVER_TDOA, GEO_RESOLVER_RSSI, GEO_RESOLVER_GNSS or GEO_RESOLVER_WIFI" },
        accuracy: { type: ['number', 'null'], description: 'Metres' },
        at: timestamp,
      },
      required: ['latitude', 'longitude', 'altitude', 'source', 'accuracy', 'at'],
    },
  },
} as const;

const listFilters = {
  status: { enum: DEVICE_STATUSES },
  lifecycle_state: { enum: LIFECYCLE_STATES },
  assigned: { type: 'boolean' },
  site_id: uuid,
  q: { type: 'string', minLength: 1, maxLength: 100, description: 'A fragment of the DevEUI or the name' },
  ...pagination,
} as const;

const listQuery = { type: 'object', properties: { device_type: { enum: ['sensor', 'display'] }, ...listFilters } } as const;
const shortcutQuery = { type: 'object', properties: listFilters } as const;

/** Readings a technician sees by default, and at most. */
const DEFAULT_READINGS = 20;
const MAX_READINGS = 500;

const readingSchema = {
  type: 'object',
  properties: {
    time: timestamp,
    f_cnt: { type: 'integer' },
    f_port: { type: 'integer' },
    kind: { type: 'string' },
    occupied: { type: ['boolean', 'null'] },
    battery: { type: ['number', 'null'] },
    rssi: { type: ['integer', 'null'] },
    snr: { type: ['number', 'null'] },
    gateway: { type: ['string', 'null'] },
  },
} as const;

const assignmentSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    device_id: uuid,
    from_space_id: { type: ['string', 'null'], format: 'uuid' },
    to_space_id: { type: ['string', 'null'], format: 'uuid' },
    reason: { type: ['string', 'null'] },
    by_user_id: { type: ['string', 'null'], format: 'uuid' },
    at: timestamp,
  },
} as const;

const deletedSchema = { type: 'object', properties: { status: { const: 'deleted' }, id: uuid } } as const;

/**
 * Takes a locked device off its space: the one path for unassign and delete. Records the
 * history row and tells the space its sensor is gone (the state machine's sensor_removed).
 */
async function unassign(c: PoolClient, principal: Principal, device: DeviceRow, reason: string | null): Promise<DeviceRow> {
  const from = device.assigned_space_id;
  if (!from) return device;
  const updated = await setAssignment(c, device.id, null);
  await recordAssignment(c, { tenantId: principal.tenantId, deviceId: device.id, fromSpaceId: from, toSpaceId: null, reason, byUserId: principal.userId });
  if (device.device_type === 'sensor') {
    await applySpaceInput(c, principal.tenantId, from, { type: 'sensor_removed' }, { deviceId: device.id });
  }
  return updated;
}

export function deviceRoutes(deps: { pool: Pool }): RouteDef[] {
  const tx = <T>(scope: { tenantId: string; userId: string }, fn: Parameters<typeof withTx<T>>[2]) => withTx(deps.pool, scope, fn);
  const found = (d: DeviceRow | null) => {
    if (!d) throw new NotFoundError('Device');
    return deviceJson(d);
  };
  const list = (fixedType?: 'sensor' | 'display') => async (principal: Principal, query: unknown) => {
    const q = query as Page & DeviceFilter;
    const { limit, offset } = pageWindow(q);
    const filter: DeviceFilter = { device_type: fixedType ?? q.device_type, status: q.status, lifecycle_state: q.lifecycle_state, assigned: q.assigned, site_id: q.site_id, q: q.q };
    const r = await tx(principal, (c) => listDevices(c, filter, limit, offset));
    return { items: r.items.map(deviceJson), total: r.total, page: q.page, page_size: q.page_size };
  };
  // PUT replaces the editable fields: those left out go back to their defaults.
  const replace = (b: DeviceEdit): DeviceEdit => ({
    name: b.name ?? null,
    manufacturer: b.manufacturer ?? null,
    model: b.model ?? null,
    decoder: b.decoder ?? null,
    enabled: b.enabled ?? true,
    config: b.config ?? {},
  });
  return [
    {
      method: 'post', path: '/api/v6/devices', summary: 'Register a device by DevEUI', tag: 'devices', auth: 'technician',
      body: createBody, status: 201, response: deviceSchema,
      handler: async (_ctx, { body, principal }) =>
        deviceJson(await tx(principal, (c) => insertDevice(c, principal.tenantId, body as NewDevice))),
    },
    {
      method: 'get', path: '/api/v6/devices', summary: 'List devices', tag: 'devices', auth: 'viewer',
      query: listQuery, response: listOf(deviceSchema),
      handler: async (_ctx, { query, principal }) => list()(principal, query),
    },
    // The shortcuts and by-eui come before /:id, so "sensors" is not taken for an id.
    {
      method: 'get', path: '/api/v6/devices/sensors', summary: 'List sensors', tag: 'devices', auth: 'viewer',
      query: shortcutQuery, response: listOf(deviceSchema),
      handler: async (_ctx, { query, principal }) => list('sensor')(principal, query),
    },
    {
      method: 'get', path: '/api/v6/devices/displays', summary: 'List displays', tag: 'devices', auth: 'viewer',
      query: shortcutQuery, response: listOf(deviceSchema),
      handler: async (_ctx, { query, principal }) => list('display')(principal, query),
    },
    {
      method: 'get', path: '/api/v6/devices/by-eui/:dev_eui', summary: 'Find a device by the DevEUI on its label', tag: 'devices',
      auth: 'viewer', response: deviceSchema,
      handler: async (_ctx, { params, principal }) => {
        if (!new RegExp(DEV_EUI).test(params.dev_eui!)) throw new NotFoundError('Device');
        return found(await tx(principal, (c) => getDeviceByEui(c, params.dev_eui!)));
      },
    },
    {
      method: 'get', path: '/api/v6/devices/:id', summary: 'Get a device', tag: 'devices', auth: 'viewer', response: deviceSchema,
      handler: async (_ctx, { params, principal }) => found(await tx(principal, (c) => getDevice(c, params.id!))),
    },
    {
      method: 'put', path: '/api/v6/devices/:id', summary: 'Replace the editable fields of a device', tag: 'devices', auth: 'technician',
      body: patchBody, response: deviceSchema,
      handler: async (_ctx, { body, params, principal }) =>
        found(await tx(principal, (c) => updateDevice(c, params.id!, replace(body as DeviceEdit)))),
    },
    {
      method: 'patch', path: '/api/v6/devices/:id', summary: 'Update some fields of a device', tag: 'devices', auth: 'technician',
      body: patchBody, response: deviceSchema,
      handler: async (_ctx, { body, params, principal }) =>
        found(await tx(principal, (c) => updateDevice(c, params.id!, body as DeviceEdit))),
    },
    {
      method: 'delete', path: '/api/v6/devices/:id', summary: 'Delete a device (unassigned first; its DevEUI can be registered again)',
      tag: 'devices', auth: 'technician', response: deletedSchema,
      handler: async (_ctx, { params, principal }) => {
        await tx(principal, async (c) => {
          const device = await getDevice(c, params.id!, { forUpdate: true });
          if (!device) throw new NotFoundError('Device');
          await unassign(c, principal, device, 'deleted');
          await softDeleteDevice(c, device.id);
        });
        return { status: 'deleted', id: params.id };
      },
    },
    {
      method: 'get', path: '/api/v6/devices/:id/readings', summary: "A device's latest decoded readings, newest first", tag: 'devices',
      auth: 'viewer',
      query: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: MAX_READINGS, default: DEFAULT_READINGS } } },
      response: { type: 'object', properties: { device_id: uuid, items: { type: 'array', items: readingSchema } } },
      handler: async (_ctx, { params, query, principal }) => {
        const limit = (query as { limit: number }).limit;
        return tx(principal, async (c) => {
          if (!(await getDevice(c, params.id!))) throw new NotFoundError('Device');
          return { device_id: params.id, items: await latestReadings(c, params.id!, limit) };
        });
      },
    },
    {
      method: 'get', path: '/api/v6/devices/:id/assignments', summary: "A device's assignment history, oldest first", tag: 'devices',
      auth: 'viewer', response: { type: 'object', properties: { device_id: uuid, items: { type: 'array', items: assignmentSchema } } },
      handler: async (_ctx, { params, principal }) =>
        tx(principal, async (c) => {
          if (!(await getDevice(c, params.id!))) throw new NotFoundError('Device');
          return { device_id: params.id, items: await listAssignments(c, params.id!) };
        }),
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
      body: reasonBody, response: deviceSchema,
      handler: async (_ctx, { body, params, principal }) =>
        deviceJson(
          await tx(principal, async (c) => {
            const device = await getDevice(c, params.id!, { forUpdate: true });
            if (!device) throw new NotFoundError('Device');
            return unassign(c, principal, device, (body as { reason?: string }).reason ?? null);
          }),
        ),
    },
  ];
}
