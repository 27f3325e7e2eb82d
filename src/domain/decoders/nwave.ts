/**
 * Owns the Nwave parking-sensor decoders: NPS-4.5 (`nwave-nps405`, G4) and NPS-3.1 (`nwave-nps310`).
 *
 * Layouts follow the vendor codecs in TheThingsNetwork/lorawan-devices:
 * - `vendor/nwave/nps405.js` @ 62c8acdd7f0f1e43b65a86f6c158d83b3d0cd200 (the revision whose examples in
 *   `nps405-codec.yaml` @ 62c8acdd pass; @0a254aaa reads occupancy from bit 7 and does not);
 * - `vendor/nwave/nps310sm.js` @ 0a254aaa3adb0237faed50aa34916df1d07cf417.
 * `details` holds exactly what those codecs return, under their field names.
 */
import { ByteReader } from './bytes.js';
import { DecodeError, type Decoder, type Reading } from './types.js';

const NPS405 = 'nwave-nps405';
const NPS310 = 'nwave-nps310';

/**
 * "The heartbeat message is sent every 24 hours (by default)": Nwave wiki, "Nwave LoRaWAN Parking
 * Sensor – Getting Started" §4.2.2 Heartbeat. Devices may override it in config.heartbeat_minutes.
 */
const HEARTBEAT_MINUTES = 24 * 60;
/** Nwave frames carry no percentage (the heartbeat has its own battery_health flag); 20 % is our fallback. */
const LOW_BATTERY_PERCENT = 20;

const PORT_STATUS = 1;
const PORT_HEARTBEAT = 2;
const PORT_STARTUP = 3;
const PORT_DEBUG = 6;
const PORT_TAG = 10;

/** Bit 0 of byte 0 is the parking state in every NPS frame that carries one (nps405.js @62c8acdd). */
const OCCUPIED_BIT = 0x01;
/** Bits 1–7 of a status or tag frame hold the compressed duration of the previous state. */
const DURATION_SHIFT = 1;
const DURATION_MASK = 0x7f;

/**
 * The vendor codec reports `hw_health_status = byte0 & 0x7F`, a mask left over from the revision that
 * kept occupancy in bit 7; since occupancy moved to bit 0 that value includes the occupied bit. We keep
 * the vendor's number in `details` and derive `fault` from the health bits alone (1–6).
 */
const HW_HEALTH_MASK = 0x7f;
const HW_FAULT_BITS = HW_HEALTH_MASK & ~OCCUPIED_BIT;

/** Heartbeat battery: mV = 2500 + byte × 4; temperature: °C = int8 / 2 + 10 (nps405.js). */
const BATTERY_BASE_MV = 2500;
const BATTERY_STEP_MV = 4;
const TEMPERATURE_SCALE = 2;
const TEMPERATURE_OFFSET_C = 10;
/** battery_health thresholds (nps405.js): 3000/2900 mV, or 2900/2800 mV below −5 °C (cells sag in the cold). */
const COLD_BELOW_C = -5;
const LOW_MV = 3000;
const CRITICAL_MV = 2900;
const COLD_LOW_MV = 2900;
const COLD_CRITICAL_MV = 2800;

/** Startup reset-cause tables; gaps are causes the codecs leave undefined (we report null). */
const NPS405_RESET_CAUSES: readonly (string | null)[] = [
  'rejoining_lorawan_network',
  'watchdog',
  'power_on',
  'user_request',
  null,
  null,
  'brownout',
  'other',
];
const NPS310_RESET_CAUSES: readonly (string | null)[] = [
  null,
  'watchdog',
  'power_on',
  'user_request',
  'brownout',
  'other',
];

const STATUS_BYTES = 1;
const NPS405_HEARTBEAT_BYTES = 3;
const NPS310_HEARTBEAT_BYTES = 1;
const STARTUP_BYTES = 5;
const TAG_BYTES = 5;

type FrameDecoder = (r: ByteReader) => Reading;

interface PreviousState {
  previous_state_duration: number;
  previous_state_duration_error: number | null;
  previous_state_duration_overflow: boolean;
}

/**
 * Expands the 7-bit duration: <90 exact; 90–119 in steps of 5 (±4); 120–126 in steps of 60 (±59);
 * 127 = 660 or more. The codec states no unit; the steps suggest minutes.
 */
function previousState(compressed: number): PreviousState {
  if (compressed < 90) {
    return {
      previous_state_duration: compressed,
      previous_state_duration_error: 0,
      previous_state_duration_overflow: false,
    };
  }
  if (compressed < 120) {
    return {
      previous_state_duration: 90 + (compressed - 90) * 5,
      previous_state_duration_error: 4,
      previous_state_duration_overflow: false,
    };
  }
  if (compressed < 127) {
    return {
      previous_state_duration: 240 + (compressed - 120) * 60,
      previous_state_duration_error: 59,
      previous_state_duration_overflow: false,
    };
  }
  return {
    previous_state_duration: 660,
    previous_state_duration_error: null,
    previous_state_duration_overflow: true,
  };
}

function occupiedBit(r: ByteReader, offset: number): boolean {
  return (r.u8(offset) & OCCUPIED_BIT) === OCCUPIED_BIT;
}

function firmware(r: ByteReader): string {
  return `${r.u8(0)}.${r.u8(1)}.${r.u8(2)}`;
}

function debugFrame(r: ByteReader): Reading {
  return { kind: 'other', occupied: null, details: { type: 'debug', bytes: r.array() } };
}

function nps405Status(r: ByteReader): Reading {
  r.need(STATUS_BYTES, `fPort ${PORT_STATUS} parking status`);
  const occupied = occupiedBit(r, 0);
  return {
    kind: 'status',
    occupied,
    details: {
      type: 'parking_status',
      occupied,
      ...previousState((r.u8(0) >> DURATION_SHIFT) & DURATION_MASK),
    },
  };
}

function batteryHealth(millivolts: number, temperatureC: number): 'normal' | 'low' | 'critical' {
  const cold = temperatureC < COLD_BELOW_C;
  const low = cold ? COLD_LOW_MV : LOW_MV;
  const critical = cold ? COLD_CRITICAL_MV : CRITICAL_MV;
  if (millivolts >= low) return 'normal';
  if (millivolts >= critical) return 'low';
  return 'critical';
}

function nps405Heartbeat(r: ByteReader): Reading {
  // The published example is 6 bytes; the codec reads only the first 3, and so do we.
  r.need(NPS405_HEARTBEAT_BYTES, `fPort ${PORT_HEARTBEAT} heartbeat`);
  const occupied = occupiedBit(r, 0);
  const millivolts = BATTERY_BASE_MV + r.u8(1) * BATTERY_STEP_MV;
  const temperatureC = r.i8(2) / TEMPERATURE_SCALE + TEMPERATURE_OFFSET_C;
  const health = batteryHealth(millivolts, temperatureC);
  const batteryVolts = millivolts / 1000;
  return {
    kind: 'heartbeat',
    occupied,
    batteryVolts,
    lowBattery: health !== 'normal',
    temperatureC,
    fault: (r.u8(0) & HW_FAULT_BITS) !== 0,
    details: {
      type: 'heartbeat',
      occupied,
      hw_health_status: r.u8(0) & HW_HEALTH_MASK,
      temperature: temperatureC,
      battery_voltage: batteryVolts,
      battery_health: health,
    },
  };
}

function startup(causes: readonly (string | null)[]): FrameDecoder {
  return (r) => {
    r.need(STARTUP_BYTES, `fPort ${PORT_STARTUP} startup`);
    const occupied = occupiedBit(r, 4);
    return {
      kind: 'startup',
      occupied,
      details: {
        type: 'startup',
        firmware_version: firmware(r),
        reset_cause: causes[r.u8(3)] ?? null,
        occupied,
      },
    };
  };
}

/**
 * SDI tag check-in. Not a state change of its own (the change still arrives on fPort 1), so kind is
 * `other`; occupancy is reported only when the bit is set, as the codec does (null otherwise).
 */
function nps405Tag(r: ByteReader): Reading {
  r.need(TAG_BYTES, `fPort ${PORT_TAG} tag registration`);
  // The codec builds tag_id with signed 32-bit shifts and no padding; four zero-padded hex bytes
  // give the same string for its example and stay correct for IDs ≥ 0x80000000 or < 0x10000000.
  const tagId = r.hex(1, 5);
  if (!occupiedBit(r, 0)) {
    return {
      kind: 'other',
      occupied: null,
      details: {
        type: 'user_registration',
        occupied: null,
        previous_state_duration: null,
        previous_state_duration_error: null,
        previous_state_duration_overflow: null,
        tag_id: tagId,
      },
    };
  }
  return {
    kind: 'other',
    occupied: true,
    details: {
      type: 'user_registration',
      occupied: true,
      ...previousState((r.u8(0) >> DURATION_SHIFT) & DURATION_MASK),
      tag_id: tagId,
    },
  };
}

function nps310Status(r: ByteReader): Reading {
  r.need(STATUS_BYTES, `fPort ${PORT_STATUS} parking status`);
  const occupied = occupiedBit(r, 0);
  return { kind: 'status', occupied, details: { type: 'parking_status', occupied } };
}

function nps310Heartbeat(r: ByteReader): Reading {
  r.need(NPS310_HEARTBEAT_BYTES, `fPort ${PORT_HEARTBEAT} heartbeat`);
  const occupied = occupiedBit(r, 0);
  return { kind: 'heartbeat', occupied, details: { type: 'heartbeat', occupied } };
}

function nwaveDecoder(name: string, ports: ReadonlyMap<number, FrameDecoder>): Decoder {
  return Object.freeze({
    name,
    heartbeatMinutes: HEARTBEAT_MINUTES,
    lowBatteryPercent: LOW_BATTERY_PERCENT,
    decode(fPort: number, bytes: Uint8Array): Reading {
      const frame = ports.get(fPort);
      if (!frame) throw new DecodeError(name, `fPort ${fPort} is not a known ${name} frame`);
      return frame(new ByteReader(name, bytes));
    },
  });
}

export const nwaveNps405: Decoder = nwaveDecoder(
  NPS405,
  new Map<number, FrameDecoder>([
    [PORT_STATUS, nps405Status],
    [PORT_HEARTBEAT, nps405Heartbeat],
    [PORT_STARTUP, startup(NPS405_RESET_CAUSES)],
    [PORT_DEBUG, debugFrame],
    [PORT_TAG, nps405Tag],
  ]),
);

export const nwaveNps310: Decoder = nwaveDecoder(
  NPS310,
  new Map<number, FrameDecoder>([
    [PORT_STATUS, nps310Status],
    [PORT_HEARTBEAT, nps310Heartbeat],
    [PORT_STARTUP, startup(NPS310_RESET_CAUSES)],
    [PORT_DEBUG, debugFrame],
  ]),
);
