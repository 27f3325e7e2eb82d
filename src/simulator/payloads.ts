/**
 * Builds sensor frames for the simulator: the bytes (or ChirpStack `object`) a parking
 * sensor sends when its bay changes state and on its periodic heartbeat, in the layouts
 * src/domain/decoders read, so simulated traffic goes through the real decoders.
 */

/** Decoders the simulator can speak. */
export const SIMULATED_DECODERS = ['nwave-nps405', 'chirpstack-object'] as const;
export type SimulatedDecoder = (typeof SIMULATED_DECODERS)[number];

export interface Frame {
  fPort: number;
  data: Buffer;
  /** ChirpStack's decoded object, for devices decoded by their ChirpStack device profile. */
  object?: Record<string, unknown>;
}

/** Nwave NPS405 ports (src/domain/decoders/nwave.ts, after the vendor codec nps405.js). */
const NPS405_PORT_STATUS = 1;
const NPS405_PORT_HEARTBEAT = 2;
/** Bits 1–7 of a status frame: minutes in the previous state, exact below 90 (nwave.ts previousState). */
const MAX_EXACT_DURATION = 89;
/** Heartbeat battery byte: mV = 2500 + byte × 4 (nwave.ts), so at most 3.52 V. */
const BATTERY_BASE_MV = 2500;
const BATTERY_STEP_MV = 4;
/** Heartbeat temperature byte: °C = int8 / 2 + 10 (nwave.ts). */
const TEMPERATURE_SCALE = 2;
const TEMPERATURE_OFFSET_C = 10;

/** Any fPort ≥ 1 carries application data; the ChirpStack codec has already decoded it. */
const OBJECT_PORT = 1;

export interface SensorReport {
  occupied: boolean;
  kind: 'status' | 'heartbeat';
  /** Minutes the bay spent in its previous state (status frames). */
  previousMinutes?: number;
  batteryMv?: number;
  temperatureC?: number;
}

export function sensorFrame(decoder: SimulatedDecoder, r: SensorReport): Frame {
  const occupiedBit = r.occupied ? 1 : 0;
  switch (decoder) {
    case 'nwave-nps405': {
      if (r.kind === 'status') {
        const minutes = Math.max(0, Math.min(MAX_EXACT_DURATION, Math.round(r.previousMinutes ?? 0)));
        return { fPort: NPS405_PORT_STATUS, data: Buffer.from([(minutes << 1) | occupiedBit]) };
      }
      const mv = r.batteryMv ?? 3500;
      const battery = Math.max(0, Math.min(255, Math.round((mv - BATTERY_BASE_MV) / BATTERY_STEP_MV)));
      const temp = Math.max(-128, Math.min(127, Math.round(((r.temperatureC ?? 15) - TEMPERATURE_OFFSET_C) * TEMPERATURE_SCALE)));
      return { fPort: NPS405_PORT_HEARTBEAT, data: Buffer.from([occupiedBit, battery, temp & 0xff]) };
    }
    case 'chirpstack-object': {
      const object: Record<string, unknown> = { status: r.occupied ? 'occupied' : 'free' };
      if (r.kind === 'heartbeat') {
        object.message_type = 'heartbeat';
        if (r.batteryMv !== undefined) object.battery_voltage = r.batteryMv / 1000;
        if (r.temperatureC !== undefined) object.temperature = r.temperatureC;
      }
      return { fPort: OBJECT_PORT, data: Buffer.from([occupiedBit]), object };
    }
  }
}

/** DevEUI number `index` after `first` (16 hex digits, uppercase). */
export function devEuiAt(first: string, index: number): string {
  return (BigInt(`0x${first}`) + BigInt(index)).toString(16).padStart(16, '0').toUpperCase().slice(-16);
}

/** A small seeded PRNG (mulberry32), so a run can be repeated with --seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

