/**
 * device_health: every minute, marks assigned sensors `offline` when silent longer than
 * HEARTBEAT_TOLERANCE × their heartbeat (src/storage/device-health.ts says which heartbeat),
 * and sets their space `unknown` through the state machine (input comms_lost), which
 * appends a `comms_lost` space event. The next uplink brings the device back and records
 * its space's next change as `comms_restored` (ingest/apply.ts).
 *
 * When every gateway that recently heard a silent sensor is offline, the gateway is the
 * news, not the sensor: one `gateway_offline` row per outage goes to gateway_events, the
 * sensors are marked offline, and their spaces are left as they were, with no per-sensor event.
 *
 * Also flags low batteries the ingest path could not judge (a percent from a `status`
 * event, which names no decoder).
 *
 * Candidates are found across tenants with the ingest role's read policy; each tenant's are
 * then handled in one transaction under its setting: spaces locked first (lockSpaces, the
 * lock ingest takes before it writes device health, so the two never deadlock), then the
 * silence checked again, so an uplink that arrived meanwhile wins.
 */
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import type { Logger } from '../../src/log.js';
import { decoders } from '../../src/domain/decoders/index.js';
import { lockSpaces } from '../../src/storage/space-state.js';
import { applySpaceInput } from '../../src/space-transitions.js';
import {
  findSilentSensors,
  findUnflaggedLowBattery,
  flagLowBattery,
  markOffline,
  recordGatewayOutages,
  type GatewayOutage,
  type Thresholds,
} from '../../src/storage/device-health.js';
import type { JobDef } from './job.js';

export interface HealthCounts {
  offline: number;
  comms_lost: number;
  gateway_suppressed: number;
  gateway_offline_events: number;
  low_battery: number;
  tenants: number;
}

function groupByTenant<T extends { tenantId: string }>(rows: T[]): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const r of rows) m.set(r.tenantId, [...(m.get(r.tenantId) ?? []), r]);
  return m;
}

export async function checkDeviceHealth(pool: Pool, log: Logger, th: Thresholds): Promise<HealthCounts> {
  const counts: HealthCounts = { offline: 0, comms_lost: 0, gateway_suppressed: 0, gateway_offline_events: 0, low_battery: 0, tenants: 0 };
  const silent = await withTx(pool, {}, (c) => findSilentSensors(c, th));
  const bySilentTenant = groupByTenant(silent);
  for (const [tenantId, list] of bySilentTenant) {
    await withTx(pool, { tenantId }, async (c) => {
      await lockSpaces(c, [...new Set(list.map((s) => s.spaceId))]);
      const still = await findSilentSensors(c, th, list.map((s) => s.id));
      const marked = new Set(await markOffline(c, still.map((s) => s.id)));
      const outages = new Map<string, GatewayOutage>();
      for (const s of still) {
        if (!marked.has(s.id)) continue;
        counts.offline++;
        if (s.offlineGateways.length > 0) {
          counts.gateway_suppressed++;
          s.offlineGateways.forEach((id, i) => {
            const o = outages.get(id) ?? { gatewayId: id, since: s.offlineGatewaysSince[i]!, deviceCount: 0 };
            o.deviceCount++;
            outages.set(id, o);
          });
          continue;
        }
        const d = await applySpaceInput(c, tenantId, s.spaceId, { type: 'comms_lost' }, { deviceId: s.id, at: th.now });
        if (d?.transition) counts.comms_lost++;
      }
      counts.gateway_offline_events += await recordGatewayOutages(c, tenantId, th.now, [...outages.values()]);
    });
  }
  const low = await withTx(pool, {}, (c) => findUnflaggedLowBattery(c, th));
  const byLowTenant = groupByTenant(low);
  for (const [tenantId, list] of byLowTenant) {
    counts.low_battery += await withTx(pool, { tenantId }, (c) => flagLowBattery(c, list.map((d) => d.id)));
  }
  counts.tenants = new Set([...bySilentTenant.keys(), ...byLowTenant.keys()]).size;
  if (counts.offline > 0 || counts.low_battery > 0) log.info(counts, 'device health changed');
  return counts;
}

/** What each decoder expects, for the SQL (src/storage/device-health.ts). */
function decoderThresholds(): Thresholds['decoders'] {
  return [...decoders.values()].map((d) => ({ name: d.name, heartbeatMinutes: d.heartbeatMinutes, lowBatteryPercent: d.lowBatteryPercent }));
}


export const deviceHealthJob: JobDef = {
  name: 'device_health',
  schedule: '30 * * * * *', // every minute, at second 30 (away from the other jobs' ticks)
  async run({ pool, log, config, now }) {
    const counts = await checkDeviceHealth(pool, log, {
      now: now(),
      decoders: decoderThresholds(),
      defaultHeartbeatMinutes: config.deviceHeartbeatDefaultMinutes,
      defaultLowBatteryPercent: config.lowBatteryPercent,
      gatewayOfflineMinutes: config.gatewayOfflineMinutes,
    });
    return { status: 'succeeded', counts: { ...counts } };
  },
};
