/**
 * Owns the Libelium Plug & Sense! Smart Parking decoder (`libelium-smart-parking`, firmware v2.x.x
 * frames; byte 0 and 1 are read the same way for v3).
 *
 * Libelium publishes no codec or test vectors. The layout is the "Plug & Sense! Smart Parking
 * Technical Guide" (the PARKING-V1 User Manual; public copy at
 * usermanual.wiki/Libelium-Comunicaciones-Distribuidas-S-L/PARKING-V1), §7 "Frames",
 * §7.1 "Firmware version v2.x.x": §7.1 bytes 0–1, §7.1.1 info, §7.1.2 keep-alive, §7.1.3 daily update,
 * §7.1.4 error, §7.1.5 start frames.
 * v1.x.x frames (§7.2) put 16-bit values from byte 2 on and are not supported: their occupancy and
 * frame type still decode, their measurements would not.
 * The field names in `details` are the manual's, in snake_case.
 */
import { ByteReader } from './bytes.js';
import { DecodeError, type Decoder, type Reading, type ReadingKind } from './types.js';

const NAME = 'libelium-smart-parking';

/**
 * Keep-alive is sent when nothing was transmitted for KEEP_ALIVE hours; the manual's example
 * configuration (§5) uses 2 h by day and 3 h in night mode. We take the longer so night-mode
 * devices are not marked stale; devices may override it in config.heartbeat_minutes.
 */
const HEARTBEAT_MINUTES = 3 * 60;
/** Frames carry a battery-state bit, never a percentage; 20 % is only our fallback for the contract. */
const LOW_BATTERY_PERCENT = 20;

/** Byte 0 (§7.1): bit 7 parking slot status, bit 6 battery state (1 = change it), bits 3–0 frame type. */
const OCCUPIED_BIT = 0x80;
const BATTERY_LOW_BIT = 0x40;
const FRAME_TYPE_MASK = 0x0f;
const HEADER_BYTES = 2;
const FRAME_COUNTER_OFFSET = 1;

const FRAME_INFO = 0;
const FRAME_KEEP_ALIVE = 1;
const FRAME_DAILY = 2;
const FRAME_ERROR = 3;
const FRAME_START_1 = 4;
const FRAME_START_2 = 5;
/** Types 6–8 exist only in v3 (service, downlink, rssi) per our reference notes §3.7; v2 reserves 6–15. */
const FRAME_SERVICE = 6;
const FRAME_DOWNLINK = 7;
const FRAME_RSSI = 8;

/** "Error data" byte of the error frame (§7.1.4); bits 7–6 reserved. */
const ERROR_BITS = {
  error_sigfox: 0x20,
  error_lorawan: 0x10,
  error_rtc: 0x08,
  error_x: 0x04,
  error_y: 0x02,
  error_z: 0x01,
} as const;

const MILLIVOLTS_PER_VOLT = 1000;

interface Frame {
  readonly name: string;
  readonly kind: ReadingKind;
  /** Bytes the frame must hold, header included. */
  readonly bytes: number;
  /** The frame reports a failure, so the occupancy it repeats should not be trusted. */
  readonly fault?: boolean;
  /** Fields after the 2-byte header; `temperature` (°C) and `battery_mv` also feed the reading. */
  readonly read: (r: ByteReader) => Record<string, unknown>;
}

/** X/Y/Z as three big-endian int16 starting at `offset` ("16-bit value in 2's complement form"). */
function axes(r: ByteReader, offset: number, suffix: 'axis' | 'reference'): Record<string, number> {
  return {
    [`x_${suffix}`]: r.i16be(offset),
    [`y_${suffix}`]: r.i16be(offset + 2),
    [`z_${suffix}`]: r.i16be(offset + 4),
  };
}

function passThrough(r: ByteReader): Record<string, unknown> {
  return { payload: r.array().slice(HEADER_BYTES) };
}

// Temperature in v2 is one byte: "Temperature (Celsius degrees) from the node's internal sensor.
// The value of temperature is a signed integer."
const FRAMES: ReadonlyMap<number, Frame> = new Map<number, Frame>([
  [
    FRAME_INFO,
    {
      // §7.1.1: sent "each time it detects that the parking slot changed from empty to occupied or vice-versa".
      name: 'info',
      kind: 'status',
      bytes: 9,
      read: (r) => ({ temperature: r.i8(2), ...axes(r, 3, 'axis') }),
    },
  ],
  [
    FRAME_KEEP_ALIVE,
    {
      // §7.1.2: "the parking slot has not changed, but the node is still working".
      name: 'keep_alive',
      kind: 'heartbeat',
      bytes: 11,
      read: (r) => ({ timestamp_hh: r.u8(2), timestamp_mm: r.u8(3), temperature: r.i8(4), ...axes(r, 5, 'axis') }),
    },
  ],
  [
    FRAME_DAILY,
    {
      // §7.1.3: sent daily at 1 AM; it repeats byte 0, so it confirms the state like a keep-alive.
      name: 'daily_update',
      kind: 'heartbeat',
      bytes: 10,
      read: (r) => ({
        sensor_measurements: r.u16be(2),
        sigfox_transmissions: r.u16be(4),
        lorawan_transmissions: r.u16be(6),
        resets: r.u8(8),
        config_id: r.u8(9),
      }),
    },
  ],
  [
    FRAME_ERROR,
    {
      // §7.1.4: sent "if some internal components or processes fail".
      name: 'error',
      kind: 'other',
      bytes: 11,
      fault: true,
      read: (r) => {
        const errorData = r.u8(2);
        return {
          ...Object.fromEntries(Object.entries(ERROR_BITS).map(([field, bit]) => [field, (errorData & bit) === bit])),
          temperature: r.i8(3),
          ...axes(r, 4, 'axis'),
          // Raw: the copies of the manual we could read lost the conversion formula.
          battery_level: r.u8(10),
        };
      },
    },
  ],
  [
    FRAME_START_1,
    {
      // §7.1.5.1: first frame after the node starts in the slot: sensor references and battery.
      name: 'start_1',
      kind: 'startup',
      bytes: 11,
      read: (r) => ({ temperature: r.i8(2), ...axes(r, 3, 'reference'), battery_mv: r.u16be(9) }),
    },
  ],
  [
    FRAME_START_2,
    {
      // §7.1.5.2: second start frame: firmware and the configuration in force, as sent.
      name: 'start_2',
      kind: 'startup',
      bytes: 11,
      read: (r) => ({
        firmware_version: r.u8(2),
        nm_start: r.u8(3),
        nm_period: r.u8(4),
        nm_sleep_time: r.u8(5),
        nm_keep_alive: r.u8(6),
        radio_mode: r.u8(7),
        sleep_time: r.u8(8),
        keep_alive: r.u8(9),
        threshold: r.u8(10),
      }),
    },
  ],
  // v3-only types: no published layout we could read, so the payload after the header is passed through.
  [FRAME_SERVICE, { name: 'service', kind: 'other', bytes: HEADER_BYTES, read: passThrough }],
  [FRAME_DOWNLINK, { name: 'downlink', kind: 'other', bytes: HEADER_BYTES, read: passThrough }],
  [FRAME_RSSI, { name: 'rssi', kind: 'other', bytes: HEADER_BYTES, read: passThrough }],
]);

function decode(bytes: Uint8Array): Reading {
  const r = new ByteReader(NAME, bytes).need(HEADER_BYTES, 'frame header');
  const header = r.u8(0);
  const type = header & FRAME_TYPE_MASK;
  const frame = FRAMES.get(type);
  if (!frame) throw new DecodeError(NAME, `frame type ${type} is not a known ${NAME} frame`);
  r.need(frame.bytes, `${frame.name} frame (type ${type})`);
  const fields = frame.read(r);
  const occupied = (header & OCCUPIED_BIT) !== 0;
  const lowBattery = (header & BATTERY_LOW_BIT) !== 0;
  const reading: Reading = {
    kind: frame.kind,
    // Byte 0 is common to every frame (§7.1), so each one states the slot.
    occupied,
    lowBattery,
    details: {
      frame_type: frame.name,
      frame_counter: r.u8(FRAME_COUNTER_OFFSET),
      parking_slot_status: occupied ? 'occupied' : 'empty',
      battery_state: lowBattery ? 'low' : 'good',
      ...fields,
    },
  };
  if (typeof fields['temperature'] === 'number') reading.temperatureC = fields['temperature'];
  if (typeof fields['battery_mv'] === 'number') reading.batteryVolts = fields['battery_mv'] / MILLIVOLTS_PER_VOLT;
  if (frame.fault) reading.fault = true;
  return reading;
}

/** Libelium sends the same frames over LoRaWAN and Sigfox and assigns no meaning to the fPort. */
export const libeliumSmartParking: Decoder = Object.freeze({
  name: NAME,
  heartbeatMinutes: HEARTBEAT_MINUTES,
  lowBatteryPercent: LOW_BATTERY_PERCENT,
  decode(_fPort: number, bytes: Uint8Array): Reading {
    return decode(bytes);
  },
});
