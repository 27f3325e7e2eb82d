/**
 * The ingest simulator (`npm run simulate`, `npx baygate simulate`): publishes realistic
 * ChirpStack v4 `up` events for N parking sensors at R messages per second to an MQTT
 * broker, in the wire format ChirpStack's MQTT integration uses (src/simulator/events.ts),
 * with payloads the real decoders read (src/simulator/payloads.ts). Each sensor keeps its
 * own frame counter and bay state: a message is a state change (status frame) or a
 * heartbeat, so spaces assigned to the sensors change state in the API as cars come and go.
 */
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import defaults from '../config/defaults.json' with { type: 'json' };
import { loadConfig } from '../src/config.js';
import { CHIRPSTACK_USERNAME, urlWithCredentials } from '../src/mqtt/acl.js';
import { DEFAULT_APPLICATION_ID, EVENT_ENCODINGS, eventPayload, eventTopic, upEvent, type EventEncoding } from '../src/simulator/events.js';
import { SIMULATED_DECODERS, devEuiAt, seededRandom, sensorFrame, type SimulatedDecoder } from '../src/simulator/payloads.js';

export const SIMULATE_USAGE = `Usage: baygate simulate [options]

Publishes ChirpStack v4 "up" events for simulated parking sensors.

Options:
  --devices N            number of sensors (default 10)
  --rate R               messages per second, over all sensors (default 5)
  --count M              stop after M messages (default 0: until Ctrl-C)
  --url URL              MQTT broker, credentials in the URL (default: npm start's broker on
                         127.0.0.1:MQTT_PORT as the ChirpStack identity, password read from DATA_DIR)
  --template T           ChirpStack event_topic template (default ${defaults.CHIRPSTACK_EVENT_TOPIC})
  --decoder D            payload format: ${SIMULATED_DECODERS.join(', ')} (default nwave-nps405)
  --first-dev-eui HEX    DevEUI of the first sensor; the others follow (default 70B3D5E75E000001)
  --application-id UUID  ChirpStack application id in topics and events
  --change-probability P chance that a message is a state change rather than a heartbeat (default 0.3)
  --qos 0|1              publish QoS (default 1, as ChirpStack with qos=1)
  --encoding E           json or protobuf, as ChirpStack's [integration.mqtt] json=true|false (default json)
  --seed N               repeatable run
  --list                 print the DevEUIs and exit (register them with POST /api/v6/devices)
  --quiet                print only the summary
  -h, --help             this text
`;

/** Unacknowledged QoS 1 publishes held at once; beyond it the simulator waits for PUBACKs. */
const MAX_IN_FLIGHT = 500;
/** Heartbeat battery: a fresh lithium cell (NPS405 frames top out at 3.52 V), drifting down per message to look alive on dashboards. */
const BATTERY_FRESH_MV = 3500;
const BATTERY_DRAIN_MV = 0.05;
const PROGRESS_EVERY_MS = 5_000;

export interface SimulateOptions {
  devices: number;
  rate: number;
  /** 0 = until stopped. */
  count: number;
  url: string;
  template: string;
  decoder: SimulatedDecoder;
  firstDevEui: string;
  applicationId: string;
  changeProbability: number;
  qos: 0 | 1;
  seed: number;
  quiet: boolean;
  /** How each event is encoded; JSON when absent. */
  encoding?: EventEncoding;
}

interface Sensor {
  devEui: string;
  fCnt: number;
  occupied: boolean;
  changedAt: number;
  batteryMv: number;
  reported: boolean;
}

export class UsageError extends Error {}

function positiveNumber(name: string, raw: string | undefined, fallback: number, integer: boolean, min = 0): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got "${raw}"`);
  }
  return n;
}

/**
 * npm start's embedded broker, as ChirpStack: the simulator plays ChirpStack, so it uses
 * that identity (src/mqtt/acl.ts), with the password npm start generated into DATA_DIR.
 * With MQTT_URL set there is no embedded broker and no password to read: --url says where.
 */
export function defaultSimulatorUrl(env: NodeJS.ProcessEnv): string {
  const config = loadConfig(env);
  const url = `mqtt://127.0.0.1:${config.mqttPort}`;
  const passwords = config.embeddedBrokerPasswords;
  return passwords ? urlWithCredentials(url, CHIRPSTACK_USERNAME, passwords.chirpstack) : url;
}

export function parseSimulateArgs(argv: string[], defaultUrl: () => string = () => `mqtt://127.0.0.1:${defaults.MQTT_PORT}`): { opts: SimulateOptions; list: boolean } | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      devices: { type: 'string' },
      rate: { type: 'string' },
      count: { type: 'string' },
      url: { type: 'string' },
      template: { type: 'string' },
      decoder: { type: 'string' },
      'first-dev-eui': { type: 'string' },
      'application-id': { type: 'string' },
      'change-probability': { type: 'string' },
      qos: { type: 'string' },
      encoding: { type: 'string' },
      seed: { type: 'string' },
      list: { type: 'boolean' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const decoder = (values.decoder ?? 'nwave-nps405') as SimulatedDecoder;
  if (!SIMULATED_DECODERS.includes(decoder)) throw new UsageError(`--decoder must be one of ${SIMULATED_DECODERS.join(', ')}`);
  const firstDevEui = (values['first-dev-eui'] ?? '70B3D5E75E000001').toUpperCase();
  if (!/^[0-9A-F]{16}$/.test(firstDevEui)) throw new UsageError('--first-dev-eui must be 16 hex digits');
  const qos = positiveNumber('qos', values.qos, 1, true);
  if (qos > 1) throw new UsageError('--qos must be 0 or 1');
  const p = positiveNumber('change-probability', values['change-probability'], 0.3, false);
  if (p > 1) throw new UsageError('--change-probability must be between 0 and 1');
  const encoding = (values.encoding ?? 'json') as EventEncoding;
  if (!EVENT_ENCODINGS.includes(encoding)) throw new UsageError(`--encoding must be one of ${EVENT_ENCODINGS.join(', ')}`);
  const opts: SimulateOptions = {
    devices: positiveNumber('devices', values.devices, 10, true, 1),
    rate: positiveNumber('rate', values.rate, 5, false, 0.001),
    count: positiveNumber('count', values.count, 0, true),
    url: values.url ?? (values.list ? '' : defaultUrl()),
    template: values.template ?? defaults.CHIRPSTACK_EVENT_TOPIC,
    decoder,
    firstDevEui,
    applicationId: values['application-id'] ?? DEFAULT_APPLICATION_ID,
    changeProbability: p,
    qos: qos as 0 | 1,
    seed: positiveNumber('seed', values.seed, randomBytes(4).readUInt32LE(0), true),
    quiet: values.quiet ?? false,
    encoding,
  };
  return { opts, list: values.list ?? false };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Publishes until `count` messages are acknowledged or `signal` aborts; returns how many were sent. */
export async function simulate(o: SimulateOptions, signal?: AbortSignal, out: (line: string) => void = console.log): Promise<{ sent: number; seconds: number }> {
  const random = seededRandom(o.seed);
  const start = Date.now();
  const sensors: Sensor[] = Array.from({ length: o.devices }, (_, i) => ({
    devEui: devEuiAt(o.firstDevEui, i),
    fCnt: Math.floor(random() * 1000),
    occupied: random() < 0.5,
    changedAt: start - Math.floor(random() * 60) * 60_000,
    batteryMv: BATTERY_FRESH_MV - random() * 300,
    reported: false,
  }));
  const client: MqttClient = await mqtt.connectAsync(o.url, {
    clientId: `baygate-sim-${randomBytes(4).toString('hex')}`,
    reconnectPeriod: 1_000,
    connectTimeout: 10_000,
  });
  client.on('error', (err) => out(`mqtt error: ${err.message}`));
  if (!o.quiet) out(`simulating ${o.devices} sensors (${o.decoder}) at ${o.rate} msg/s on ${o.url.replace(/\/\/[^@/]*@/, '//***@')}`);

  const inFlight = new Set<Promise<unknown>>();
  let sent = 0;
  let failed = 0;
  let lastProgress = start;
  const intervalMs = 1000 / o.rate;
  try {
    for (let i = 0; o.count === 0 || i < o.count; i++) {
      if (signal?.aborted) break;
      // Paced against the start time, so the rate holds even when a publish is slow.
      const due = start + i * intervalMs;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      if (signal?.aborted) break;

      const s = sensors[i % sensors.length]!;
      const now = Date.now();
      const change = !s.reported || random() < o.changeProbability;
      let previousMinutes = 0;
      if (change && s.reported) {
        previousMinutes = (now - s.changedAt) / 60_000;
        s.occupied = !s.occupied;
        s.changedAt = now;
      }
      s.reported = true;
      s.batteryMv -= BATTERY_DRAIN_MV;
      s.fCnt++;
      const frame = sensorFrame(o.decoder, {
        occupied: s.occupied,
        kind: change ? 'status' : 'heartbeat',
        previousMinutes,
        batteryMv: s.batteryMv,
        temperatureC: 12 + random() * 10,
      });
      const ev = upEvent({
        devEui: s.devEui,
        applicationId: o.applicationId,
        fCnt: s.fCnt,
        fPort: frame.fPort,
        data: frame.data,
        object: frame.object,
        rssi: -60 - Math.round(random() * 50),
        snr: Math.round((random() * 20 - 7) * 10) / 10,
        time: new Date(now),
      });
      const topic = eventTopic(o.template, s.devEui, 'up', o.applicationId);
      const p = client
        .publishAsync(topic, eventPayload('up', ev, o.encoding), { qos: o.qos })
        .then(
          () => void sent++,
          (err: Error) => {
            failed++;
            out(`publish failed: ${err.message}`);
          },
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
      if (!o.quiet && now - lastProgress >= PROGRESS_EVERY_MS) {
        lastProgress = now;
        out(`${sent} sent`);
      }
    }
    await Promise.all(inFlight);
  } finally {
    await client.endAsync();
  }
  const seconds = (Date.now() - start) / 1000;
  out(`sent ${sent} messages from ${o.devices} sensors in ${seconds.toFixed(1)} s (${(sent / Math.max(seconds, 0.001)).toFixed(1)} msg/s)${failed ? `, ${failed} failed` : ''}`);
  return { sent, seconds };
}

/** Runs the simulator with command-line arguments; returns the exit code. */
export async function simulateMain(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseSimulateArgs>;
  try {
    parsed = parseSimulateArgs(argv, () => defaultSimulatorUrl(process.env));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${SIMULATE_USAGE}`);
    return 2;
  }
  if (parsed === 'help') {
    console.log(SIMULATE_USAGE);
    return 0;
  }
  const { opts, list } = parsed;
  if (list) {
    for (let i = 0; i < opts.devices; i++) console.log(devEuiAt(opts.firstDevEui, i));
    return 0;
  }
  const stop = new AbortController();
  const onSignal = () => {
    if (stop.signal.aborted) process.exit(1); // a second Ctrl-C: leave at once
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await simulate(opts, stop.signal);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  simulateMain(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
