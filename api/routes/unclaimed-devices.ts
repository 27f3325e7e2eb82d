/**
 * The tenant's unclaimed devices: DevEUIs in its mapped ChirpStack applications that no one
 * registered, whether ChirpStack lists them (sync_chirpstack) or ingest heard their uplinks.
 * Each item carries what POST /api/v6/devices needs (dev_eui, name), so a technician
 * registers one in one call; registering takes it off this list in the same transaction.
 */
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { listOf, pageWindow, pagination, type Page } from '../../src/schemas/common.js';
import { listUnclaimed, type UnclaimedRow } from '../../src/storage/chirpstack.js';
import type { RouteDef } from './route.js';

const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const;

const unclaimedSchema = {
  type: 'object',
  properties: {
    dev_eui: { type: 'string' },
    application_id: { type: ['string', 'null'], format: 'uuid' },
    source: { enum: ['uplink', 'chirpstack'], description: '`chirpstack` when ChirpStack lists the device (heard or not), `uplink` when only heard' },
    name: { type: ['string', 'null'], description: "ChirpStack's name for it" },
    device_profile_name: { type: ['string', 'null'] },
    first_seen_at: nullableTime,
    last_seen_at: nullableTime,
    uplink_count: { type: ['integer', 'null'] },
    last_rssi: { type: ['integer', 'null'] },
    last_snr: { type: ['number', 'null'] },
    last_gateway_eui: { type: ['string', 'null'] },
    battery: { type: ['number', 'null'] },
  },
} as const;

function unclaimedJson(r: UnclaimedRow) {
  return {
    dev_eui: r.dev_eui,
    application_id: r.application_id,
    source: r.source,
    name: r.name,
    device_profile_name: r.device_profile_name,
    first_seen_at: r.first_seen_at,
    last_seen_at: r.last_seen_at,
    uplink_count: r.uplink_count === null ? null : Number(r.uplink_count),
    last_rssi: r.last_rssi,
    last_snr: r.last_snr,
    last_gateway_eui: r.last_gateway_eui,
    battery: r.battery,
  };
}

/** Mounted before the device routes, so "unclaimed" is not taken for a device id. */
export function unclaimedDeviceRoutes(deps: { pool: Pool }): RouteDef[] {
  return [
    {
      method: 'get', path: '/api/v6/devices/unclaimed',
      summary: "Devices of the tenant's ChirpStack applications that are not registered yet, most recently seen first",
      tag: 'devices', auth: 'technician',
      query: { type: 'object', properties: pagination }, response: listOf(unclaimedSchema),
      handler: async (_ctx, { query, principal }) => {
        const q = query as Page;
        const { limit, offset } = pageWindow(q);
        const r = await withTx(deps.pool, { tenantId: principal.tenantId }, (c) => listUnclaimed(c, limit, offset));
        return { items: r.items.map(unclaimedJson), total: r.total, page: q.page, page_size: q.page_size };
      },
    },
  ];
}
