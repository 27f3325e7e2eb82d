/**
 * Owns what a space's display sign shows: which display state a space is in (a fixed
 * priority list) and the colour and blink each state maps to under a tenant's policy. Pure.
 *
 * The priority differs on purpose from the space's own current_state
 * (src/domain/state-machine.ts deriveState, where an occupied reserved space is
 * `occupied`): a sign tells approaching drivers whether they may park, so a space held by
 * a reservation shows `reserved` even while its holder is parked in it (issue 6,
 * "maintenance > reserved now > sensor occupied > sensor free > unknown").
 */
import type { SensorState } from './state-machine.js';

/** Highest priority first. */
export const DISPLAY_STATES = ['maintenance', 'reserved', 'occupied', 'free', 'unknown'] as const;
export type DisplayState = (typeof DISPLAY_STATES)[number];

/** What a sign shows: a colour as lowercase #rrggbb, steady or blinking. */
export interface DisplayLook {
  colour: string;
  blink: boolean;
}

export type DisplayRules = Record<DisplayState, DisplayLook>;
/** A tenant's overrides: any state, any of its two fields. */
export type DisplayRuleOverrides = Partial<Record<DisplayState, Partial<DisplayLook>>>;

export interface DisplayFacts {
  /** The operator's maintenance flag, or the space is disabled. */
  maintenance: boolean;
  /** A reservation holds the space now (its window contains now, not checked out). */
  reservedNow: boolean;
  sensorState: SensorState;
}

/**
 * Defaults: the usual car-park sign colours (green free, red taken, amber reserved), blue
 * for a space out of service, and a blinking white for "the system does not know", so an
 * unknown space never looks like a free one.
 */
export const DEFAULT_DISPLAY_RULES: DisplayRules = Object.freeze({
  maintenance: Object.freeze({ colour: '#0000ff', blink: false }),
  reserved: Object.freeze({ colour: '#ffbf00', blink: false }),
  occupied: Object.freeze({ colour: '#ff0000', blink: false }),
  free: Object.freeze({ colour: '#00ff00', blink: false }),
  unknown: Object.freeze({ colour: '#ffffff', blink: true }),
});

export const COLOUR_PATTERN = '^#[0-9A-Fa-f]{6}$';

export function displayState(f: DisplayFacts): DisplayState {
  if (f.maintenance) return 'maintenance';
  if (f.reservedNow) return 'reserved';
  if (f.sensorState === 'occupied') return 'occupied';
  if (f.sensorState === 'free') return 'free';
  return 'unknown';
}

/** The defaults with a tenant's overrides laid over them; colours normalised to lowercase. */
export function effectiveRules(overrides: DisplayRuleOverrides | null | undefined): DisplayRules {
  const rules = {} as Record<DisplayState, DisplayLook>;
  for (const state of DISPLAY_STATES) {
    const o = overrides?.[state] ?? {};
    const d = DEFAULT_DISPLAY_RULES[state];
    rules[state] = { colour: (o.colour ?? d.colour).toLowerCase(), blink: o.blink ?? d.blink };
  }
  return rules;
}

export function displayLook(state: DisplayState, rules: DisplayRules): DisplayLook {
  return rules[state];
}

/** '#rrggbb' → [r, g, b]. */
export function rgb(colour: string): [number, number, number] {
  const n = Number.parseInt(colour.slice(1), 16);
  return [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}
