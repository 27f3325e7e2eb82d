/**
 * Simulated sensor fleets for the ingest benchmarks (registered by test/helpers/fleet.ts):
 * publishing their uplinks from several simulators in parallel so the publisher is not the
 * bottleneck, and waiting for a count to reach its target.
 */
import { simulate } from '../../bin/simulate.js';
import { devEuiAt } from '../../src/simulator/payloads.js';
import type { EventEncoding } from '../../src/simulator/events.js';
import type { Fleet } from '../../test/helpers/fleet.js';

/** ChirpStack v4's default event topic, which every benchmark's ingest subscribes to. */
export const BENCH_TOPIC_TEMPLATE = 'application/{application_id}/device/{dev_eui}/event/{event}';
const APPLICATION_ID = '17c82e96-be03-4f38-aef3-f83d48582d97';
/** A count that makes no progress for this long has stalled. */
const STALL_MS = 30_000;

export interface PublishOptions {
  count: number;
  /** Uplinks per second over all publishers (1e9: as fast as they go). */
  rate: number;
  /** Share of uplinks that flip the sensor (a state change) rather than repeat it. */
  changeProbability: number;
  seed: number;
  publishers: number;
  /** ChirpStack's `[integration.mqtt] json=true|false`; JSON when absent. */
  encoding?: EventEncoding;
}

/** Publishes `count` QoS 1 uplinks split over parallel simulators, each with its own slice of the fleet. */
export async function publishFleet(url: string, fleet: Fleet, o: PublishOptions): Promise<void> {
  const per = Math.ceil(fleet.devices / o.publishers);
  await Promise.all(
    Array.from({ length: o.publishers }, (_, k) =>
      simulate(
        {
          devices: Math.min(per, fleet.devices - k * per),
          rate: o.rate / o.publishers,
          count: Math.ceil(o.count / o.publishers),
          url,
          template: BENCH_TOPIC_TEMPLATE,
          decoder: 'nwave-nps405',
          firstDevEui: devEuiAt(fleet.first, k * per),
          applicationId: APPLICATION_ID,
          changeProbability: o.changeProbability,
          qos: 1,
          seed: o.seed + k,
          quiet: true,
          encoding: o.encoding,
        },
        undefined,
        () => undefined,
      ),
    ),
  );
}

/** Polls `progress` every `pollMs` until it reaches `target`; throws when it stalls. */
export async function waitUntil(what: string, progress: () => Promise<number> | number, target: number, pollMs = 50): Promise<void> {
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const n = await progress();
    if (n >= target) return;
    if (n !== last) {
      last = n;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > STALL_MS) {
      throw new Error(`${what} stalled at ${n}/${target}`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
