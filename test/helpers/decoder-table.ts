/** The table harness every decoder test shares: rows of vendor examples and of rejected payloads. */
import t from 'tap';
import { DecodeError, type Decoder, type Reading } from '../../src/domain/decoders/types.js';

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

export type Row = [name: string, fPort: number, payload: string, expected: Reading];
export type ErrorRow = [name: string, fPort: number, payload: string, reason: string];

// strictSame, not same: same() would accept 1 for true and hide a flag decoded as a number.
export function table(decoder: Decoder, rows: Row[]): void {
  for (const [name, fPort, payload, expected] of rows) {
    t.test(`${decoder.name}: ${name}`, async (t) => {
      t.strictSame(decoder.decode(fPort, hex(payload)), expected);
    });
  }
}

export function errorTable(decoder: Decoder, rows: ErrorRow[]): void {
  for (const [name, fPort, payload, reason] of rows) {
    t.test(`${decoder.name} rejects ${name}`, async (t) => {
      let thrown: unknown;
      try {
        decoder.decode(fPort, hex(payload));
      } catch (err) {
        thrown = err;
      }
      if (!(thrown instanceof DecodeError)) {
        t.fail(`expected a DecodeError, got ${String(thrown)}`);
        return;
      }
      t.strictSame(
        { decoder: thrown.decoder, reason: thrown.reason, message: thrown.message },
        { decoder: decoder.name, reason, message: `${decoder.name}: ${reason}` },
      );
    });
  }
}
