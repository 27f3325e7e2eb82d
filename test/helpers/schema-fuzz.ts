/**
 * Generates request inputs from the JSON schemas the routes declare, and mutates them
 * (wrong types, missing and extra fields, huge values, unicode, SQL and HTML
 * metacharacters, deep nesting). Small on purpose: it knows the schema keywords baygate's
 * routes use, and falls back to plain strings for anything else.
 */
import type { Rng } from './fuzz.js';

type S = Record<string, any>;

/** Strings meant to break something downstream: quoting, encodings, markup, Postgres. */
export const NASTY_STRINGS: readonly string[] = [
  "'; DROP TABLE sites; --",
  "' OR '1'='1",
  '"; SELECT pg_sleep(5); --',
  '%_\\',
  '$1::text',
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '{{7*7}}${7*7}',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\uffff\ufffe',
  '\u202e\u0645\u0631\u062d\u0628\u0627',
  '👩‍👩‍👧‍👦🅿️🚗',
  'Z̷̡͉a̸͚l̶g̴o̵',
  '../../etc/passwd',
  '\r\nX-Injected: 1',
  ' ',
  '',
  'null',
  'NaN',
  '-0',
  '1e309',
];

const HUGE_NUMBERS: readonly number[] = [1e308, -1e308, 2 ** 53 + 2, -(2 ** 63), 2 ** 31, -1, 0, 0.5, -0.000001, 1e-320];

function randomString(r: Rng, min = 1, max = 24): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-';
  const n = min + r.int(Math.max(1, Math.min(max, min + 24) - min + 1));
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[r.int(alphabet.length)];
  return s;
}

function uuid(r: Rng): string {
  const h = r.bytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Candidates for a `pattern`: the first that matches is used. */
function fromPattern(r: Rng, pattern: string, min: number, max: number): string {
  const re = new RegExp(pattern);
  const candidates = [
    () => randomString(r, Math.max(1, min), Math.min(max, 20)).replace(/^-+|-+$/g, 'a'),
    () => r.bytes(8).toString('hex'),
    () => r.bytes(8).toString('hex').toUpperCase(),
    () => String(1 + r.int(999)) + r.pick(['', 's', 'm', 'h', 'd']),
    () => String(r.int(100_000)),
    () => `${String(r.int(24)).padStart(2, '0')}:${String(r.int(60)).padStart(2, '0')}`,
    () => r.bytes(4).toString('hex'),
    () => 'a',
  ];
  for (let i = 0; i < 40; i++) {
    const s = candidates[i % candidates.length]!();
    if (re.test(s)) return s;
  }
  return randomString(r, min, max);
}

function typeOf(schema: S): string | undefined {
  if (Array.isArray(schema.type)) return schema.type.find((t: string) => t !== 'null') ?? 'null';
  if (schema.type) return schema.type;
  if (schema.properties) return 'object';
  if (schema.enum) return undefined;
  return undefined;
}

/** A value the schema (probably) accepts. */
export function generate(r: Rng, schema: S | undefined, depth = 0): unknown {
  if (!schema || depth > 6) return randomString(r);
  if ('const' in schema) return schema.const;
  if (schema.enum) return r.pick(schema.enum);
  const alt = schema.anyOf ?? schema.oneOf;
  if (alt && !schema.properties) return generate(r, r.pick(alt), depth + 1);
  if (schema.allOf) return generate(r, Object.assign({}, ...schema.allOf), depth + 1);
  switch (typeOf(schema)) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const props: Record<string, S> = schema.properties ?? {};
      const required = new Set<string>(schema.required ?? []);
      for (const alt of (schema.anyOf ?? schema.oneOf ?? []) as S[]) for (const k of alt.required ?? []) required.add(k);
      for (const [k, v] of Object.entries(props)) {
        if (required.has(k) || r.chance(0.6)) out[k] = generate(r, v, depth + 1);
      }
      return out;
    }
    case 'array': {
      const min = schema.minItems ?? 0;
      const n = min + r.int(Math.max(1, Math.min(schema.maxItems ?? 3, min + 3) - min + 1));
      const xs = Array.from({ length: n }, () => generate(r, schema.items, depth + 1));
      return schema.uniqueItems ? [...new Map(xs.map((x) => [JSON.stringify(x), x])).values()] : xs;
    }
    case 'integer': {
      const lo = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : 0);
      const hi = schema.maximum ?? (schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum - 1 : lo + 1000);
      return lo + r.int(Math.max(1, Math.min(hi - lo + 1, 1_000_000)));
    }
    case 'number': {
      const lo = schema.minimum ?? 0;
      const hi = schema.maximum ?? lo + 1000;
      return lo + r() * (hi - lo);
    }
    case 'boolean':
      return r.chance(0.5);
    case 'null':
      return null;
    case 'string':
    default: {
      const min = schema.minLength ?? 1;
      const max = schema.maxLength ?? 40;
      switch (schema.format) {
        case 'email':
          return `${randomString(r, 3, 10)}@${randomString(r, 3, 8)}.example`;
        case 'uuid':
          return uuid(r);
        case 'date-time':
          return new Date(Date.now() + (r.int(48) - 2) * 3_600_000).toISOString();
        case 'date':
          return new Date(Date.now() + r.int(30) * 86_400_000).toISOString().slice(0, 10);
        case 'time':
          return `${String(r.int(24)).padStart(2, '0')}:${String(r.int(60)).padStart(2, '0')}:00Z`;
        case 'timezone':
          return r.pick(['UTC', 'Europe/Paris', 'America/New_York']);
        case 'uri':
          return `https://${randomString(r, 3, 8)}.example/${randomString(r)}`;
      }
      if (schema.pattern) return fromPattern(r, schema.pattern, min, max);
      return randomString(r, min, Math.min(max, 40));
    }
  }
}

/** `[[[[…]]]]` or `{"a":{"a":…}}`, depth levels deep. */
export function deepNest(depth: number, kind: 'array' | 'object'): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = kind === 'array' ? [v] : { a: v };
  return v;
}

function wrongTypeFor(r: Rng, schema: S): unknown {
  const t = typeOf(schema);
  const options: unknown[] = [null, true, 12345, -1.5, 'not-a-thing', [], [1, 'two'], { nested: { x: 1 } }];
  return r.pick(options.filter((o) => (t === 'string' ? typeof o !== 'string' : t === 'object' ? typeof o !== 'object' || Array.isArray(o) || o === null : typeof o !== t)));
}

function hugeFor(r: Rng, schema: S): unknown {
  const t = typeOf(schema);
  if (t === 'integer' || t === 'number') return r.pick(HUGE_NUMBERS);
  if (t === 'array') return Array.from({ length: 5_000 }, (_, i) => i);
  return r.pick(['x', '€', '👩‍👩‍👧‍👦']).repeat(1_000 + r.int(100_000));
}

export interface Mutation {
  /** What was done, for the failure message. */
  kind: string;
  value: unknown;
}

/** One mutation of a generated object (or of the whole body when it is not an object). */
export function mutate(r: Rng, schema: S, valid: unknown): Mutation {
  const props: Record<string, S> = schema.properties ?? {};
  const keys = Object.keys(props);
  const base = (valid && typeof valid === 'object' && !Array.isArray(valid) ? structuredClone(valid) : {}) as Record<string, unknown>;
  const key = keys.length ? r.pick(keys) : `field_${r.int(9)}`;
  const kinds = ['missing', 'wrong-type', 'extra', 'huge', 'nasty-string', 'deep-nesting', 'whole-body', 'nasty-key', 'null-field'] as const;
  const kind = r.pick(kinds);
  switch (kind) {
    case 'missing': {
      const req: string[] = schema.required ?? [];
      delete base[req.length ? r.pick(req) : key];
      return { kind: 'missing', value: base };
    }
    case 'wrong-type':
      base[key] = wrongTypeFor(r, props[key] ?? {});
      return { kind: `wrong-type:${key}`, value: base };
    case 'extra':
      base[`${r.pick(['tenant_id', 'id', 'is_admin', '__proto__x', 'constructor', 'role', randomString(r)])}`] = r.pick([...NASTY_STRINGS, 1, null, { $gt: '' }]);
      return { kind: 'extra', value: base };
    case 'huge':
      base[key] = hugeFor(r, props[key] ?? {});
      return { kind: `huge:${key}`, value: base };
    case 'nasty-string':
      base[key] = r.pick(NASTY_STRINGS);
      return { kind: `nasty-string:${key}`, value: base };
    case 'deep-nesting':
      // JSON.stringify recurses: past ~1,000 levels the test's own stack overflows. Deeper
      // nesting goes as raw text (rawBodies).
      base[key] = deepNest(100 + r.int(900), r.chance(0.5) ? 'array' : 'object');
      return { kind: `deep-nesting:${key}`, value: base };
    case 'whole-body':
      return { kind: 'whole-body', value: r.pick<unknown>([[], [base], 'a string', 42, null, true, deepNest(500, 'array')]) };
    case 'nasty-key':
      base[r.pick(NASTY_STRINGS) || 'empty'] = 1;
      return { kind: 'nasty-key', value: base };
    case 'null-field':
      base[key] = null;
      return { kind: `null-field:${key}`, value: base };
  }
}

/** Query-string mutations: values are text, so wrong types are unparsable text. */
export function mutateQuery(r: Rng, schema: S, valid: Record<string, unknown>): Mutation {
  const props: Record<string, S> = schema.properties ?? {};
  const keys = Object.keys(props);
  const q: Record<string, unknown> = { ...valid };
  const key = keys.length ? r.pick(keys) : 'x';
  const kind = r.pick(['wrong-type', 'huge', 'nasty', 'repeated', 'extra', 'empty'] as const);
  switch (kind) {
    case 'wrong-type':
      q[key] = r.pick(['abc', '1.5', '-1', 'true', '[]', '{}', '1e400', '0x10']);
      break;
    case 'huge':
      q[key] = r.pick(['9'.repeat(400), '-' + '9'.repeat(30), 'x'.repeat(50_000), String(2 ** 63)]);
      break;
    case 'nasty':
      q[key] = r.pick(NASTY_STRINGS);
      break;
    case 'repeated':
      q[key] = [generate(r, props[key]), generate(r, props[key])];
      break;
    case 'extra':
      q[r.pick(['tenant_id', 'order', 'sort', "1'", randomString(r)])] = r.pick(NASTY_STRINGS);
      break;
    case 'empty':
      q[key] = '';
      break;
  }
  return { kind: `${kind}:${key}`, value: q };
}

/** Serializes a query object as a client would (arrays as repeated keys, objects as JSON). */
export function toQueryString(q: Record<string, unknown>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    for (const x of Array.isArray(v) ? v : [v]) p.append(k, typeof x === 'object' && x !== null ? JSON.stringify(x) : String(x));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** The query object as Koa parses the string back (what the route's validator sees). */
export function parsedQuery(qs: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(qs)) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/** Bodies sent as text because JSON.stringify cannot or would not make them. */
export function rawBodies(r: Rng, valid: unknown): { kind: string; text: string }[] {
  const depth = 10_000 + r.int(90_000);
  const json = JSON.stringify(valid ?? {});
  return [
    { kind: 'raw:deep-array', text: '['.repeat(depth) + ']'.repeat(depth) },
    { kind: 'raw:deep-object', text: '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) },
    { kind: 'raw:truncated', text: json.slice(0, Math.max(1, r.int(json.length))) },
    { kind: 'raw:deep-field', text: json.replace(/^\{/, `{"config":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)},`) },
    { kind: 'raw:bytes', text: r.bytes(1 + r.int(200)).toString('latin1') },
  ];
}
