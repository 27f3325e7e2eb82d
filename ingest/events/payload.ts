/**
 * Owns what is checked of an event payload before any kind reads it: the size and nesting
 * limits, which encoding it is in, and turning JSON bytes into one object. Pure.
 *
 * ChirpStack's MQTT integration publishes JSON (`json=true`) or the protobuf message
 * (`json=false`: `pl.encode_to_vec()`, chirpstack/src/integration/mqtt.rs), with no content
 * type on MQTT 3.1.1, so the encoding is told by content. The HTTP integration says it in
 * Content-Type (chirpstack/src/integration/http.rs), and its caller passes it.
 */
import { EventParseError } from './errors.js';
import { isObject, type Obj } from './proto3-json.js';

/**
 * Largest payload we parse. A ChirpStack event is a few KiB even with many gateways and a codec
 * `object`; anything far larger is a misconfiguration or abuse, and is rejected before decoding.
 */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

/**
 * Deepest JSON nesting we accept. ChirpStack's own structure is at most 4 levels deep
 * (`rxInfo[].location`, `txInfo.modulation.lora`); the rest is headroom for a codec's `object`.
 * The limit keeps later recursive walks (JSON.stringify when storing `object`) away from the
 * stack limit that a 64 KiB payload of brackets could otherwise reach. A protobuf `object`
 * (google.protobuf.Struct) is held to the same depth, counted as its JSON would be.
 */
export const MAX_JSON_DEPTH = 32;

export type Encoding = 'json' | 'protobuf';

const UTF8 = new TextDecoder('utf-8', { fatal: true });
const JSON_WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);
const OPEN_BRACE = 0x7b;

function firstNonWhitespace(payload: Buffer): number | undefined {
  for (const byte of payload) if (!JSON_WHITESPACE.has(byte)) return byte;
  return undefined;
}

export function checkSize(payload: Buffer): void {
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw new EventParseError('too_large', `payload is ${payload.length} bytes, over the ${MAX_PAYLOAD_BYTES}-byte limit`);
  }
}

/**
 * JSON when the first byte that is not JSON whitespace is `{` (every ChirpStack JSON event is
 * an object), or when there is none (an empty payload, which JSON reading then names);
 * protobuf otherwise. ChirpStack's messages never open with `{`: their first field is a UUID
 * string of 36 bytes (tag 0x0a, length 0x24), a Timestamp (LogEvent: 0x0a and a length
 * under 0x20) or a varint (TxAckEvent: 0x08) (api/proto/integration/integration.proto).
 */
export function detectEncoding(payload: Buffer): Encoding {
  const first = firstNonWhitespace(payload);
  return first === undefined || first === OPEN_BRACE ? 'json' : 'protobuf';
}

/** Whether the bytes are JSON that is not an object (an array, a string…): named as such rather than as bad protobuf. */
export function isNonObjectJson(payload: Buffer): boolean {
  try {
    const v: unknown = JSON.parse(UTF8.decode(payload));
    return !isObject(v);
  } catch {
    return false;
  }
}

/**
 * Deepest bracket nesting outside strings, in one pass over the bytes. `"`, `\`, `{`, `[`
 * are ASCII and never occur inside a multi-byte UTF-8 sequence, so bytes suffice.
 */
function jsonDepth(payload: Buffer): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < payload.length; i++) {
    const b = payload[i];
    if (inString) {
      if (b === 0x5c) i++; // backslash: skip the escaped byte
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) {
      inString = true;
    } else if (b === 0x7b || b === 0x5b) {
      if (++depth > max) max = depth;
    } else if (b === 0x7d || b === 0x5d) {
      depth--;
    }
  }
  return max;
}

/** A JSON payload as one object; the caller checked its size. */
export function parseJsonObject(payload: Buffer): Obj {
  if (firstNonWhitespace(payload) === undefined) throw new EventParseError('not_json', 'payload is empty');
  let text: string;
  try {
    text = UTF8.decode(payload);
  } catch {
    throw new EventParseError('not_json', 'payload is not valid UTF-8');
  }
  const depth = jsonDepth(payload);
  if (depth > MAX_JSON_DEPTH) {
    throw new EventParseError('too_deep', `payload nests ${depth} levels deep, over the limit of ${MAX_JSON_DEPTH}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new EventParseError('not_json', `payload is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(value)) throw new EventParseError('wrong_type', 'payload must be a JSON object');
  return value;
}
