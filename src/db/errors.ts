/**
 * Owns the translation of PostgreSQL errors (SQLSTATE, https://www.postgresql.org/docs/current/errcodes-appendix.html)
 * into baygate's typed errors, in one table.
 */
import { AppError, ConflictError, ServiceUnavailableError, ValidationError } from '../errors.js';

interface PgErrorLike {
  code?: string;
  constraint?: string;
  detail?: string;
  message?: string;
}

/** Transaction conflicts that succeed when the whole transaction is run again. */
export const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);

/** Lost or refused connections: the database is unavailable, not the request wrong. */
const UNAVAILABLE_SQLSTATE_CLASSES = ['08', '57P'];
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND']);

/** Human messages for the unique and exclusion constraints a client can run into. */
const CONSTRAINT_MESSAGES: Record<string, string> = {
  users_email_key: 'A user with this email already exists',
  tenants_slug_key: 'A tenant with this slug already exists',
  spaces_site_code_key: 'A space with this code already exists in the site',
  // Says nothing of which tenant holds the DevEUI.
  devices_dev_eui_key: 'This DevEUI is already registered',
  devices_one_per_space: 'The space already has a device of this type: unassign it first',
  reservations_no_overlap: 'The space is already reserved for an overlapping window',
  // Says nothing of which tenant holds the application.
  tenant_chirpstack_applications_pkey: 'A ChirpStack application in the list is mapped to another tenant',
};

export function isRetryable(err: unknown): boolean {
  const code = (err as PgErrorLike | undefined)?.code;
  return code !== undefined && RETRYABLE_SQLSTATES.has(code);
}

export function isUnavailable(err: unknown): boolean {
  const e = err as PgErrorLike | undefined;
  const code = e?.code;
  if (code !== undefined) {
    if (UNAVAILABLE_NODE_CODES.has(code)) return true;
    if (UNAVAILABLE_SQLSTATE_CLASSES.some((c) => code.startsWith(c))) return true;
  }
  const msg = e?.message ?? '';
  return /Connection terminated|connection timeout|the database system is (starting up|shutting down)|Client has encountered a connection error/i.test(
    msg,
  );
}

/** Maps a database error to a typed error, or returns it unchanged when it is a bug. */
export function translatePgError(err: unknown): unknown {
  if (err instanceof AppError) return err;
  const e = err as PgErrorLike;
  switch (e?.code) {
    case '23505': // unique_violation
    case '23P01': // exclusion_violation
      return new ConflictError(
        (e.constraint && CONSTRAINT_MESSAGES[e.constraint]) ?? 'The request conflicts with existing data',
      );
    case '22P02': // invalid_text_representation (e.g. a malformed uuid that slipped past validation)
    case '22007': // invalid_datetime_format
    case '22008': // datetime_field_overflow
    // Text PostgreSQL cannot store: a NUL character (\u0000) in text or in jsonb
    // (found by test/integration/fuzz-api.test.ts).
    case '22021': // character_not_in_repertoire
    case '22P05': // untranslatable_character
      return new ValidationError('A value has the wrong format');
    case '22003': // numeric_value_out_of_range (e.g. an id or offset beyond bigint)
      return new ValidationError('A value is out of the allowed range');
    case '23514': // check_violation
      return new ValidationError('A value is out of the allowed range');
  }
  if (isUnavailable(err)) return new ServiceUnavailableError('Database unavailable');
  return err;
}
