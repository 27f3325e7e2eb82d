/**
 * Owns the Bosch Parking Lot Sensor TPS110 decoder (`bosch-tps110`, firmware 0.29.x).
 *
 * Layout follows the vendor codec TheThingsNetwork/lorawan-devices `vendor/bosch/tpl110-0292.js`
 * @ 0a254aaa3adb0237faed50aa34916df1d07cf417, checked against the examples in
 * `vendor/bosch/tps110-0292-codec.yaml` @ 3410a4b514782f139bb5d4e6c9cb27fe01971022.
 * `details` holds exactly what that codec returns, under its camelCase field names.
 */
import { ByteReader } from './bytes.js';
import { DecodeError, type Decoder, type Reading } from './types.js';

const NAME = 'bosch-tps110';

/**
 * The sensor sends a heartbeat once a day ("Einmal am Tag gibt er ein Lebenszeichen (Heartbeat)",
 * golem.de review of the Bosch sensor, 2019); devices may override it in config.heartbeat_minutes.
 */
const HEARTBEAT_MINUTES = 24 * 60;
/** TPS110 frames carry no battery reading at all; 20 % is only our fallback for the contract. */
const LOW_BATTERY_PERCENT = 20;

const PORT_STATUS = 1;
const PORT_HEARTBEAT = 2;
const PORT_STARTUP = 3;
const PORT_DEVICE_INFO = 4;
const PORT_DEVICE_USAGE = 5;
const PORT_DEBUG = 6;

const OCCUPIED_BIT = 0x01;

const STATUS_BYTES = 1;
const HEARTBEAT_BYTES = 1;
/** Firmware 0.29.x appends an int8 °C to the heartbeat; 0.23.x sends the status byte alone. */
const HEARTBEAT_WITH_TEMPERATURE_BYTES = 2;

/** Startup: three 4-byte debug records, firmware at 12–14, reset cause at 15, state at 16. */
const STARTUP_BYTES = 17;
const DEBUG_RECORD_COUNT = 3;
const DEBUG_RECORD_BYTES = 4;
/** A debug code is 12 bits: low byte, then the low nibble of the next byte. */
const DEBUG_CODE_HIGH_NIBBLE = 0x0f;
const FIRMWARE_OFFSET = 12;
const RESET_CAUSE_OFFSET = 15;
const STARTUP_STATE_OFFSET = 16;
/** Index 0 is undefined in the codec; unknown causes are reported as null. */
const RESET_CAUSES: readonly (string | null)[] = [null, 'watchdog', 'power on', 'system request', 'other'];

/** Debug frame: u32 LE timestamp, 12-bit debug code at 4–5, u16 LE sequence number at 8–9. */
const DEBUG_BYTES = 10;
const DEBUG_CODE_OFFSET = 4;
const SEQUENCE_OFFSET = 8;

type FrameDecoder = (r: ByteReader) => Reading;

function occupiedBit(r: ByteReader, offset: number): boolean {
  return (r.u8(offset) & OCCUPIED_BIT) === OCCUPIED_BIT;
}

function debugCode(r: ByteReader, offset: number): number {
  return ((r.u8(offset + 1) & DEBUG_CODE_HIGH_NIBBLE) << 8) | r.u8(offset);
}

function status(r: ByteReader): Reading {
  r.need(STATUS_BYTES, `fPort ${PORT_STATUS} parking status`);
  const occupied = occupiedBit(r, 0);
  return { kind: 'status', occupied, details: { type: 'parking status', occupied } };
}

function heartbeat(r: ByteReader): Reading {
  r.need(HEARTBEAT_BYTES, `fPort ${PORT_HEARTBEAT} heartbeat`);
  const occupied = occupiedBit(r, 0);
  if (r.length < HEARTBEAT_WITH_TEMPERATURE_BYTES) {
    return { kind: 'heartbeat', occupied, details: { type: 'heartbeat', occupied } };
  }
  const temperature = r.i8(1);
  return {
    kind: 'heartbeat',
    occupied,
    temperatureC: temperature,
    details: { type: 'heartbeat', occupied, temperature },
  };
}

function startup(r: ByteReader): Reading {
  r.need(STARTUP_BYTES, `fPort ${PORT_STARTUP} startup`);
  const debugCodes: number[] = [];
  for (let i = 0; i < DEBUG_RECORD_COUNT; i++) {
    const code = debugCode(r, i * DEBUG_RECORD_BYTES);
    // An all-zero record is an empty slot, not code 0 (the codec skips them too).
    if (code !== 0) debugCodes.push(code);
  }
  const occupied = occupiedBit(r, STARTUP_STATE_OFFSET);
  return {
    kind: 'startup',
    occupied,
    details: {
      type: 'startup',
      debugCodes,
      firmwareVersion: `${r.u8(FIRMWARE_OFFSET)}.${r.u8(FIRMWARE_OFFSET + 1)}.${r.u8(FIRMWARE_OFFSET + 2)}`,
      resetCause: RESET_CAUSES[r.u8(RESET_CAUSE_OFFSET)] ?? null,
      occupied,
    },
  };
}

/** Device information and usage frames: the codec passes the raw bytes through, and so do we. */
function rawFrame(type: string): FrameDecoder {
  return (r) => ({ kind: 'other', occupied: null, details: { type, bytes: r.array() } });
}

function debug(r: ByteReader): Reading {
  r.need(DEBUG_BYTES, `fPort ${PORT_DEBUG} debug`);
  return {
    kind: 'other',
    occupied: null,
    details: {
      type: 'debug',
      // The codec ORs shifted bytes into a signed 32-bit int; read unsigned so late timestamps stay positive.
      timestamp: r.u32le(0),
      debugCode: debugCode(r, DEBUG_CODE_OFFSET),
      sequenceNumber: r.u16le(SEQUENCE_OFFSET),
    },
  };
}

const PORTS: ReadonlyMap<number, FrameDecoder> = new Map<number, FrameDecoder>([
  [PORT_STATUS, status],
  [PORT_HEARTBEAT, heartbeat],
  [PORT_STARTUP, startup],
  [PORT_DEVICE_INFO, rawFrame('device information')],
  [PORT_DEVICE_USAGE, rawFrame('device usage')],
  [PORT_DEBUG, debug],
]);

export const boschTps110: Decoder = Object.freeze({
  name: NAME,
  heartbeatMinutes: HEARTBEAT_MINUTES,
  lowBatteryPercent: LOW_BATTERY_PERCENT,
  decode(fPort: number, bytes: Uint8Array): Reading {
    const frame = PORTS.get(fPort);
    if (!frame) throw new DecodeError(NAME, `fPort ${fPort} is not a known ${NAME} frame`);
    return frame(new ByteReader(NAME, bytes));
  },
});
