/**
 * The contract every sensor decoder fulfils: raw LoRaWAN application bytes in,
 * one vendor-neutral reading out. Decoders are pure: no I/O, no clock.
 */

/** What kind of frame a sensor sent (see the reference notes §3.9). */
export type ReadingKind = 'status' | 'heartbeat' | 'startup' | 'other';

export interface Reading {
  /** change frame (`status`), periodic confirmation (`heartbeat`), reboot (`startup`), or anything else. */
  kind: ReadingKind;
  /** true = vehicle present, false = absent, null = the frame says nothing about occupancy. */
  occupied: boolean | null;
  /** Battery as a percentage 0–100, when the frame carries one. */
  batteryPercent?: number;
  /** Battery voltage in volts, when the frame carries one. */
  batteryVolts?: number;
  /** True when the vendor's own rule flags the battery as low. */
  lowBattery?: boolean;
  /** Temperature in °C. */
  temperatureC?: number;
  /** True when the frame reports a sensor fault (the occupancy it carries should not be trusted). */
  fault?: boolean;
  /** Everything else the vendor's codec reports, under the vendor's own field names. */
  details: Record<string, unknown>;
}

export interface Decoder {
  /** Registry key stored in devices.decoder, e.g. `nwave-nps405`. */
  readonly name: string;
  /** Vendor's default heartbeat period in minutes (devices may override it in config.heartbeat_minutes). */
  readonly heartbeatMinutes: number;
  /** Battery percentage below which the device is flagged low, when the decoder reports no vendor flag. */
  readonly lowBatteryPercent: number;
  /**
   * Decode one uplink. `object` is ChirpStack's codec output when a device-profile codec ran
   * (only the `chirpstack-object` decoder reads it). Throws DecodeError on bytes it cannot read.
   */
  decode(fPort: number, bytes: Uint8Array, object?: Record<string, unknown>): Reading;
}

/** A payload the decoder cannot read; ingest dead-letters it naming the decoder and this reason. */
export class DecodeError extends Error {
  constructor(
    readonly decoder: string,
    readonly reason: string,
  ) {
    super(`${decoder}: ${reason}`);
    this.name = 'DecodeError';
  }
}
