/**
 * Owns the decoder registry: the names stored in devices.decoder and the decoder each one selects.
 */
import { boschTps110 } from './bosch.js';
import { chirpstackObject } from './chirpstack-object.js';
import { libeliumSmartParking } from './libelium.js';
import { nwaveNps310, nwaveNps405 } from './nwave.js';
import { pniPlacepod } from './placepod.js';
import { tekzitelTekzipark } from './tekzitel.js';
import { DecodeError, type Decoder } from './types.js';

export { DecodeError } from './types.js';
export type { Decoder, Reading, ReadingKind } from './types.js';

/** A device with no decoder set relies on its ChirpStack device-profile codec. */
const DEFAULT_DECODER = chirpstackObject;

export const decoders: ReadonlyMap<string, Decoder> = new Map(
  [
    chirpstackObject,
    nwaveNps405,
    nwaveNps310,
    boschTps110,
    tekzitelTekzipark,
    pniPlacepod,
    libeliumSmartParking,
  ].map((decoder) => [decoder.name, decoder] as const),
);

/** Registry keys, e.g. for validating devices.decoder and listing choices in the API. */
export const decoderNames: string[] = [...decoders.keys()];

/** The decoder registered under `name`; `chirpstack-object` when none is set. */
export function getDecoder(name: string | null | undefined): Decoder {
  if (name === null || name === undefined) return DEFAULT_DECODER;
  const decoder = decoders.get(name);
  if (!decoder) throw new DecodeError('registry', `unknown decoder "${name}"`);
  return decoder;
}
