/**
 * Owns configuration: the environment is read here once into a typed, frozen object.
 * Nothing else in baygate reads process.env.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve, join } from 'node:path';
import defaults from '../config/defaults.json' with { type: 'json' };

export interface Config {
  readonly nodeEnv: string;
  readonly production: boolean;
  /** API listen port (PORT). */
  readonly port: number;
  readonly host: string;
  /** Port of the embedded MQTT broker, used only when no MQTT_URL is set. */
  readonly mqttPort: number;
  readonly dataDir: string;
  /** External PostgreSQL; when absent an embedded one is started under DATA_DIR. */
  readonly databaseUrl: string | undefined;
  /** External MQTT broker; when absent an embedded aedes broker is started on MQTT_PORT. */
  readonly mqttUrl: string | undefined;
  /** 0 = pick a free port. */
  readonly embeddedPgPort: number;
  readonly jwtSecret: string;
  readonly logLevel: string;
  readonly accessTokenMinutes: number;
  readonly refreshTokenDays: number;
  readonly mqttClientId: string;
  readonly mqttShareGroup: string | undefined;
  readonly chirpstackEventTopic: string;
  readonly ingestBatchMax: number;
  readonly ingestBatchMaxMs: number;
  readonly ingestMaxPending: number;
  readonly readingRetentionDays: number;
  readonly dbPoolMax: number;
  /** bcrypt cost factor; each step doubles the work of hashing a password. */
  readonly bcryptRounds: number;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Raised when the environment is wrong; the message names the variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** Minimum JWT secret length: HS256 keys shorter than the hash output (32 bytes) weaken it (RFC 7518 §3.2). */
const MIN_JWT_SECRET_LENGTH = 32;
const JWT_SECRET_FILE = 'jwt-secret';

function str(env: Env, name: keyof typeof defaults): string {
  const v = env[name];
  return v === undefined || v === '' ? String(defaults[name]) : v;
}

function int(env: Env, name: keyof typeof defaults, min: number, max: number): number {
  const raw = str(env, name);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return n;
}

function optional(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/**
 * In development a missing JWT_SECRET is generated once and kept in DATA_DIR,
 * so tokens survive a restart; in production it must be given.
 */
function jwtSecret(env: Env, production: boolean, dataDir: string): string {
  const given = optional(env, 'JWT_SECRET');
  if (given !== undefined) {
    if (given.length < MIN_JWT_SECRET_LENGTH) {
      throw new ConfigError('JWT_SECRET', `must be at least ${MIN_JWT_SECRET_LENGTH} characters`);
    }
    return given;
  }
  if (production) throw new ConfigError('JWT_SECRET', 'is required when NODE_ENV=production');
  const file = join(dataDir, JWT_SECRET_FILE);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(file, secret + '\n', { mode: 0o600 });
  return secret;
}

export function loadConfig(env: Env): Config {
  const nodeEnv = optional(env, 'NODE_ENV') ?? 'development';
  const production = nodeEnv === 'production';
  const dataDir = resolve(str(env, 'DATA_DIR'));
  const batchMax = int(env, 'INGEST_BATCH_MAX', 1, 10_000);
  return Object.freeze({
    nodeEnv,
    production,
    port: int(env, 'PORT', 0, 65_535),
    host: str(env, 'HOST'),
    mqttPort: int(env, 'MQTT_PORT', 0, 65_535),
    dataDir,
    databaseUrl: optional(env, 'DATABASE_URL'),
    mqttUrl: optional(env, 'MQTT_URL'),
    embeddedPgPort: int(env, 'EMBEDDED_PG_PORT', 0, 65_535),
    jwtSecret: jwtSecret(env, production, dataDir),
    logLevel: str(env, 'LOG_LEVEL'),
    accessTokenMinutes: int(env, 'ACCESS_TOKEN_MINUTES', 1, 24 * 60),
    refreshTokenDays: int(env, 'REFRESH_TOKEN_DAYS', 1, 365),
    mqttClientId: str(env, 'MQTT_CLIENT_ID'),
    mqttShareGroup: optional(env, 'MQTT_SHARE_GROUP'),
    chirpstackEventTopic: str(env, 'CHIRPSTACK_EVENT_TOPIC'),
    ingestBatchMax: batchMax,
    ingestBatchMaxMs: int(env, 'INGEST_BATCH_MAX_MS', 0, 10_000),
    ingestMaxPending: int(env, 'INGEST_MAX_PENDING', batchMax, 1_000_000),
    readingRetentionDays: int(env, 'READING_RETENTION_DAYS', 1, 36_500),
    dbPoolMax: int(env, 'DB_POOL_MAX', 2, 1_000),
    bcryptRounds: int(env, 'BCRYPT_ROUNDS', 4, 15),
  });
}
