/**
 * Owns the readers every kind's protobuf form is read with: decoding the message with the
 * package's generated code (@chirpstack/chirpstack-api integration_pb, google-protobuf), and
 * turning its Timestamp, float and Struct fields into exactly what the same event's JSON gives.
 * Pure.
 *
 * "The same as the JSON" means as ChirpStack serialises the same message to JSON: pbjson, with
 * `emit_fields` for the `integration` package only (chirpstack `api/rust/build.rs`), so an
 * integration-level field is always there, while a `gw`/`common` field at its proto3 default
 * is omitted (readers of those treat 0 and '' as absent, as the JSON readers do).
 */
import type { Message } from 'google-protobuf';
import type { Timestamp } from 'google-protobuf/google/protobuf/timestamp_pb.js';
import structPb from 'google-protobuf/google/protobuf/struct_pb.js';
import { EventParseError, missing } from './errors.js';
import { MAX_JSON_DEPTH } from './payload.js';
import type { Obj } from './proto3-json.js';

/**
 * `Cls.deserializeBinary(bytes)`, with any wire-format failure (google-protobuf throws
 * "Failure: Decoder hit an error" or "Assertion failed") as `bad_protobuf`.
 */
export function decodeMessage<M extends Message>(kind: string, messageName: string, decode: (bytes: Uint8Array) => M, bytes: Uint8Array): M {
  try {
    return decode(bytes);
  } catch (err) {
    throw new EventParseError('bad_protobuf', `payload is neither JSON nor a protobuf ${messageName} (${kind}): ${(err as Error).message}`);
  }
}

/** Timestamp's range (timestamp.proto): 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z. */
const MIN_SECONDS = -62135596800;
const MAX_SECONDS = 253402300799;

/** chrono's `to_rfc3339()` (AutoSi): no fraction, or 3, 6 or 9 digits, whichever is exact; `+00:00`. */
function rfc3339(seconds: number, nanos: number): string {
  const base = new Date(seconds * 1000).toISOString().slice(0, 19);
  let fraction = '';
  if (nanos !== 0) {
    const digits = String(nanos).padStart(9, '0');
    fraction = '.' + (nanos % 1_000_000 === 0 ? digits.slice(0, 3) : nanos % 1000 === 0 ? digits.slice(0, 6) : digits);
  }
  return `${base}${fraction}+00:00`;
}

/**
 * A required `google.protobuf.Timestamp`: the time truncated to milliseconds (as the JSON
 * reader truncates the RFC3339 fraction) and the RFC3339 string ChirpStack's JSON would carry
 * (pbjson-types renders it with chrono's `to_rfc3339`).
 */
export function pbTimestamp(ts: Timestamp | undefined, path: string): { time: Date; timeRaw: string } {
  if (!ts) throw missing(path);
  const seconds = ts.getSeconds();
  const nanos = ts.getNanos();
  if (!Number.isInteger(seconds) || seconds < MIN_SECONDS || seconds > MAX_SECONDS || !Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) {
    throw new EventParseError('bad_time', `${path} {seconds: ${seconds}, nanos: ${nanos}} is not a valid Timestamp`, path);
  }
  return { time: new Date(seconds * 1000 + Math.floor(nanos / 1_000_000)), timeRaw: rfc3339(seconds, nanos) };
}

/**
 * A proto3 `float` as its JSON carries it. The wire holds 32 bits; ChirpStack's JSON writes the
 * shortest decimal that reads back as the same float (serde_json's f32 formatting), so 88.3
 * arrives as 88.3, not 88.30000305175781. Same here: the fewest digits that round-trip.
 */
export function float32(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  for (let p = 1; p < 9; p++) {
    const n = Number(x.toPrecision(p));
    if (Math.fround(n) === x) return n;
  }
  return Number(x.toPrecision(9));
}

type StructValue = InstanceType<typeof structPb.Value>;
type StructMsg = InstanceType<typeof structPb.Struct>;

/**
 * `google.protobuf.Struct` → the object its JSON would be, held to the JSON depth limit: the
 * root event is level 1, so an `object` field may nest MAX_JSON_DEPTH - 1 levels.
 */
export function structToObject(s: StructMsg, path: string): Obj {
  const walk = (v: StructValue, depth: number): unknown => {
    const Kind = structPb.Value.KindCase;
    switch (v.getKindCase()) {
      case Kind.NUMBER_VALUE:
        return v.getNumberValue();
      case Kind.STRING_VALUE:
        return v.getStringValue();
      case Kind.BOOL_VALUE:
        return v.getBoolValue();
      case Kind.STRUCT_VALUE:
        return fields(v.getStructValue()!, depth + 1);
      case Kind.LIST_VALUE:
        if (depth + 1 > MAX_JSON_DEPTH) throw tooDeep();
        return v.getListValue()!.getValuesList().map((x) => walk(x, depth + 1));
      default:
        return null;
    }
  };
  const fields = (st: StructMsg, depth: number): Obj => {
    if (depth > MAX_JSON_DEPTH) throw tooDeep();
    const out: Obj = {};
    st.getFieldsMap().forEach((v, k) => {
      out[k] = walk(v, depth);
    });
    return out;
  };
  const tooDeep = () => new EventParseError('too_deep', `${path} nests deeper than the limit of ${MAX_JSON_DEPTH} levels`, path);
  return fields(s, 2);
}

/** A proto3 `map<string, string>` as a plain object. */
export function pbStringMap(m: { forEach(cb: (value: string, key: string) => void): void }): Record<string, string> {
  const out: Record<string, string> = {};
  m.forEach((v, k) => {
    out[k] = v;
  });
  return out;
}

/**
 * The name of protobuf enum value `n` in the package's name → number map (e.g. integration_pb
 * `LogLevel`), as its JSON would spell it; its decimal string when the map does not know it.
 */
export function enumName(names: object, n: number): string {
  for (const [name, value] of Object.entries(names)) if (value === n) return name;
  return String(n);
}
