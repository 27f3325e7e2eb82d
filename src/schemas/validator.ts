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

export interface Validator<T> {
  (value: unknown): T;
  schema: Schema;
}

export function compile<T>(where: Where, schema: Schema): Validator<T> {
  const fn: ValidateFunction = (where === 'body' ? bodyAjv : queryAjv).compile(schema);
  const validator = ((value: unknown): T => {
    if (where === 'body' && (value === undefined || value === null)) value = {};
    if (!fn(value)) {
      const details = describe(where, fn.errors ?? []);
      throw new ValidationError(details[0]?.message ?? `invalid ${where}`, details);
    }
    return value as T;
  }) as Validator<T>;
  validator.schema = schema;
  return validator;
}
