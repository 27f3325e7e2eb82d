/**
 * Owns configuration: the environment is read here once into a typed, frozen object.
 * Nothing else in baygate reads process.env.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
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
  /**
   * Passwords of the embedded broker's two identities (src/mqtt/acl.ts), generated once
   * into DATA_DIR/mqtt-credentials.json; undefined when MQTT_URL names an external broker,
   * and in production, which never writes a generated secret.
   * Secrets: never logged.
   */
  readonly embeddedBrokerPasswords: { readonly chirpstack: string; readonly baygate: string } | undefined;
  /** PEM CA bundle that verifies an mqtts:// broker, instead of Node's default CAs (MQTT_CA_FILE). */
  readonly mqttCaFile: string | undefined;
  /** PEM client certificate baygate presents to an mqtts:// broker (MQTT_CERT_FILE, with MQTT_KEY_FILE). */
  readonly mqttCertFile: string | undefined;
  /** PEM private key of MQTT_CERT_FILE (MQTT_KEY_FILE). */
  readonly mqttKeyFile: string | undefined;
  /** 0 = pick a free port. */
  readonly embeddedPgPort: number;
  readonly jwtSecret: string;
  readonly logLevel: string;
  readonly accessTokenMinutes: number;
  readonly refreshTokenDays: number;
  readonly mqttClientId: string;
  readonly mqttShareGroup: string | undefined;
  readonly chirpstackEventTopic: string;
  /** ChirpStack's `command_topic` template; display downlinks go to its `down` command (CHIRPSTACK_COMMAND_TOPIC). */
  readonly chirpstackCommandTopic: string;
  /** How long a display downlink may wait for its ack (or, unconfirmed, its txack) before it is retried (DISPLAY_ACK_TIMEOUT_SECONDS). */
  readonly displayAckTimeoutSeconds: number;
  /** Publishes of one display downlink before it is failed (DISPLAY_MAX_ATTEMPTS). */
  readonly displayMaxAttempts: number;
  readonly ingestBatchMax: number;
  readonly ingestBatchMaxMs: number;
  /** Batches ingest applies concurrently, each on its own connection. */
  readonly ingestLanes: number;
  readonly ingestMaxPending: number;
  /** An event's own time further ahead of its reception than this is replaced by the receive time (INGEST_MAX_CLOCK_SKEW_SECONDS; src/domain/frame-time.ts). */
  readonly ingestMaxClockSkewSeconds: number;
  readonly readingRetentionDays: number;
  /** Dead letters older than this are deleted by the cleanup_bookkeeping job (DEAD_LETTER_RETENTION_DAYS). */
  readonly deadLetterRetentionDays: number;
  readonly dbPoolMax: number;
  /** Port of ingest's /metrics and /ready server (9464: Prometheus' registered default for exporters); 0 = a free port. */
  readonly metricsPort: number;
  /** bcrypt cost factor; each step doubles the work of hashing a password. */
  readonly bcryptRounds: number;
  /**
   * Reverse proxies in front of the API (TRUST_PROXY_HOPS): 0 takes the socket's address as
   * the client's; N > 0 reads X-Forwarded-For from the right, N entries in, the address the
   * outermost trusted proxy saw. Entries further left are the client's own say and are ignored.
   */
  readonly trustProxyHops: number;
  /** Strict-Transport-Security max-age on every answer (HSTS_MAX_AGE); 0 sends none (only behind TLS, where a proxy terminates it). */
  readonly hstsMaxAgeSeconds: number;
  /** Failed logins per account or per client address within the window before logins are refused with 429 (LOGIN_MAX_FAILURES). */
  readonly loginMaxFailures: number;
  /** The window, in seconds, over which failed logins are counted (LOGIN_WINDOW_SECONDS). */
  readonly loginWindowSeconds: number;
  /** Longest an HTTP client may take to send its request headers; guards against slow-loris clients (HTTP_HEADERS_TIMEOUT_MS). */
  readonly httpHeadersTimeoutMs: number;
  /** Longest an HTTP client may take to send its whole request (HTTP_REQUEST_TIMEOUT_MS). */
  readonly httpRequestTimeoutMs: number;
  /** Longest reservation window accepted (RESERVATION_MAX_HOURS). */
  readonly reservationMaxHours: number;
  /** How far in the past a new reservation may start, for clients whose clock lags (RESERVATION_PAST_SKEW_SECONDS). */
  readonly reservationPastSkewSeconds: number;
  /**
   * Minutes after a reservation's start without occupancy before it is a no-show, when
   * neither the space (auto_release_minutes) nor the tenant (settings.auto_release_minutes) says.
   */
  readonly noShowDefaultMinutes: number;
  /** Most events a live client resuming with Last-Event-ID is sent from the table (LIVE_REPLAY_MAX_EVENTS). */
  readonly liveReplayMaxEvents: number;
  /** Oldest event, in hours, a resuming live client is sent (LIVE_REPLAY_MAX_HOURS). */
  readonly liveReplayMaxHours: number;
  /** Interval between SSE heartbeat comments and WebSocket pings (LIVE_HEARTBEAT_MS). */
  readonly liveHeartbeatMs: number;
  /** Bytes a live client may leave unread before it is dropped (LIVE_CLIENT_BUFFER_BYTES). */
  readonly liveClientBufferBytes: number;
  /** A gateway silent this long counts as offline on the dashboard (GATEWAY_OFFLINE_MINUTES). */
  readonly gatewayOfflineMinutes: number;
  /** A device silent this long counts as offline on the dashboard (DEVICE_OFFLINE_MINUTES). */
  readonly deviceOfflineMinutes: number;
  /** Battery at or below this percent counts as low on the dashboard (LOW_BATTERY_PERCENT). */
  readonly lowBatteryPercent: number;
  /**
   * Expected heartbeat of a sensor whose device config, decoder and tenant settings name none
   * (DEVICE_HEARTBEAT_DEFAULT_MINUTES); silent for 1.5× its heartbeat, the device_health job marks it offline.
   */
  readonly deviceHeartbeatDefaultMinutes: number;
  /** Outbound webhooks may target loopback, link-local and private addresses (WEBHOOK_ALLOW_PRIVATE; tests, closed networks). */
  readonly webhookAllowPrivate: boolean;
  /** How long one outbound delivery may take (WEBHOOK_TIMEOUT_MS). */
  readonly webhookTimeoutMs: number;
  /** Waits between outbound delivery attempts, in seconds; the last repeats (WEBHOOK_RETRY_SCHEDULE_SECONDS). */
  readonly webhookRetryScheduleSeconds: readonly number[];
  /** Consecutive failed attempts after which a subscription is disabled (WEBHOOK_DISABLE_AFTER_FAILURES). */
  readonly webhookDisableAfterFailures: number;
  /** ChirpStack's gRPC API, `host:port` or `http(s)://host:port` (TLS with https), for the sync_chirpstack job (CHIRPSTACK_API_URL). */
  readonly chirpstackApiUrl: string | undefined;
  /** API key ChirpStack issued for the sync (CHIRPSTACK_API_TOKEN); a secret: never logged. */
  readonly chirpstackApiToken: string | undefined;
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

function bool(env: Env, name: keyof typeof defaults): boolean {
  const raw = str(env, name);
  if (raw !== 'true' && raw !== 'false') throw new ConfigError(name, `must be true or false, got "${raw}"`);
  return raw === 'true';
}

/** A comma-separated list of positive integers, e.g. "60,300,900". */
function intList(env: Env, name: keyof typeof defaults, min: number, max: number): readonly number[] {
  const raw = str(env, name);
  const list = raw.split(',').map((x) => Number(x.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < min || n > max)) {
    throw new ConfigError(name, `must be a comma-separated list of integers from ${min} to ${max}, got "${raw}"`);
  }
  return Object.freeze(list);
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

const BROKER_CREDENTIALS_FILE = 'mqtt-credentials.json';
/** 32 random bytes: as strong as the JWT secret's floor, and URL-safe in base64url for `mqtt://user:pass@`. */
const BROKER_PASSWORD_BYTES = 32;

/**
 * The embedded broker's passwords, generated on first start and kept in DATA_DIR (mode
 * 0600) so ChirpStack's configured URL keeps working across restarts; delete the file to
 * rotate them. Written to a temporary file and linked into place, so two processes that
 * start together agree on one pair and neither reads a half-written file.
 */
function embeddedBrokerPasswords(dataDir: string): { chirpstack: string; baygate: string } {
  const file = join(dataDir, BROKER_CREDENTIALS_FILE);
  const parse = () => {
    const v = JSON.parse(readFileSync(file, 'utf8')) as { chirpstack?: unknown; baygate?: unknown };
    if (typeof v.chirpstack !== 'string' || typeof v.baygate !== 'string' || !v.chirpstack || !v.baygate) {
      throw new ConfigError('DATA_DIR', `${file} must hold {"chirpstack": "…", "baygate": "…"}; delete it to generate new passwords`);
    }
    return { chirpstack: v.chirpstack, baygate: v.baygate };
  };
  if (existsSync(file)) return parse();
  mkdirSync(dataDir, { recursive: true });
  const generated = { chirpstack: randomBytes(BROKER_PASSWORD_BYTES).toString('base64url'), baygate: randomBytes(BROKER_PASSWORD_BYTES).toString('base64url') };
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, JSON.stringify(generated) + '\n', { mode: 0o600 });
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(tmp);
  }
  return parse();
}

/** A file a variable names must exist when the configuration is read, not at the first connect. */
function existingFile(env: Env, name: string): string | undefined {
  const v = optional(env, name);
  if (v === undefined) return undefined;
  const path = resolve(v);
  if (!existsSync(path)) throw new ConfigError(name, `file ${path} does not exist`);
  return path;
}

export function loadConfig(env: Env): Config {
  const nodeEnv = optional(env, 'NODE_ENV') ?? 'development';
  const production = nodeEnv === 'production';
  const dataDir = resolve(str(env, 'DATA_DIR'));
  const batchMax = int(env, 'INGEST_BATCH_MAX', 1, 10_000);
  const mqttUrl = optional(env, 'MQTT_URL');
  const mqttCaFile = existingFile(env, 'MQTT_CA_FILE');
  const mqttCertFile = existingFile(env, 'MQTT_CERT_FILE');
  const mqttKeyFile = existingFile(env, 'MQTT_KEY_FILE');
  if ((mqttCertFile === undefined) !== (mqttKeyFile === undefined)) {
    throw new ConfigError(mqttCertFile ? 'MQTT_KEY_FILE' : 'MQTT_CERT_FILE', 'MQTT_CERT_FILE and MQTT_KEY_FILE are set together');
  }
  if ((mqttCaFile || mqttCertFile) && !mqttUrl?.startsWith('mqtts://')) {
    throw new ConfigError(mqttCaFile ? 'MQTT_CA_FILE' : 'MQTT_CERT_FILE', 'applies to a TLS broker only: set MQTT_URL=mqtts://…');
  }
  return Object.freeze({
    nodeEnv,
    production,
    port: int(env, 'PORT', 0, 65_535),
    host: str(env, 'HOST'),
    mqttPort: int(env, 'MQTT_PORT', 0, 65_535),
    dataDir,
    databaseUrl: optional(env, 'DATABASE_URL'),
    mqttUrl,
    // Production never writes a generated secret: there MQTT_URL names the broker (npm start refuses without it).
    embeddedBrokerPasswords: mqttUrl === undefined && !production ? embeddedBrokerPasswords(dataDir) : undefined,
    mqttCaFile,
    mqttCertFile,
    mqttKeyFile,
    embeddedPgPort: int(env, 'EMBEDDED_PG_PORT', 0, 65_535),
    jwtSecret: jwtSecret(env, production, dataDir),
    logLevel: str(env, 'LOG_LEVEL'),
    accessTokenMinutes: int(env, 'ACCESS_TOKEN_MINUTES', 1, 24 * 60),
    refreshTokenDays: int(env, 'REFRESH_TOKEN_DAYS', 1, 365),
    mqttClientId: str(env, 'MQTT_CLIENT_ID'),
    mqttShareGroup: optional(env, 'MQTT_SHARE_GROUP'),
    chirpstackEventTopic: str(env, 'CHIRPSTACK_EVENT_TOPIC'),
    chirpstackCommandTopic: str(env, 'CHIRPSTACK_COMMAND_TOPIC'),
    displayAckTimeoutSeconds: int(env, 'DISPLAY_ACK_TIMEOUT_SECONDS', 1, 7 * 86_400),
    displayMaxAttempts: int(env, 'DISPLAY_MAX_ATTEMPTS', 1, 100),
    ingestBatchMax: batchMax,
    ingestBatchMaxMs: int(env, 'INGEST_BATCH_MAX_MS', 0, 10_000),
    ingestLanes: int(env, 'INGEST_LANES', 1, 16),
    ingestMaxPending: int(env, 'INGEST_MAX_PENDING', batchMax, 1_000_000),
    // At most a day: the stale-frame guard treats a stored time further ahead as garbage (src/domain/state-machine.ts FRAME_MAX_LEAD_MS).
    ingestMaxClockSkewSeconds: int(env, 'INGEST_MAX_CLOCK_SKEW_SECONDS', 0, 86_400),
    readingRetentionDays: int(env, 'READING_RETENTION_DAYS', 1, 36_500),
    deadLetterRetentionDays: int(env, 'DEAD_LETTER_RETENTION_DAYS', 1, 36_500),
    dbPoolMax: int(env, 'DB_POOL_MAX', 2, 1_000),
    metricsPort: int(env, 'METRICS_PORT', 0, 65_535),
    bcryptRounds: int(env, 'BCRYPT_ROUNDS', 4, 15),
    trustProxyHops: int(env, 'TRUST_PROXY_HOPS', 0, 10),
    hstsMaxAgeSeconds: int(env, 'HSTS_MAX_AGE', 0, 63_072_000),
    loginMaxFailures: int(env, 'LOGIN_MAX_FAILURES', 1, 1_000_000),
    loginWindowSeconds: int(env, 'LOGIN_WINDOW_SECONDS', 1, 86_400),
    httpHeadersTimeoutMs: int(env, 'HTTP_HEADERS_TIMEOUT_MS', 100, 3_600_000),
    httpRequestTimeoutMs: int(env, 'HTTP_REQUEST_TIMEOUT_MS', 100, 3_600_000),
    reservationMaxHours: int(env, 'RESERVATION_MAX_HOURS', 1, 24 * 366),
    reservationPastSkewSeconds: int(env, 'RESERVATION_PAST_SKEW_SECONDS', 0, 3_600),
    noShowDefaultMinutes: int(env, 'NO_SHOW_DEFAULT_MINUTES', 1, 1_440),
    liveReplayMaxEvents: int(env, 'LIVE_REPLAY_MAX_EVENTS', 0, 1_000_000),
    liveReplayMaxHours: int(env, 'LIVE_REPLAY_MAX_HOURS', 0, 24 * 31),
    liveHeartbeatMs: int(env, 'LIVE_HEARTBEAT_MS', 100, 3_600_000),
    liveClientBufferBytes: int(env, 'LIVE_CLIENT_BUFFER_BYTES', 1_024, 1_073_741_824),
    gatewayOfflineMinutes: int(env, 'GATEWAY_OFFLINE_MINUTES', 1, 10_080),
    deviceOfflineMinutes: int(env, 'DEVICE_OFFLINE_MINUTES', 1, 43_200),
    lowBatteryPercent: int(env, 'LOW_BATTERY_PERCENT', 0, 100),
    deviceHeartbeatDefaultMinutes: int(env, 'DEVICE_HEARTBEAT_DEFAULT_MINUTES', 1, 43_200),
    webhookAllowPrivate: bool(env, 'WEBHOOK_ALLOW_PRIVATE'),
    webhookTimeoutMs: int(env, 'WEBHOOK_TIMEOUT_MS', 100, 60_000),
    webhookRetryScheduleSeconds: intList(env, 'WEBHOOK_RETRY_SCHEDULE_SECONDS', 0, 7 * 86_400),
    webhookDisableAfterFailures: int(env, 'WEBHOOK_DISABLE_AFTER_FAILURES', 1, 1_000),
    chirpstackApiUrl: optional(env, 'CHIRPSTACK_API_URL'),
    chirpstackApiToken: optional(env, 'CHIRPSTACK_API_TOKEN'),
  });
}
