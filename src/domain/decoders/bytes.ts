/**
 * Owns bounds-checked reads of uplink bytes, so every vendor decoder reports a short or
 * malformed payload as a DecodeError naming itself instead of reading `undefined` as 0.
 */
import { DecodeError } from './types.js';

/** A read-only view over one payload that throws DecodeError(decoder, …) on any read past its end. */
export class ByteReader {
  private readonly view: DataView;

  constructor(
    readonly decoder: string,
    readonly bytes: Uint8Array,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.length;
  }

  /** Throws `"<frame> needs N bytes, got M"` unless the payload holds at least `count` bytes. */
  need(count: number, frame: string): this {
    if (this.bytes.length < count) {
      throw new DecodeError(
        this.decoder,
        `${frame} needs ${count} byte${count === 1 ? '' : 's'}, got ${this.bytes.length}`,
      );
    }
    return this;
  }

  u8(offset: number): number {
    this.check(offset, 1);
    return this.view.getUint8(offset);
  }

  /** Two's-complement signed byte. */
  i8(offset: number): number {
    this.check(offset, 1);
    return this.view.getInt8(offset);
  }

  u16be(offset: number): number {
    this.check(offset, 2);
    return this.view.getUint16(offset, false);
  }

  i16be(offset: number): number {
    this.check(offset, 2);
    return this.view.getInt16(offset, false);
  }

  u16le(offset: number): number {
    this.check(offset, 2);
    return this.view.getUint16(offset, true);
  }

  u32le(offset: number): number {
    this.check(offset, 4);
    return this.view.getUint32(offset, true);
  }

  /** Uppercase hex of bytes [start, end), zero-padded, e.g. `1F345678`. */
  hex(start: number, end: number): string {
    this.check(start, end - start);
    return toHex(this.bytes.subarray(start, end)).toUpperCase();
  }

  /** The bytes as a plain array (JSON-friendly, for `details`). */
  array(): number[] {
    return Array.from(this.bytes);
  }

  private check(offset: number, size: number): void {
    if (offset < 0 || offset + size > this.bytes.length) {
      throw new DecodeError(
        this.decoder,
        `byte ${offset + size - 1} is past the end of a ${this.bytes.length}-byte payload`,
      );
    }
  }
}

/** Lowercase hex of a byte array, two digits per byte. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
