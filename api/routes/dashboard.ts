/**
 * Dashboard and signage routes: one call for an operator's overview, and a site's space
 * counts cheap enough for a sign to poll every few seconds.
 */
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { NotFoundError } from '../../src/errors.js';
import { SPACE_STATES } from '../../src/domain/state-machine.js';
import { uuid, timestamp } from '../../src/schemas/common.js';
import { deviceSummary, gatewaySummary, ingestHealth, siteOccupancy, DEVICE_STATUSES } from '../../src/storage/dashboard.js';
import { eventJson, recentEvents, EVENT_TYPES } from '../../src/storage/space-events.js';
import { occupancyPercent, spaceStats } from '../../src/storage/spaces.js';
import type { LiveHub } from '../live/hub.js';
import { liveEventSchema } from './events.js';
import { statsSchema } from './spaces.js';
import type { DocumentedRoute } from '../../src/openapi.js';

/** The dashboard shows this many of the newest events. */
export const RECENT_ACTIVITY_LIMIT = 20;

const int = { type: 'integer' } as const;
const stateCounts = Object.fromEntries(SPACE_STATES.map((s) => [s, int]));

const occupancyCounts = {
  total: int,
  ...stateCounts,
  occupancy_percent: { type: 'number', description: 'Occupied spaces per spaces in service (not in maintenance), in percent' },
} as const;

const occupancySchema = {
  type: 'object',
  properties: {
    site_id: uuid,
    ...occupancyCounts,
    updated_at: timestamp,
    zones: {
      type: 'array',
      description: "With ?group=zone: the counts per spaces' config.zone (null for spaces without one)",
      items: { type: 'object', properties: { zone: { type: ['string', 'null'] }, ...occupancyCounts } },
    },
  },
} as const;

const dashboardSchema = {
  type: 'object',
  properties: {
    devices: {
      type: 'object',
      properties: {
        total: int,
        by_status: { type: 'object', properties: Object.fromEntries(DEVICE_STATUSES.map((s) => [s, int])) },
        online: int,
        offline: int,
        never_seen: int,
        low_battery: int,
      },
    },
    gateways: { type: 'object', properties: { total: int, online: int, offline: int } },
    spaces: {
      type: 'object',
      properties: { ...statsSchema.properties, occupancy_percent: { type: 'number' } },
    },
    recent_activity: {
      type: 'array',
      items: { type: 'object', properties: { ...liveEventSchema.properties, type: { type: 'string', enum: EVENT_TYPES } } },
    },
    system_health: {
      type: 'object',
      properties: {
        last_uplink_at: { type: ['string', 'null'], format: 'date-time' },
        dead_letters_last_hour: int,
        live: {
          type: ['object', 'null'],
          description: "The live stream in this API process: its LISTEN connection, and this tenant's connected clients",
          properties: { listener_connected: { type: 'boolean' }, clients: int },
        },
      },
    },
    generated_at: timestamp,
  },
} as const;

export interface DashboardSettings {
  gatewayOfflineMinutes: number;
  deviceOfflineMinutes: number;
  lowBatteryPercent: number;
}

export function dashboardRoutes(deps: { pool: Pool; settings: DashboardSettings; live?: LiveHub }): DocumentedRoute[] {
  const { settings } = deps;
  return [
    {
      method: 'get', path: '/api/v6/dashboard/data', summary: 'Overview: devices, gateways, spaces, recent activity, system health',
      tag: 'dashboard', auth: 'viewer', response: dashboardSchema,
      description:
        `Devices are online when heard from within DEVICE_OFFLINE_MINUTES, gateways within GATEWAY_OFFLINE_MINUTES; ` +
        `low battery is the device's own flag or a level at or below LOW_BATTERY_PERCENT. recent_activity lists the ` +
        `${RECENT_ACTIVITY_LIMIT} newest space events.`,
      handler: async (_ctx, { principal }) => {
        const tenantId = principal.tenantId;
        const data = await withTx(deps.pool, { tenantId }, async (c) => ({
          devices: await deviceSummary(c, { offlineMinutes: settings.deviceOfflineMinutes, lowBatteryPercent: settings.lowBatteryPercent }),
          gateways: await gatewaySummary(c, settings.gatewayOfflineMinutes),
          spaces: await spaceStats(c),
          recent: await recentEvents(c, tenantId, RECENT_ACTIVITY_LIMIT),
          health: await ingestHealth(c),
        }));
        const live = deps.live;
        return {
          devices: data.devices,
          gateways: data.gateways,
          spaces: { ...data.spaces, occupancy_percent: occupancyPercent(data.spaces.by_state, data.spaces.total) },
          recent_activity: data.recent.map((e) => ({ ...eventJson(e), type: e.type })),
          system_health: {
            last_uplink_at: data.health.last_uplink_at,
            dead_letters_last_hour: data.health.dead_letters_last_hour,
            live: live
              ? { listener_connected: live.stats.listener.connected, clients: live.clientsOf(tenantId) }
              : null,
          },
          generated_at: new Date(),
        };
      },
    },
    {
      method: 'get', path: '/api/v6/sites/:id/occupancy', summary: "A site's space counts by state, for signs", tag: 'dashboard',
      auth: 'viewer', response: occupancySchema,
      query: { type: 'object', properties: { group: { type: 'string', enum: ['zone'], description: "Also count per spaces' config.zone" } } },
      handler: async (ctx, { params, query, principal }) => {
        const byZone = (query as { group?: 'zone' }).group === 'zone';
        const r = await withTx(deps.pool, { tenantId: principal.tenantId }, (c) => siteOccupancy(c, params.id!, byZone));
        if (!r) throw new NotFoundError('Site');
        // Signs poll; every answer is current, none may be reused.
        ctx.set('Cache-Control', 'no-store');
        return r;
      },
    },
  ];
}
