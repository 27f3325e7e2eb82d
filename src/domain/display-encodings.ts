/**
 * Owns the downlink payloads of display models: (colour, blink) → (fPort, bytes). Pure;
 * one entry per model in DISPLAY_ENCODINGS, chosen per device (displayEncodingFor).
 */
import { rgb, type DisplayLook } from './display-policy.js';

export interface DisplayFrame {
  fPort: number;
  data: Buffer;
}

export interface DisplayEncoding {
  name: string;
  encode(look: DisplayLook): DisplayFrame;
}

/** baygate's own layout for signs whose firmware we write: [r, g, b, blink (0/1)] on fPort 10. */
export const GENERIC_FPORT = 10;

/**
 * Kuando Busylight IoT (LoRaWAN): 5 bytes [red, blue, green, on time, off time] on fPort 15,
 * note blue before green. Sources (no vendor document was available to us):
 * - a ChirpStack codec for the device, `encodeDownlink` pushing red, blue, green, ontime,
 *   offtime (github.com/PhilDay-CT/XD-Dev-config, Lora/DeviceProfiles/Kuando/Busylight/Codec.js;
 *   its `decodeUplink` reads the echoed last colour on fPort 15 in the same order);
 * - a field-tested downlink reference for the Busylight IoT Omega on ChirpStack v4.15
 *   ("FPort 15 (mandatory)", steady red = FF00006400: on time 0x64, off time 0).
 * Not confirmed: the unit of the on/off times. Both sources use on 100 / off 0 for a steady
 * light; for blinking we send equal on and off times of KUANDO_BLINK_TIME.
 */
export const KUANDO_FPORT = 15;
const KUANDO_STEADY_ON = 100;
const KUANDO_BLINK_TIME = 10;

export const DISPLAY_ENCODINGS: Readonly<Record<string, DisplayEncoding>> = Object.freeze({
  generic: {
    name: 'generic',
    encode: ({ colour, blink }) => {
      const [r, g, b] = rgb(colour);
      return { fPort: GENERIC_FPORT, data: Buffer.from([r, g, b, blink ? 1 : 0]) };
    },
  },
  'kuando-busylight': {
    name: 'kuando-busylight',
    encode: ({ colour, blink }) => {
      const [r, g, b] = rgb(colour);
      const [on, off] = blink ? [KUANDO_BLINK_TIME, KUANDO_BLINK_TIME] : [KUANDO_STEADY_ON, 0];
      return { fPort: KUANDO_FPORT, data: Buffer.from([r, b, g, on, off]) };
    },
  },
});

export const DISPLAY_ENCODING_NAMES = Object.keys(DISPLAY_ENCODINGS);

/**
 * The device's `config.display_encoding` when it names one; else a Busylight by its model
 * name; else generic.
 */
export function displayEncodingFor(device: { model: string | null; config: Record<string, unknown> }): DisplayEncoding {
  const named = device.config.display_encoding;
  if (typeof named === 'string' && DISPLAY_ENCODINGS[named]) return DISPLAY_ENCODINGS[named]!;
  if (device.model && /busylight/i.test(device.model)) return DISPLAY_ENCODINGS['kuando-busylight']!;
  return DISPLAY_ENCODINGS.generic!;
}
