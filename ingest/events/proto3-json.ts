/**
 * Owns the small readers of proto3-JSON fields that every event kind's JSON form is read with.
 * `path` names the field in messages, e.g. `up.rxInfo[0].rssi`. Pure.
 *
 * The proto3 JSON mapping (protobuf.dev/programming-guides/json): an omitted field means its
 * default value, `null` means the default, integers may arrive as numbers or decimal strings,
 * `bytes` are standard or URL-safe base64 with or without padding. ChirpStack's JSON is pbjson
 * with `emit_fields` since v4.1.0 for the `integration` package, not for `gw`/`common`
 * (chirpstack `api/rust/build.rs`), so both shapes arrive.
 */
import { EventParseError, missing, wrongType } from './errors.js';

export type Obj = Record<string, unknown>;

export function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Proto3 JSON: `null` is accepted for any field and means "default", so it reads as absent. */
export function get(o: Obj, key: string): unknown {
  const v = o[key];
  return v === null ? undefined : v;
}

/** An optional string; '' (the proto3 default) reads as absent. */
export function optString(o: Obj, key: string, path: string): string | undefined {
  const v = get(o, key);
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw wrongType(`${path}.${key}`, 'a string');
  return v;
}

export function reqString(o: Obj, key: string, path: string): string {
  const v = optString(o, key, path);
  if (v === undefined) throw missing(`${path}.${key}`);
  return v;
}

/** proto3 `bool`: omitted when false (before v4.1 `emit_fields`), so absent reads as false. */
export function bool(o: Obj, key: string, path: string): boolean {
  const v = get(o, key);
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw wrongType(`${path}.${key}`, 'a boolean');
  return v;
}

const DECIMAL = /^-?\d+$/;

/**
 * proto3 `uint32`/`int32`. Parsers must accept a number or a decimal string (proto3 JSON
 * mapping); ChirpStack sends numbers.
 */
export function optInt(o: Obj, key: string, path: string, signed: boolean): number | undefined {
  const v = get(o, key);
  if (v === undefined) return undefined;
  const n = typeof v === 'string' && DECIMAL.test(v) ? Number(v) : v;
  const [min, max] = signed ? [-(2 ** 31), 2 ** 31 - 1] : [0, 2 ** 32 - 1];
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw wrongType(`${path}.${key}`, signed ? 'an integer' : 'a non-negative integer');
  }
  return n;
}

/** proto3 `float`/`double`. */
export function optNumber(o: Obj, key: string, path: string): number | undefined {
  const v = get(o, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw wrongType(`${path}.${key}`, 'a number');
  return v;
}

export function optObject(o: Obj, key: string, path: string): Obj | undefined {
  const v = get(o, key);
  if (v === undefined) return undefined;
  if (!isObject(v)) throw wrongType(`${path}.${key}`, 'an object');
  return v;
}

/** proto3 `map<string, string>`; absent reads as empty. */
export function stringMap(o: Obj, key: string, path: string): Record<string, string> {
  const v = optObject(o, key, path) ?? {};
  const out: Record<string, string> = {};
  for (const [k, value] of Object.entries(v)) {
    if (typeof value !== 'string') throw wrongType(`${path}.${key}.${k}`, 'a string');
    out[k] = value;
  }
  return out;
}

const EUI64 = /^[0-9A-Fa-f]{16}$/;

/** An EUI-64 (DevEUI, gateway ID): ChirpStack writes lowercase hex (`lrwn/src/eui64.rs`); we keep uppercase. */
export function eui(value: string, path: string): string {
  if (!EUI64.test(value)) throw wrongType(path, 'a 16-digit hex EUI-64');
  return value.toUpperCase();
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * `google.protobuf.Timestamp` in JSON: RFC3339, ChirpStack writes nanoseconds and `+00:00`
 * (e.g. `2022-07-18T09:34:15.775023242+00:00`). JS Date keeps milliseconds, so the fraction is
 * truncated; the caller keeps the raw string where the rest matters. Parsed by hand because
 * `Date.parse` is implementation-defined outside its own simplified ISO format (ECMA-262 §21.4.3.2).
 */
export function parseRfc3339(raw: string): Date | null {
  const m = RFC3339.exec(raw);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number, number, number, number, number, number,
  ];
  const ms = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  const daysInMonth = mo === 2 && isLeap(y) ? 29 : DAYS_IN_MONTH[mo - 1];
  // Seconds stop at 59: protobuf Timestamps are smeared, never leap seconds (timestamp.proto).
  if (daysInMonth === undefined || d < 1 || d > daysInMonth || h > 23 || mi > 59 || s > 59) return null;
  let offsetMin = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return null;
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d); // setUTCFullYear, unlike Date.UTC, keeps years 0–99 literal
  date.setUTCHours(h, mi, s, ms);
  return new Date(date.getTime() - offsetMin * 60_000);
}

export function timestamp(o: Obj, key: string, path: string): { time: Date; timeRaw: string } {
  const raw = reqString(o, key, path);
  const time = parseRfc3339(raw);
  if (!time) {
    throw new EventParseError('bad_time', `${path}.${key} "${raw}" is not an RFC3339 timestamp`, `${path}.${key}`);
  }
  return { time, timeRaw: raw };
}

const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

/** proto3 `bytes`: standard or URL-safe base64, padding optional (proto3 JSON mapping). */
export function bytes(o: Obj, key: string, path: string): Buffer {
  const v = get(o, key);
  if (v === undefined || v === '') return Buffer.alloc(0);
  if (typeof v !== 'string') throw wrongType(`${path}.${key}`, 'a base64 string');
  // Buffer.from(…, 'base64') silently skips bad characters; check first.
  const unpadded = v.replace(/=+$/, '');
  if (!BASE64.test(v) || unpadded.length % 4 === 1 || (v.length > unpadded.length && v.length % 4 !== 0)) {
    throw new EventParseError('bad_base64', `${path}.${key} is not valid base64`, `${path}.${key}`);
  }
  return Buffer.from(unpadded.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}
