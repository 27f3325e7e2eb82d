/**
 * Builds ChirpStack v4 integration events as ChirpStack publishes them (JSON encoding,
 * protobuf-JSON field names; see the reference notes §1.4–1.6), and their payloads in either
 * of ChirpStack's encodings (`[integration.mqtt] json=true|false`). Used by the simulator,
 * the benchmarks and the tests, so all three speak the same wire format.
 */
import { randomUUID } from 'node:crypto';
import { encodeEvent, type ProtobufKind } from './protobuf.js';

/** ChirpStack's two event encodings: `json=true` (proto3 JSON) or `json=false` (protobuf). */
export type EventEncoding = 'json' | 'protobuf';
export const EVENT_ENCODINGS: readonly EventEncoding[] = ['json', 'protobuf'];

/**
 * An event's payload as ChirpStack publishes it: the JSON text, or the protobuf message built
 * from that JSON with the package's own encoders (src/simulator/protobuf.ts).
 */
export function eventPayload(kind: ProtobufKind, json: Record<string, unknown>, encoding: EventEncoding = 'json'): Buffer {
  return encoding === 'json' ? Buffer.from(JSON.stringify(json)) : Buffer.from(encodeEvent(kind, json));
}

export interface UplinkSpec {
  devEui: string;
  applicationId?: string;
  fCnt: number;
  fPort: number;
  data: Buffer | Uint8Array;
  time?: Date;
  deduplicationId?: string;
  gatewayId?: string;
  rssi?: number;
  snr?: number;
  object?: Record<string, unknown>;
}

export const DEFAULT_APPLICATION_ID = '17c82e96-be03-4f38-aef3-f83d48582d97';
export const DEFAULT_GATEWAY_ID = '0016c001f153a14c';

/** ChirpStack renders `time` with nanoseconds and a +00:00 offset. */
function rfc3339Nanos(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000000+00:00');
}

export function upEvent(s: UplinkSpec): Record<string, unknown> {
  const devEui = s.devEui.toLowerCase();
  const ev: Record<string, unknown> = {
    deduplicationId: s.deduplicationId ?? randomUUID(),
    time: rfc3339Nanos(s.time ?? new Date()),
    deviceInfo: {
      tenantId: '52f14cd4-c6f1-4fbd-8f87-4025e1d49242',
      tenantName: 'ChirpStack',
      applicationId: s.applicationId ?? DEFAULT_APPLICATION_ID,
      applicationName: 'Parking',
      deviceProfileId: '14855bf7-d10d-4aee-b618-ebfcb64dc7ad',
      deviceProfileName: 'Parking sensor',
      deviceName: `sensor-${devEui}`,
      devEui,
      deviceClassEnabled: 'CLASS_A',
      tags: {},
    },
    devAddr: '00189440',
    adr: true,
    dr: 5,
    fCnt: s.fCnt,
    fPort: s.fPort,
    confirmed: false,
    data: Buffer.from(s.data).toString('base64'),
    rxInfo: [
      {
        gatewayId: s.gatewayId ?? DEFAULT_GATEWAY_ID,
        uplinkId: 4217106255,
        rssi: s.rssi ?? -80,
        snr: s.snr ?? 7.5,
        channel: 2,
        location: {},
        context: 'E3OWOQ==',
        metadata: { region_config_id: 'eu868', region_common_name: 'EU868' },
        crcStatus: 'CRC_OK',
      },
    ],
    txInfo: { frequency: 867100000, modulation: { lora: { bandwidth: 125000, spreadingFactor: 7, codeRate: 'CR_4_5' } } },
    regionConfigId: 'eu868',
  };
  if (s.object) ev.object = s.object;
  return ev;
}

export function statusEvent(s: { devEui: string; batteryLevel: number; margin?: number; time?: Date; deduplicationId?: string }) {
  return {
    deduplicationId: s.deduplicationId ?? randomUUID(),
    time: rfc3339Nanos(s.time ?? new Date()),
    deviceInfo: { applicationId: DEFAULT_APPLICATION_ID, devEui: s.devEui.toLowerCase(), deviceName: 'sensor', tags: {} },
    margin: s.margin ?? 10,
    externalPowerSource: false,
    batteryLevelUnavailable: false,
    batteryLevel: s.batteryLevel,
  };
}

/** Renders a ChirpStack event topic from a template such as application/{application_id}/device/{dev_eui}/event/{event}. */
export function eventTopic(template: string, devEui: string, event: string, applicationId = DEFAULT_APPLICATION_ID): string {
  return template
    .replace(/\{\{?\s*application_id\s*\}?\}/, applicationId)
    .replace(/\{\{?\s*dev_eui\s*\}?\}/, devEui.toLowerCase())
    .replace(/\{\{?\s*event\s*\}?\}/, event);
}
