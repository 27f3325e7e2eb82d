/**
 * Owns how the console judges a device's health from its API fields, so the live tiles
 * and the devices page never disagree about which sensor is offline.
 */
import type { Device } from './types.js';

/**
 * A sensor silent this long shows as offline: the API's DEVICE_OFFLINE_MINUTES default,
 * the same threshold the dashboard's `devices.offline` count uses (src/storage/dashboard.ts).
 */
export const DEVICE_OFFLINE_MS = 1500 * 60_000;

/** Offline: the health job said so, it never reported, or it has been silent too long. */
export function isOffline(d: Pick<Device, 'status' | 'last_seen_at'>, now = Date.now()): boolean {
  return d.status === 'offline' || !d.last_seen_at || now - new Date(d.last_seen_at).getTime() > DEVICE_OFFLINE_MS;
}
