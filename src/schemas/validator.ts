/**
 * Owns request validation: ajv compiles every schema once, at start-up, and a failure
 * becomes a ValidationError whose details name each offending field.
 *
 * Two ajv instances on purpose: query strings arrive as text and are coerced to the
 * schema's types ("5" → 5), while JSON bodies are not coerced, so a wrong type in a
 * body is an error, as clients of the replaced platform expect.
 */
import { Ajv, type ErrorObject, type Schema, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { ValidationError, type ErrorDetail } from '../errors.js';

// ajv-formats is CommonJS: under NodeNext its plugin is the module's `default` property.
const addFormats = addFormatsModule.default;

/** IANA time-zone names, as the runtime's ICU knows them (e.g. Europe/Paris, UTC). */
function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

function makeAjv(coerceTypes: boolean): Ajv {
  // Unknown fields are ignored, not rejected: existing clients send extras.
  const ajv = new Ajv({ allErrors: true, coerceTypes, useDefaults: true, strict: false });
  addFormats(ajv);
  ajv.addFormat('timezone', { type: 'string', validate: isTimeZone });
  return ajv;
}

const bodyAjv = makeAjv(false);
const queryAjv = makeAjv(true);

export type Where = 'body' | 'query' | 'params';

function fieldOf(where: Where, e: ErrorObject): string {
  const path = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const missing = e.keyword === 'required' ? (e.params as { missingProperty: string }).missingProperty : '';
  return [where, path, missing].filter(Boolean).join('.');
}

function describe(where: Where, errors: ErrorObject[]): ErrorDetail[] {
  return errors
    .filter((e) => e.keyword !== 'if')
    .map((e) => {
      const field = fieldOf(where, e);
      const message = e.keyword === 'required' ? 'is required' : (e.message ?? 'is invalid');
      return { field, message: `${field} ${message}` };
    });
}

/**
 * The deepest nesting a JSON body may have. Free-form fields (a device's or a space's
 * config, a reservation's metadata) are stored as jsonb, and serialising a value thousands
 * of levels deep overflowed the stack on the way to the database: a 500 (found by
 * test/integration/fuzz-api.test.ts). No client of a parking API nests this deep.
 */
export const MAX_BODY_DEPTH = 32;

/** The path to the first value nested deeper than MAX_BODY_DEPTH, or null. Iterative: depth is the attack. */
function tooDeep(value: unknown): string[] | null {
  const stack: [unknown, string[]][] = [[value, []]];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (path.length > MAX_BODY_DEPTH) return path;
    if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) stack.push([x, [...path, k]]);
  }
  return null;
}

export interface Validator<T> {
  (value: unknown): T;
  schema: Schema;
}

export function compile<T>(where: Where, schema: Schema): Validator<T> {
  const fn: ValidateFunction = (where === 'body' ? bodyAjv : queryAjv).compile(schema);
  const validator = ((value: unknown): T => {
    if (where === 'body' && (value === undefined || value === null)) value = {};
    const deep = where === 'body' ? tooDeep(value) : null;
    if (deep) {
      const field = ['body', deep[0]].join('.');
      const message = `${field} nests deeper than ${MAX_BODY_DEPTH} levels`;
      throw new ValidationError(message, [{ field, message }]);
    }
    if (!fn(value)) {
      const details = describe(where, fn.errors ?? []);
      throw new ValidationError(details[0]?.message ?? `invalid ${where}`, details);
    }
    return value as T;
  }) as Validator<T>;
  validator.schema = schema;
  return validator;
}
