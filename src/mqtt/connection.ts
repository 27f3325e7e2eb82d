/**
 * Owns how baygate reaches its MQTT broker: the one set of connection options that every
 * MQTT connection it opens uses (ingest's consumer, ingest/mqtt.ts, and the display
 * publisher, ingest/displays.ts). The TLS files are read once, here, when the factory is
 * made, so both connections present the same client certificate and trust the same CA.
 *
 * MQTT_CA_FILE, MQTT_CERT_FILE and MQTT_KEY_FILE mirror ChirpStack's own `ca_cert`,
 * `tls_cert` and `tls_key` in [integration.mqtt], and are what Mosquitto's
 * `require_certificate true` (mosquitto.conf(5)) and EMQX's `verify_peer` expect.
 */
import { readFileSync } from 'node:fs';
import type { Config } from '../config.js';

export interface MqttTlsFiles {
  /** PEM contents, not paths. */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface MqttConnection {
  /** mqtt://… or mqtts://…, credentials in the URL as given. */
  url: string;
  /** Broker address without credentials, for logs. */
  broker: string;
  /** TLS material for mqtts:// (node:tls options for the consumer; mqtt.js takes the same keys). */
  tls: MqttTlsFiles | undefined;
}

export function mqttConnection(config: Pick<Config, 'mqttCaFile' | 'mqttCertFile' | 'mqttKeyFile'>, url: string): MqttConnection {
  const u = new URL(url);
  const files: MqttTlsFiles = {};
  if (config.mqttCaFile) files.ca = readFileSync(config.mqttCaFile);
  if (config.mqttCertFile) files.cert = readFileSync(config.mqttCertFile);
  if (config.mqttKeyFile) files.key = readFileSync(config.mqttKeyFile);
  return {
    url,
    broker: `${u.protocol}//${u.host}`,
    // Only a TLS connection uses them; src/config.ts refuses the files without mqtts://.
    tls: u.protocol === 'mqtts:' ? files : undefined,
  };
}
