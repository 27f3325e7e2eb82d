/**
 * Owns the `chirpstack-object` decoder: it reads the `object` a ChirpStack device-profile codec
 * produced (UplinkEvent.object, reference notes §1.4) instead of the raw bytes, recognising the
 * field shapes parking codecs commonly emit. It is the registry's default for devices with no decoder set.
 */
import { DecodeError, type Decoder, type Reading, type ReadingKind } from './types.js';

const NAME = 'chirpstack-object';

/** Unknown device, unknown period: 24 h, the default Nwave and Bosch document; override per device. */
const HEARTBEAT_MINUTES = 24 * 60;
/** Applied by the caller when a codec reports a percentage but no low-battery flag of its own. */
const LOW_BATTERY_PERCENT = 20;

/** Cayenne LPP presence channels as PlacePod uses them (ChirpStack's built-in codec: `presenceSensor`). */
const CAYENNE_STATUS_CHANNEL = '21';
const CAYENNE_KEEP_ALIVE_CHANNEL = '55';

/** Occupancy words seen in codec output (`status`, `p_state`), compared lowercase. */
const FREE_WORDS = new Set(['free', 'vacant']);
const OCCUPIED_WORDS = new Set(['occupied']);

/** Kind hints in `message_type` / `type`, compared lowercase with `-`, `_` and spaces removed. */
const HEARTBEAT_HINTS = new Set(['heartbeat', 'keepalive']);
const STARTUP_HINTS = new Set(['startup', 'start', 'boot', 'reboot']);
/** Diagnostic frames (Nwave and Bosch `debug`, Bosch device information/usage) confirm nothing about the slot. */
const OTHER_HINTS = new Set(['debug', 'deviceinformation', 'deviceusage']);

/** Field names that are unambiguous about their unit. */
const PERCENT_KEYS = ['batteryPercent', 'battery_percent', 'batteryPercentage', 'battery_percentage'];
const VOLT_KEYS = ['batteryVolts', 'battery_volts', 'batteryVoltage', 'battery_voltage'];
const MILLIVOLT_KEYS = ['batteryMv', 'battery_mv', 'battery_mV', 'batteryMillivolts'];
const TEMPERATURE_KEYS = ['temperatureC', 'temperature_c', 'temperature', 'Temperature'];
const LOW_BATTERY_KEYS = ['lowBattery', 'low_battery', 'battery_low', 'batteryLow'];
/** Nwave's `battery_health`: anything but normal is low. */
const HEALTHY_BATTERY = 'normal';
const MILLIVOLTS_PER_VOLT = 1000;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function finite(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function firstNumber(object: Record<string, unknown>, keys: readonly string[]): number | undefined {
  for (const key of keys) {
    const n = finite(object[key]);
    if (n !== undefined) return n;
  }
  return undefined;
}

/** true/false, or 1/0 as TTN-style codecs (Tekzipark) emit flags. */
function flag(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 1) return true;
  if (value === 0) return false;
  return undefined;
}

function normalise(word: string): string {
  return word.toLowerCase().replace(/[-_\s]/g, '');
}

interface Occupancy {
  occupied: boolean | null;
  /** Set when the field itself says which kind of frame this was (Cayenne keep-alive channel). */
  kind?: ReadingKind;
}

function occupancy(object: Record<string, unknown>): Occupancy {
  const direct = flag(object['occupied']);
  if (direct !== undefined) return { occupied: direct };

  for (const key of ['status', 'p_state']) {
    const word = object[key];
    if (typeof word !== 'string') continue;
    const lower = word.trim().toLowerCase();
    if (FREE_WORDS.has(lower)) return { occupied: false };
    if (OCCUPIED_WORDS.has(lower)) return { occupied: true };
  }

  const presence = object['presenceSensor'];
  if (isRecord(presence)) {
    const status = flag(presence[CAYENNE_STATUS_CHANNEL]);
    if (status !== undefined) return { occupied: status, kind: 'status' };
    const keepAlive = flag(presence[CAYENNE_KEEP_ALIVE_CHANNEL]);
    if (keepAlive !== undefined) return { occupied: keepAlive, kind: 'heartbeat' };
    for (const value of Object.values(presence)) {
      const other = flag(value);
      if (other !== undefined) return { occupied: other, kind: 'status' };
    }
  }
  return { occupied: null };
}

function hintedKind(object: Record<string, unknown>): ReadingKind | undefined {
  for (const key of ['message_type', 'type']) {
    const hint = object[key];
    if (typeof hint !== 'string') continue;
    const word = normalise(hint);
    if (HEARTBEAT_HINTS.has(word)) return 'heartbeat';
    if (STARTUP_HINTS.has(word)) return 'startup';
    if (OTHER_HINTS.has(word)) return 'other';
  }
  // Tekzipark's codec marks periodic frames with keepAlive: 1.
  if (flag(object['keepAlive']) === true) return 'heartbeat';
  return undefined;
}

function lowBattery(object: Record<string, unknown>): boolean | undefined {
  for (const key of LOW_BATTERY_KEYS) {
    const low = flag(object[key]);
    if (low !== undefined) return low;
  }
  const health = object['battery_health'];
  if (typeof health === 'string') return health.toLowerCase() !== HEALTHY_BATTERY;
  const good = flag(object['Good_Battery']);
  if (good !== undefined) return !good;
  return undefined;
}

function temperature(object: Record<string, unknown>): number | undefined {
  const direct = firstNumber(object, TEMPERATURE_KEYS);
  if (direct !== undefined) return direct;
  // ChirpStack's Cayenne codec: {temperatureSensor: {"<channel>": °C}}; only unambiguous with one channel.
  const cayenne = object['temperatureSensor'];
  if (isRecord(cayenne)) {
    const values = Object.values(cayenne);
    if (values.length === 1) return finite(values[0]);
  }
  return undefined;
}

function decode(object: Record<string, unknown> | undefined): Reading {
  if (!isRecord(object)) {
    throw new DecodeError(NAME, 'no decoded object: ChirpStack ran no codec for this device');
  }
  const { occupied, kind: fieldKind } = occupancy(object);
  const kind: ReadingKind = hintedKind(object) ?? fieldKind ?? (occupied === null ? 'other' : 'status');

  const reading: Reading = { kind, occupied, details: { ...object } };
  const percent = firstNumber(object, PERCENT_KEYS);
  if (percent !== undefined) reading.batteryPercent = percent;
  const volts = firstNumber(object, VOLT_KEYS);
  const millivolts = firstNumber(object, MILLIVOLT_KEYS);
  if (volts !== undefined) reading.batteryVolts = volts;
  else if (millivolts !== undefined) reading.batteryVolts = millivolts / MILLIVOLTS_PER_VOLT;
  const low = lowBattery(object);
  if (low !== undefined) reading.lowBattery = low;
  const celsius = temperature(object);
  if (celsius !== undefined) reading.temperatureC = celsius;
  if (typeof object['fault'] === 'boolean') reading.fault = object['fault'];
  return reading;
}

export const chirpstackObject: Decoder = Object.freeze({
  name: NAME,
  heartbeatMinutes: HEARTBEAT_MINUTES,
  lowBatteryPercent: LOW_BATTERY_PERCENT,
  decode(_fPort: number, _bytes: Uint8Array, object?: Record<string, unknown>): Reading {
    return decode(object);
  },
});
