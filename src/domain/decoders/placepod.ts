/**
 * Owns the PNI PlacePod decoder (`pni-placepod`): Cayenne-LPP entries (channel, type, value) whose
 * channel says what the value means.
 *
 * Sources: the channel table in "PNI PlacePod Sensor – Communications Protocol", as copied into
 * sjkp/PNI.PlacePod `PNI.PlacePod/Decoder.cs` @ 4b95eb45fc1fe3364b0edadbb9ea5d061aaf7f80; the meaning of
 * each key in PNI-Cloud/PlacePod-Api `models/Packet.js` @ 5974aee757bceaf3ccce52081c83e8ff0b74dbbc,
 * which decodes with the `cayenne-lpp` npm package. `details.lpp` reproduces that package's output
 * (`[{presence_21: 1}, …]`, as in PlacePod-Api `test/CayenneLpp.test.js`).
 * The sources name no fPort, so every fPort is read the same way.
 */
import { ByteReader } from './bytes.js';
import { DecodeError, type Decoder, type Reading, type ReadingKind } from './types.js';

const NAME = 'pni-placepod';

/**
 * The keep-alive period is a device setting (PNI's API exposes SetWakeupInterval) and no public PNI
 * document we found states its default; 24 h is our assumption. Set config.heartbeat_minutes per device.
 */
const HEARTBEAT_MINUTES = 24 * 60;
/** PlacePod reports battery volts only, never a percentage; 20 % is only our fallback for the contract. */
const LOW_BATTERY_PERCENT = 20;

/** Cayenne LPP data types PlacePod uses, with value size and the name the cayenne-lpp package gives them. */
const LPP_DIGITAL_INPUT = 0x00;
const LPP_DIGITAL_OUTPUT = 0x01;
const LPP_ANALOG_INPUT = 0x02;
const LPP_PRESENCE = 0x66;
const LPP_TEMPERATURE = 0x67;

interface LppType {
  readonly name: string;
  readonly size: number;
  /** Signed big-endian with this divisor (Cayenne LPP: analog 0.01, temperature 0.1), or unsigned byte. */
  readonly divisor?: number;
}

const LPP_TYPES: ReadonlyMap<number, LppType> = new Map([
  [LPP_DIGITAL_INPUT, { name: 'digital_input', size: 1 }],
  [LPP_DIGITAL_OUTPUT, { name: 'digital_output', size: 1 }],
  [LPP_ANALOG_INPUT, { name: 'analog_input', size: 2, divisor: 100 }],
  [LPP_PRESENCE, { name: 'presence', size: 1 }],
  [LPP_TEMPERATURE, { name: 'temperature', size: 2, divisor: 10 }],
]);
/** An entry is channel byte + type byte + value. */
const ENTRY_HEADER_BYTES = 2;

/** PlacePod channels (Communications Protocol table, via Decoder.cs). */
const CH_RECALIBRATE_RESPONSE = 0x01;
const CH_TEMPERATURE = 0x02;
const CH_BATTERY = 0x03;
const CH_ERROR_REGISTER = 0x05;
const CH_ERROR_STATE = 0x06;
const CH_PARKING_STATUS = 0x15;
const CH_DEACTIVATE_RESPONSE = 0x1c;
const CH_VEHICLE_COUNT = 0x21;
const CH_KEEP_ALIVE = 0x37;
const CH_REBOOT_RESPONSE = 0x3f;

/** Which LPP types each channel may carry; keep-alive is presence (parking mode) or digital (counting mode). */
const CHANNEL_TYPES: ReadonlyMap<number, readonly number[]> = new Map([
  [CH_RECALIBRATE_RESPONSE, [LPP_DIGITAL_OUTPUT]],
  [CH_TEMPERATURE, [LPP_TEMPERATURE]],
  [CH_BATTERY, [LPP_ANALOG_INPUT]],
  [CH_ERROR_REGISTER, [LPP_DIGITAL_INPUT]],
  [CH_ERROR_STATE, [LPP_DIGITAL_INPUT]],
  [CH_PARKING_STATUS, [LPP_PRESENCE]],
  [CH_DEACTIVATE_RESPONSE, [LPP_DIGITAL_OUTPUT]],
  [CH_VEHICLE_COUNT, [LPP_DIGITAL_INPUT]],
  [CH_KEEP_ALIVE, [LPP_PRESENCE, LPP_DIGITAL_INPUT]],
  [CH_REBOOT_RESPONSE, [LPP_DIGITAL_OUTPUT]],
]);

/** Parking status is 0 (vacant) or 1 (occupied). */
const VACANT = 0;
const OCCUPIED = 1;
/** A vehicle count with the top bit set reports a reboot or recalibration, not a count (protocol table). */
const COUNT_RESET_FLAG = 0x80;
const RESPONSE_OK_BIT = 0x01;

interface Entry {
  channel: number;
  type: number;
  key: string;
  value: number;
}

function readEntries(r: ByteReader): Entry[] {
  if (r.length === 0) throw new DecodeError(NAME, 'empty payload');
  const entries: Entry[] = [];
  let offset = 0;
  while (offset < r.length) {
    if (r.length - offset < ENTRY_HEADER_BYTES) {
      throw new DecodeError(
        NAME,
        `entry at byte ${offset} needs a channel and a type byte, got ${r.length - offset} byte`,
      );
    }
    const channel = r.u8(offset);
    const type = r.u8(offset + 1);
    const lpp = LPP_TYPES.get(type);
    if (!lpp) throw new DecodeError(NAME, `channel ${channel} at byte ${offset} has unknown LPP type 0x${hex2(type)}`);
    const allowed = CHANNEL_TYPES.get(channel);
    if (!allowed) {
      throw new DecodeError(NAME, `channel ${channel} (0x${hex2(channel)}) at byte ${offset} is not a known ${NAME} channel`);
    }
    if (!allowed.includes(type)) {
      throw new DecodeError(NAME, `channel ${channel} (0x${hex2(channel)}) does not carry LPP type 0x${hex2(type)}`);
    }
    const valueOffset = offset + ENTRY_HEADER_BYTES;
    if (r.length - valueOffset < lpp.size) {
      throw new DecodeError(
        NAME,
        `channel ${channel} ${lpp.name} at byte ${offset} needs ${ENTRY_HEADER_BYTES + lpp.size} bytes, got ${r.length - offset}`,
      );
    }
    // Cayenne LPP multi-byte values are signed big-endian ("Signed MSB"); ChirpStack's codec and the
    // cayenne-lpp package read two's complement, unlike Decoder.cs's sign-magnitude reading.
    const value = lpp.divisor === undefined ? r.u8(valueOffset) : r.i16be(valueOffset) / lpp.divisor;
    entries.push({ channel, type, key: `${lpp.name}_${channel}`, value });
    offset = valueOffset + lpp.size;
  }
  return entries;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function presenceValue(entry: Entry): boolean {
  if (entry.value !== VACANT && entry.value !== OCCUPIED) {
    throw new DecodeError(NAME, `channel ${entry.channel} presence must be 0 or 1, got ${entry.value}`);
  }
  return entry.value === OCCUPIED;
}

/** Change beats keep-alive beats reboot/recalibration beats anything else, when one frame mixes them. */
const KIND_RANK: Readonly<Record<ReadingKind, number>> = { status: 3, heartbeat: 2, startup: 1, other: 0 };

function higher(a: ReadingKind, b: ReadingKind): ReadingKind {
  return KIND_RANK[b] > KIND_RANK[a] ? b : a;
}

function decode(bytes: Uint8Array): Reading {
  const entries = readEntries(new ByteReader(NAME, bytes));
  // A keep-alive's state only counts when the frame carries no change of its own.
  const hasStatus = entries.some((e) => e.channel === CH_PARKING_STATUS);
  let kind: ReadingKind = 'other';
  let occupied: boolean | null = null;
  const measured: Pick<Reading, 'batteryVolts' | 'temperatureC' | 'fault'> = {};
  const details: Record<string, unknown> = { lpp: entries.map((e) => ({ [e.key]: e.value })) };

  for (const entry of entries) {
    switch (entry.channel) {
      case CH_PARKING_STATUS:
        // Two statuses in one frame are two changes in order (PlacePod-Api PacketFactory makes one
        // packet each); the last is the current state.
        occupied = presenceValue(entry);
        details['mode'] = 'presence';
        details['keepAlive'] = false;
        kind = higher(kind, 'status');
        break;
      case CH_KEEP_ALIVE:
        kind = higher(kind, 'heartbeat');
        if (hasStatus) break;
        details['keepAlive'] = true;
        if (entry.type === LPP_PRESENCE) {
          occupied = presenceValue(entry);
          details['mode'] = 'presence';
        } else {
          details['mode'] = 'counter';
          kind = higher(kind, countOrReset(entry, details));
        }
        break;
      case CH_VEHICLE_COUNT:
        details['mode'] = 'counter';
        kind = higher(kind, countOrReset(entry, details));
        break;
      case CH_BATTERY:
        measured.batteryVolts = entry.value;
        break;
      case CH_TEMPERATURE:
        measured.temperatureC = entry.value;
        break;
      case CH_ERROR_REGISTER:
      case CH_ERROR_STATE:
        // "PNI Internal" error register / state (Packet.js error.register, error.state).
        measured.fault = true;
        break;
      case CH_RECALIBRATE_RESPONSE:
        // After a recalibration the baseline is new and the state uncertain until the next status,
        // which is what a startup reading tells the state machine (reference notes §3.9).
        details['recalibrated'] = (entry.value & RESPONSE_OK_BIT) === RESPONSE_OK_BIT;
        kind = higher(kind, 'startup');
        break;
      case CH_REBOOT_RESPONSE:
        details['rebootSucceeded'] = (entry.value & RESPONSE_OK_BIT) === RESPONSE_OK_BIT;
        kind = higher(kind, 'startup');
        break;
      case CH_DEACTIVATE_RESPONSE:
        details['deactivated'] = (entry.value & RESPONSE_OK_BIT) === RESPONSE_OK_BIT;
        break;
    }
  }
  return { kind, occupied, ...measured, details };
}

/** Counting mode: a vehicle count, or (top bit set) a reboot/recalibration marker, read as a startup. */
function countOrReset(entry: Entry, details: Record<string, unknown>): ReadingKind {
  if ((entry.value & COUNT_RESET_FLAG) === COUNT_RESET_FLAG) {
    details['recalibrationOrReboot'] = true;
    return 'startup';
  }
  details['count'] = entry.value;
  return 'other';
}

export const pniPlacepod: Decoder = Object.freeze({
  name: NAME,
  heartbeatMinutes: HEARTBEAT_MINUTES,
  lowBatteryPercent: LOW_BATTERY_PERCENT,
  decode(_fPort: number, bytes: Uint8Array): Reading {
    return decode(bytes);
  },
});
