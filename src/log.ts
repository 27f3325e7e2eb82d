/** Owns the logger factory: pino JSON logs, with secrets redacted wherever they could appear. */
import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths pino blanks out; tokens and passwords never reach a log line. */
const REDACT = [
  'password',
  '*.password',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'access_token',
  'refresh_token',
  '*.access_token',
  '*.refresh_token',
  'secret',
  '*.secret',
  'jwtSecret',
  '*.jwtSecret',
];

export function createLogger(level: string, name = 'baygate'): Logger {
  return pino({ name, level, redact: { paths: REDACT, censor: '[redacted]' } });
}
