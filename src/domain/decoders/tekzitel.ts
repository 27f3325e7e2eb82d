/**
 * Owns the Tekzitel TEKZIPARK decoder (`tekzitel-tekzipark`, radar + magnetometer, BLE beacons).
 *
 * Layout follows the vendor codec TheThingsNetwork/lorawan-devices `vendor/tekzitel/tekzipark.js`
 * @ 3e90f02d9883c966b204fea5af10650561a150bb (same uplink logic as @0a254aaa), checked against the
 * examples in `vendor/tekzitel/tekzipark-codec.yaml` @ 62c8acdd7f0f1e43b65a86f6c158d83b3d0cd200.
 * `details` holds exactly what that codec returns, flags as 0/1 like the codec.
 */
import { ByteReader } from './bytes.js';
import { DecodeError, type Decoder, type Reading } from './types.js';

const NAME = 'tekzitel-tekzipark';

/**
 * The keep-alive period is a 2-bit downlink setting (`keepalive_period`, default 0) whose mapping to
 * time is not published; 24 h is our assumption (the period Nwave and Bosch document). Devices
 * should set config.heartbeat_minutes to what they were configured with.
 */
const HEARTBEAT_MINUTES = 24 * 60;
/** Frames carry a Good_Battery flag, never a percentage; 20 % is only our fallback for the contract. */
const LOW_BATTERY_PERCENT = 20;

const PORT_STATUS = 1;
const PORT_DEBUG = 2;

/** fPort 1 byte 0 flags (tekzipark.js). */
const FLAG_OCCUPIED = 0x80;
const FLAG_GOOD_BATTERY = 0x20;
const FLAG_OBSTRUCTION = 0x10;
const FLAG_RADAR = 0x08;
const FLAG_NO_BEACON = 0x04;
const FLAG_RESET = 0x02;
const FLAG_KEEP_ALIVE = 0x01;

/** Flags, int8 °C, parking ID; then optionally int8 beacon RSSI and 2-byte big-endian beacon IDs. */
const STATUS_BYTES = 3;
const BEACON_RSSI_OFFSET = 3;
const BEACONS_OFFSET = 4;
const BEACON_ID_BYTES = 2;

/** fPort 2 debug: the status header, six int8 axis values, fault code, obstruction, reflection. */
const DEBUG_BYTES = 12;

type FrameDecoder = (r: ByteReader) => Reading;

function flag(byte: number, mask: number): 0 | 1 {
  return (byte & mask) === mask ? 1 : 0;
}

/** The header shared by fPort 1 and 2, with the codec's field names. */
function header(r: ByteReader): Record<string, number> {
  const flags = r.u8(0);
  return {
    occupied: flag(flags, FLAG_OCCUPIED),
    keepAlive: flag(flags, FLAG_KEEP_ALIVE),
    reset: flag(flags, FLAG_RESET),
    No_Beacon: flag(flags, FLAG_NO_BEACON),
    Radar: flag(flags, FLAG_RADAR),
    Obstruction: flag(flags, FLAG_OBSTRUCTION),
    Good_Battery: flag(flags, FLAG_GOOD_BATTERY),
    Temperature: r.i8(1),
    Parking_ID: r.u8(2),
  };
}

function status(r: ByteReader): Reading {
  r.need(STATUS_BYTES, `fPort ${PORT_STATUS} status`);
  const details: Record<string, unknown> = header(r);
  if (r.length > STATUS_BYTES) {
    const beaconBytes = r.length - BEACONS_OFFSET;
    // The codec would read past the end and invent a low byte of 0; a half beacon ID is a torn frame.
    if (beaconBytes % BEACON_ID_BYTES !== 0) {
      throw new DecodeError(
        NAME,
        `fPort ${PORT_STATUS} beacon list has ${beaconBytes} bytes, not a whole number of 2-byte IDs`,
      );
    }
    const beacons: number[] = [];
    for (let offset = BEACONS_OFFSET; offset < r.length; offset += BEACON_ID_BYTES) {
      beacons.push(r.u16be(offset));
    }
    details['Beacon_RSSI'] = r.i8(BEACON_RSSI_OFFSET);
    details['Beacons'] = beacons;
  }
  const flags = r.u8(0);
  return {
    // keepAlive distinguishes the periodic confirmation from a change frame (§3.9 of the reference notes).
    kind: (flags & FLAG_KEEP_ALIVE) !== 0 ? 'heartbeat' : 'status',
    occupied: (flags & FLAG_OCCUPIED) !== 0,
    lowBattery: (flags & FLAG_GOOD_BATTERY) === 0,
    temperatureC: r.i8(1),
    details,
  };
}

function debug(r: ByteReader): Reading {
  r.need(DEBUG_BYTES, `fPort ${PORT_DEBUG} debug`);
  const faultCode = r.u8(9);
  return {
    kind: 'other',
    occupied: (r.u8(0) & FLAG_OCCUPIED) !== 0,
    lowBattery: (r.u8(0) & FLAG_GOOD_BATTERY) === 0,
    temperatureC: r.i8(1),
    fault: faultCode !== 0,
    details: {
      ...header(r),
      Deflection_X: r.i8(3),
      Deflection_Y: r.i8(4),
      Deflection_Z: r.i8(5),
      Baseline_X: r.i8(6),
      Baseline_Y: r.i8(7),
      Baseline_Z: r.i8(8),
      Fault_Code: faultCode,
      // The codec overwrites the header's Obstruction flag with byte 10; we keep its output as is.
      Obstruction: r.u8(10),
      D_Reflection: r.u8(11),
    },
  };
}

const PORTS: ReadonlyMap<number, FrameDecoder> = new Map<number, FrameDecoder>([
  [PORT_STATUS, status],
  [PORT_DEBUG, debug],
]);

export const tekzitelTekzipark: Decoder = Object.freeze({
  name: NAME,
  heartbeatMinutes: HEARTBEAT_MINUTES,
  lowBatteryPercent: LOW_BATTERY_PERCENT,
  decode(fPort: number, bytes: Uint8Array): Reading {
    const frame = PORTS.get(fPort);
    if (!frame) throw new DecodeError(NAME, `fPort ${fPort} is not a known ${NAME} frame`);
    return frame(new ByteReader(NAME, bytes));
  },
});
