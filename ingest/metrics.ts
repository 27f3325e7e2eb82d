/**
 * Ingest's operational HTTP surface and its metric bookkeeping: a plain http server on
 * METRICS_PORT with /metrics (Prometheus), /ready (database, schema, MQTT session) and
 * /health; and the functions that turn the pipeline's batch results and the consumer's
 * messages into metric updates. Ingest has no Koa app: three fixed paths do not need one.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from '../src/log.js';
import type { Metrics } from '../src/metrics.js';
import { PortInUseError } from '../src/net.js';
import { readinessBody, type Readiness } from '../src/readiness.js';
import { VERSION } from '../src/version.js';
import type { BatchResult } from './apply.js';
import type { CompiledTopicTemplate } from './chirpstack.js';

export interface MetricsServerOptions {
  port: number;
  host: string;
  registry: Registry;
  log: Logger;
  /** Readiness (src/readiness.ts readinessChecks with an `mqtt` check); /ready answers 404 without it. */
  ready?: () => Promise<Readiness>;
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: { code: 'method_not_allowed', message: 'GET only', details: [] } });
    if (path === '/metrics') {
      const text = await o.registry.metrics();
      res.writeHead(200, { 'content-type': o.registry.contentType, 'cache-control': 'no-store' });
      res.end(text);
      return;
    }
    if (path === '/health') return json(res, 200, { status: 'healthy', version: VERSION });
    if (path === '/ready' && o.ready) {
      const r = await o.ready();
      return json(res, r.ok ? 200 : 503, readinessBody(r));
    }
    json(res, 404, { error: { code: 'not_found', message: 'No such route', details: [] } });
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      o.log.error({ err }, 'metrics server request failed');
      if (!res.headersSent) json(res, 500, { error: { code: 'internal_error', message: 'Internal server error', details: [] } });
      else res.destroy();
    });
  });
  server.on('error', (err) => o.log.error({ err }, 'metrics server error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new PortInUseError(o.port, 'METRICS_PORT') : err),
    );
    server.listen(o.port, o.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  const host = o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Event kinds ChirpStack publishes (ChirpStack integration/mqtt.rs; reference notes §1.2).
 * Anything else counts as `other`, so a stray topic cannot add a series.
 */
const KNOWN_EVENTS = new Set(['up', 'status', 'join', 'ack', 'txack', 'log', 'location', 'integration']);

/** Counts one received message by the event kind its topic names; call it for every message, before the pipeline. */
export function recordReceived(metrics: Metrics, topics: CompiledTopicTemplate, topic: string): void {
  const event = topics.match(topic)?.event;
  metrics.messagesReceived.inc({ event: event && KNOWN_EVENTS.has(event) ? event : 'other' });
}

export interface BatchInfo {
  size: number;
  commitMs: number;
  oldestReceivedAt: number;
}

/** Records one committed batch: pass it as the pipeline's onBatch (ingest/pipeline.ts). */
export function recordBatch(metrics: Metrics, result: BatchResult, info: BatchInfo): void {
  metrics.batchSize.observe(info.size);
  metrics.commitSeconds.observe(info.commitMs / 1000);
  metrics.ingestLagSeconds.observe(Math.max(0, Date.now() - info.oldestReceivedAt) / 1000);
  recordOutcomes(metrics, result);
}

/**
 * What a committed batch did, whichever way its events came (MQTT, or the webhook spool):
 * outcomes, dead letters, uplinks by decoder, transitions.
 */
export function recordOutcomes(metrics: Metrics, result: BatchResult): void {
  const outcomes: [string, number][] = [
    ['uplink', result.uplinks],
    ['duplicate', result.duplicates],
    ['unclaimed', result.unclaimed],
    ['device_event', result.deviceEvents],
    ['ignored', result.ignored],
    ['dead_lettered', result.deadLettered],
  ];
  for (const [outcome, count] of outcomes) if (count > 0) metrics.messagesApplied.inc({ outcome }, count);
  for (const [reason, byDecoder] of Object.entries(result.deadByReason)) {
    for (const [decoder, count] of Object.entries(byDecoder)) if (count > 0) metrics.deadLetters.inc({ reason, decoder }, count);
  }

  for (const m of result.applicationMismatches) metrics.applicationRefusals.inc({ refusal: m.refusal });
  for (const [correction, count] of Object.entries(result.clockCorrections)) if (count) metrics.clockCorrections.inc({ correction }, count);
  for (const [decoder, count] of Object.entries(result.uplinksByDecoder)) if (count > 0) metrics.uplinksProcessed.inc({ decoder }, count);
  for (const { from, to } of result.stateChanges) metrics.spaceTransitions.inc({ from, to });
}

/**
 * onConnect / onDisconnect for the MqttConsumer (ingest/mqtt.ts): keeps the connected
 * gauge, and counts every session established after the first as a reconnect.
 */
export function mqttConnectionMetrics(metrics: Metrics): { onConnect(): void; onDisconnect(): void } {
  let connects = 0;
  metrics.mqttConnected.set(0);
  return {
    onConnect() {
      if (connects++ > 0) metrics.mqttReconnects.inc();
      metrics.mqttConnected.set(1);
    },
    onDisconnect() {
      metrics.mqttConnected.set(0);
    },
  };
}

/** The readiness check for ingest's MQTT session (connected and subscribed). */
export function mqttReadyCheck(consumer: { readonly connected: boolean }): () => Promise<void> {
  return async () => {
    if (!consumer.connected) throw new Error('MQTT session is not up (connecting or reconnecting)');
  };
}
