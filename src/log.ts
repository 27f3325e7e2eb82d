/** Owns the logger factory: pino JSON logs, with secrets redacted wherever they could appear. */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Fields that hold a secret, at the top level of a log object or one or two levels down
 * (`{ body: { password } }`, `{ req: { body: { password } } }`). pino's paths have no
 * recursive wildcard, so the depths are spelled out.
 */
const SECRET_FIELDS = [
  'password',
  'password_hash',
  'passwordHash',
  'access_token',
  'refresh_token',
  'token',
  'secret',
  'jwtSecret',
  'chirpstackApiToken',
  // A tenant's own ChirpStack API key (PUT /api/v6/tenants/current/chirpstack body, the sync job).
  'api_key',
  'apiKey',
  // The embedded MQTT broker's generated passwords (src/config.ts).
  'embeddedBrokerPasswords',
  // Connection strings may carry a password (postgres://user:pass@…, mqtt://user:pass@…).
  'databaseUrl',
  'mqttUrl',
];

/** Paths pino blanks out; tokens and passwords never reach a log line. */
export const REDACT = [
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]),
  ...['headers.authorization', 'headers.cookie'].flatMap((h) => [h, `*.${h}`, `*.*.${h}`]),
  // A body that failed to parse is kept on the error by the body parser, raw.
  'err.body',
];

/** `destination` defaults to stdout; tests pass a stream to read what was logged. */
export function createLogger(level: string, name = 'baygate', destination?: DestinationStream): Logger {
  const options = { name, level, redact: { paths: REDACT, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
