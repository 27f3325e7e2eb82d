/**
 * The typed errors of baygate. Each carries an HTTP status and a stable code; the API's
 * error middleware is the one place that turns them into responses.
 */

export interface ErrorDetail {
  /** Where the problem is, e.g. `body.email` or `query.page_size`. */
  field?: string;
  message: string;
  [extra: string]: unknown;
}

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
    /** Extra response headers (e.g. Retry-After). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends AppError {
  constructor(message: string, details: ErrorDetail[] = []) {
    super(400, 'validation_error', message, details);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'Not authenticated') {
    super(401, 'unauthorized', message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'Your role does not allow this') {
    super(403, 'forbidden', message);
  }
}

export class NotFoundError extends AppError {
  /** `field` names the request field that referred to the missing row (e.g. `body.site_id`), when one did. */
  constructor(what: string, field?: string) {
    const message = field ? `${what} not found (${field})` : `${what} not found`;
    super(404, 'not_found', message, field ? [{ field, message }] : []);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, details: ErrorDetail[] = []) {
    super(409, 'conflict', message, details);
  }
}

export class UnprocessableError extends AppError {
  constructor(message: string, details: ErrorDetail[] = []) {
    super(422, 'unprocessable', message, details);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(message = 'Request body too large') {
    super(413, 'payload_too_large', message);
  }
}

export class TooManyRequestsError extends AppError {
  constructor(message: string, retryAfterSeconds: number) {
    super(429, 'too_many_requests', message, [], { 'Retry-After': String(retryAfterSeconds) });
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message = 'Service temporarily unavailable') {
    super(503, 'service_unavailable', message);
  }
}

/**
 * A DevEUI that ingest heard, or ChirpStack lists, under an application another tenant
 * mapped (issue 17 §3). The message names no tenant: which one holds it is not the caller's.
 */
export class DeviceClaimedElsewhereError extends AppError {
  constructor() {
    const message = "This DevEUI belongs to a ChirpStack application mapped to another tenant; register it there, or ask the platform's operator";
    super(409, 'device_claimed_elsewhere', message, [{ field: 'body.dev_eui', message }]);
  }
}

/** An application whose devices another tenant has registered and bound (issue 17 §3); names no tenant. */
export class ApplicationClaimedElsewhereError extends AppError {
  constructor() {
    const message = 'A ChirpStack application in the list has devices registered by another tenant';
    super(409, 'application_claimed_elsewhere', message, [{ field: 'body.application_ids', message }]);
  }
}
