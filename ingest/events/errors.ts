/**
 * Owns the one error an event payload can raise while it is read, and its stable reason codes
 * (metric labels, and the `reason` stored with each dead letter).
 */

export type EventParseReason =
  | 'too_large'
  | 'too_deep'
  /** A payload that opens like JSON (`{`) but is not, or is empty. */
  | 'not_json'
  /** A payload that does not open like JSON and is not the kind's protobuf message either. */
  | 'bad_protobuf'
  | 'missing_field'
  | 'wrong_type'
  | 'dev_eui_mismatch'
  | 'bad_application_id'
  | 'topic_application_mismatch'
  | 'bad_time'
  | 'bad_base64';

/** A payload that is not a usable ChirpStack event; ingest logs it with its topic and dead-letters it. */
export class EventParseError extends Error {
  constructor(
    /** Stable machine code, used as a metric label and stored with the dead letter. */
    readonly reason: EventParseReason,
    message: string,
    /** The offending field as a path, e.g. `up.rxInfo[0].rssi`, when one field is to blame. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'EventParseError';
  }
}

export function missing(path: string): EventParseError {
  return new EventParseError('missing_field', `${path} is missing`, path);
}

export function wrongType(path: string, expected: string): EventParseError {
  return new EventParseError('wrong_type', `${path} must be ${expected}`, path);
}
