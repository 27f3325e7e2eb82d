/**
 * Applies one micro-batch of ChirpStack events inside one open transaction: parse,
 * correct implausible event times, route by DevEUI, refuse events that did not come
 * through the device's own ChirpStack application, decode, drop duplicates, run the space
 * state machine in arrival order, and write readings, states, reservation check-ins/outs,
 * events, device health, gateways, unclaimed devices and dead letters with array
 * parameters. The caller commits, then acknowledges.
 *
 * Rows for one tenant are written while the transaction's tenant setting names it, so
 * every write stays under Row-Level Security even though a batch spans tenants.
 */
import defaults from '../config/defaults.json' with { type: 'json' };
import type { PoolClient } from '../src/db/pool.js';
import { setTenant } from '../src/db/tx.js';
import { decide, type Frame, type SpaceInput } from '../src/domain/state-machine.js';
import { frameTime, type ClockCorrection } from '../src/domain/frame-time.js';
import { checkApplication, type ApplicationRefusal } from '../src/domain/application-binding.js';
import { DecodeError, getDecoder, type Reading } from '../src/domain/decoders/index.js';
import { insertReadings, type ReadingRow } from '../src/storage/readings.js';
import { lockSpaces, readSpaces, writeSpaceStates, appendSpaceEvents, type SpaceEventRow, type SpaceStateRow } from '../src/storage/space-state.js';
import { bindApplications, routeDevices, writeDeviceHealth, type DeviceHealth, type RoutedDevice } from '../src/storage/ingest-devices.js';
import { touchGateways, type GatewaySighting } from '../src/storage/gateways.js';
import { recordUnclaimed, type UnclaimedSighting } from '../src/storage/unclaimed.js';
import { insertDeadLetters, type DeadLetterRow } from '../src/storage/dead-letters.js';
import { checkInOutFromEffects, recordCheckInOut } from '../src/storage/reservations.js';
import type { SpaceEventNotice } from '../src/events.js';
import type { CompiledTopicTemplate } from './chirpstack.js';
import { applyDeviceEvents, dedupKey, EventParseError, parseEvent, type AppliedEvent, type ChirpstackEvent, type Encoding, type UpEvent } from './events/index.js';

export interface InboundMessage {
  topic: string;
  payload: Buffer;
  /** How the payload is encoded, when the sender said so (HTTP Content-Type); told by content when absent (MQTT). */
  encoding?: Encoding;
  /** When baygate received it (ms since the epoch); the batch's start when absent. */
  receivedAt?: number;
}

/**
 * How far ahead of its reception an event's own time may lie and still be used, unless the
 * caller says (INGEST_MAX_CLOCK_SKEW_SECONDS). Its default, five minutes, covers a gateway
 * clock without NTP many times over, while a frame stamped further ahead would hold its
 * space's stale-frame guard that long.
 */
const DEFAULT_MAX_CLOCK_SKEW_SECONDS = defaults.INGEST_MAX_CLOCK_SKEW_SECONDS;

export interface ApplyOptions {
  /** Where the batch came from (the HTTP integration's tenant); absent for MQTT. */
  scope?: BatchScope;
  maxClockSkewSeconds?: number;
}

/** An event refused because it did not come through the device's own application (logged once per device per interval by ingest/main.ts). */
export interface ApplicationMismatch {
  tenantId: string;
  devEui: string;
  refusal: ApplicationRefusal;
  /** The application the event came through ('' when it named none). */
  applicationId: string;
}

export interface BatchResult {
  received: number;
  /** New uplinks from registered devices, stored as readings. */
  uplinks: number;
  duplicates: number;
  /** Uplinks from DevEUIs no tenant registered. */
  unclaimed: number;
  deadLettered: number;
  /** Events other than `up` applied to devices (status, join, ack, txack, log, location). */
  deviceEvents: number;
  /** Events counted and ignored (unknown kinds, events for unknown devices). */
  ignored: number;
  transitions: SpaceEventNotice[];
  /** Dead letters by reason, then by the decoder involved (`none` when no decoder was reached), for metrics. */
  deadByReason: Record<string, Record<string, number>>;
  /** Stored uplinks by the decoder that read them (`none`: fPort 0, MAC commands only), for metrics. */
  uplinksByDecoder: Record<string, number>;
  /** Each space event's previous and new state, for metrics (the NOTIFY notices in `transitions` carry no previous state). */
  stateChanges: { from: string; to: string }[];
  /** Events refused by the device's application binding, in arrival order. */
  applicationMismatches: ApplicationMismatch[];
  /** Events applied at their receive time, by why their own time was not used. */
  clockCorrections: Partial<Record<ClockCorrection, number>>;
}

/** A parsed event with when it was received and, if its own time was replaced, what it claimed. */
interface Received {
  ev: AppliedEvent;
  msg: InboundMessage;
  receivedAt: Date;
  /** The event's own time when the receive time replaced it. */
  claimedTime: Date | null;
}

interface Routed extends Received {
  device: RoutedDevice;
}

/** Mutable per-device facts carried through the batch, so a device's frames apply in order. */
interface DeviceProgress {
  lastFrame: Frame | null;
  health: DeviceHealth;
  /**
   * The device_health job had marked it offline: the first state change its frames cause is
   * recorded as `comms_restored` (the job recorded the loss as `comms_lost`).
   */
  restoring: boolean;
}

/** The space_events cause of the first change after a device comes back from `offline`. */
export const COMMS_RESTORED_CAUSE = 'comms_restored';

/** The state-machine input a decoded reading carries, if any. */
function inputOf(reading: Reading, frame: Frame, lastFrame: Frame | null): SpaceInput | null {
  if (reading.kind === 'startup') return { type: 'startup', frame, lastFrame };
  if ((reading.kind === 'status' || reading.kind === 'heartbeat') && reading.occupied !== null && !reading.fault) {
    return { type: 'sensor', kind: reading.kind, occupied: reading.occupied, frame, lastFrame };
  }
  return null;
}

function decodeUp(ev: UpEvent, device: RoutedDevice): { reading: Reading | null; error: DecodeError | null; decoder: string | null } {
  // fPort 0 carries MAC commands only; there is nothing for a sensor decoder to read.
  if (ev.fPort === 0) return { reading: null, error: null, decoder: null };
  const name = device.decoder ?? null;
  try {
    const decoder = getDecoder(name);
    return { reading: decoder.decode(ev.fPort, ev.data, ev.object), error: null, decoder: decoder.name };
  } catch (err) {
    if (err instanceof DecodeError) return { reading: null, error: err, decoder: err.decoder };
    return { reading: null, error: new DecodeError(name ?? 'chirpstack-object', (err as Error).message), decoder: name };
  }
}

/**
 * Where a batch came from. MQTT carries every tenant's events (ChirpStack routes them);
 * an HTTP webhook is signed by one tenant, so its events may only touch that tenant's
 * devices: anything else is dead-lettered under the sending tenant, never applied to
 * another tenant and never recorded as unclaimed.
 */
export interface BatchScope {
  tenantId: string;
}

export async function applyBatch(c: PoolClient, topics: CompiledTopicTemplate, msgs: InboundMessage[], opts: ApplyOptions = {}): Promise<BatchResult> {
  const { scope } = opts;
  const maxSkewMs = (opts.maxClockSkewSeconds ?? DEFAULT_MAX_CLOCK_SKEW_SECONDS) * 1000;
  const batchStart = Date.now();
  const result: BatchResult = {
    received: msgs.length,
    uplinks: 0,
    duplicates: 0,
    unclaimed: 0,
    deadLettered: 0,
    deviceEvents: 0,
    ignored: 0,
    transitions: [],
    uplinksByDecoder: {},
    stateChanges: [],
    deadByReason: {},
    applicationMismatches: [],
    clockCorrections: {},
  };
  const untenantedDead: DeadLetterRow[] = [];
  const dead = (rows: DeadLetterRow[], row: DeadLetterRow) => {
    rows.push(row);
    result.deadLettered++;
    const byDecoder = (result.deadByReason[row.reason] ??= {});
    const decoder = row.decoder ?? 'none';
    byDecoder[decoder] = (byDecoder[decoder] ?? 0) + 1;
  };

  // 1. Parse, correct implausible times, and drop in-batch duplicates (a redelivery can land in the same batch).
  const events: Received[] = [];
  const seen = new Set<string>();
  for (const msg of msgs) {
    const match = topics.match(msg.topic);
    if (!match) {
      dead(untenantedDead, { tenantId: scope?.tenantId ?? null, topic: msg.topic, payload: msg.payload, reason: 'unknown_topic', error: `topic does not match the ChirpStack event template`, decoder: null, devEui: null });
      continue;
    }
    let ev: ChirpstackEvent;
    try {
      ev = parseEvent(match, msg.payload, msg.encoding);
    } catch (err) {
      const reason = err instanceof EventParseError ? err.reason : 'parse_failed';
      dead(untenantedDead, { tenantId: scope?.tenantId ?? null, topic: msg.topic, payload: msg.payload, reason, error: (err as Error).message, decoder: null, devEui: match.devEui });
      continue;
    }
    if (ev.kind === 'other') {
      result.ignored++;
      continue;
    }
    const receivedAt = new Date(msg.receivedAt ?? batchStart);
    const time = frameTime(ev.time, receivedAt, maxSkewMs);
    const claimedTime = time.corrected ? ev.time : null;
    if (time.corrected) {
      result.clockCorrections[time.corrected] = (result.clockCorrections[time.corrected] ?? 0) + 1;
      ev.time = time.at;
    }
    // Dedup keys built from the time (log events) use the corrected one: a redelivery is corrected alike.
    const key = dedupKey(ev);
    // The same frame under a new deduplication id (see SAME_FRAME_WINDOW_SECONDS) in this batch.
    const frameKey = ev.kind === 'up' ? `frame:${ev.devEui}:${ev.fCnt}:${ev.fPort}:${ev.data.toString('base64')}` : null;
    if ((key !== null && seen.has(key)) || (frameKey !== null && seen.has(frameKey))) {
      result.duplicates++;
      continue;
    }
    if (key !== null) seen.add(key);
    if (frameKey !== null) seen.add(frameKey);
    events.push({ ev, msg, receivedAt, claimedTime });
  }

  // 2. Route by DevEUI; unknown DevEUIs' uplinks are kept as unclaimed.
  const devices = await routeDevices(c, [...new Set(events.map((e) => e.ev.devEui))]);
  const unclaimed = new Map<string, UnclaimedSighting>();
  const byTenant = new Map<string, Routed[]>();
  const foreignDead: DeadLetterRow[] = [];
  for (const received of events) {
    const { ev, msg } = received;
    const device = devices.get(ev.devEui);
    if (scope && device?.tenantId !== scope.tenantId) {
      dead(foreignDead, { tenantId: scope.tenantId, topic: msg.topic, payload: msg.payload, reason: 'foreign_device', error: `device ${ev.devEui} is not registered to the sending tenant`, decoder: null, devEui: ev.devEui });
      continue;
    }
    if (!device) {
      if (ev.kind === 'up') {
        result.unclaimed++;
        const prev = unclaimed.get(ev.devEui);
        const at = seenAt(received);
        const newer = !prev || at >= prev.at;
        unclaimed.set(ev.devEui, {
          devEui: ev.devEui,
          applicationId: ev.applicationId || prev?.applicationId || null,
          at: newer ? at : prev!.at,
          deduplicationIds: [...(prev?.deduplicationIds ?? []), ev.deduplicationId],
          rssi: newer ? (ev.best?.rssi ?? null) : prev!.rssi,
          snr: newer ? (ev.best?.snr ?? null) : prev!.snr,
          gatewayEui: newer ? (ev.best?.gatewayId ?? null) : prev!.gatewayEui,
          fPort: newer ? ev.fPort : prev!.fPort,
          data: newer ? ev.data : prev!.data,
        });
      } else {
        result.ignored++;
      }
      continue;
    }
    const list = byTenant.get(device.tenantId) ?? [];
    list.push({ ...received, device });
    byTenant.set(device.tenantId, list);
  }

  // 3. Per tenant, under that tenant's RLS setting. Tenants in id order, as every writer
  // that spans tenants takes them (the expire_reservations job too): each tenant's space and
  // event-order locks are then always taken in the same order, so no two batches deadlock.
  for (const [tenantId, routed] of [...byTenant].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    await setTenant(c, tenantId);
    const tenantDead: DeadLetterRow[] = [];
    const items = await admitByApplication(c, routed, (item, refusal) => {
      const { ev, msg, device } = item;
      result.applicationMismatches.push({ tenantId, devEui: device.devEui, refusal, applicationId: ev.applicationId });
      const came = ev.applicationId ? `application ${ev.applicationId}` : 'no application';
      const error =
        refusal === 'application_not_mapped'
          ? `event came through ${came}, which its tenant has not mapped`
          : `event came through ${came}; device ${device.devEui} is bound to application ${device.applicationId ?? '(another)'}`;
      dead(tenantDead, { tenantId, topic: msg.topic, payload: msg.payload, reason: 'application_mismatch', error, decoder: null, devEui: device.devEui });
    });
    const ups = items.filter((i): i is Routed & { ev: UpEvent } => i.ev.kind === 'up');
    const decoded = new Map<string, ReturnType<typeof decodeUp>>();
    const readingRows: ReadingRow[] = ups.map(({ ev, device, claimedTime }) => {
      const d = decodeUp(ev, device);
      decoded.set(ev.deduplicationId, d);
      return {
        deviceId: device.id,
        spaceId: device.assignedSpaceId,
        devEui: device.devEui,
        deduplicationId: ev.deduplicationId,
        fCnt: ev.fCnt,
        fPort: ev.fPort,
        receivedAt: ev.time,
        timeSource: claimedTime ? 'received' : 'event',
        eventTime: claimedTime && !Number.isNaN(claimedTime.getTime()) ? claimedTime : null,
        raw: ev.data,
        kind: d.reading?.kind ?? (d.error ? 'undecodable' : 'mac'),
        occupied: d.reading?.occupied ?? null,
        decoded: d.reading ?? (d.error ? { error: d.error.reason, decoder: d.error.decoder } : null),
        rssi: ev.best?.rssi ?? null,
        snr: ev.best?.snr ?? null,
        gatewayEui: ev.best?.gatewayId ?? null,
      };
    });
    const fresh = await insertReadings(c, tenantId, readingRows);
    result.duplicates += ups.length - fresh.size;
    result.uplinks += fresh.size;

    const freshUps = ups.filter((u) => fresh.has(u.ev.deduplicationId));
    for (const u of freshUps) {
      const decoder = decoded.get(u.ev.deduplicationId)?.decoder ?? 'none';
      result.uplinksByDecoder[decoder] = (result.uplinksByDecoder[decoder] ?? 0) + 1;
    }
    const spaceIds = [...new Set(freshUps.filter((u) => u.device.assignedSpaceId && u.device.deviceType === 'sensor' && u.device.enabled).map((u) => u.device.assignedSpaceId!))];
    // Decide on an unlocked read, then lock only the spaces the batch changes: most
    // uplinks are heartbeats that change nothing, and a row lock costs a write. A locked
    // row that differs from the read (a concurrent API call or job) means deciding again
    // with every space locked. A space left unlocked is written by nothing here, so a
    // change committed to it meanwhile loses nothing: this batch orders before it.
    const read = await readSpaces(c, spaceIds);
    let plan = decideSpaces(read, freshUps, decoded, tenantId);
    if (plan.changed.size > 0) {
      const locked = await lockSpaces(c, [...plan.changed].sort());
      if ([...plan.changed].some((id) => !sameSpace(locked.get(id), read.get(id)))) {
        plan = decideSpaces(await lockSpaces(c, spaceIds), freshUps, decoded, tenantId);
      }
    }
    const { touched, spaceEvents, progress, gateways, effects } = plan;
    for (const row of plan.dead) dead(tenantDead, row);

    await writeSpaceStates(
      c,
      [...touched.values()].filter(({ row }) => plan.changed.has(row.id)).map(({ row, changedAt }) => ({ id: row.id, currentState: row.currentState, sensorState: row.sensorState, changedAt })),
    );
    await recordCheckInOut(c, checkInOutFromEffects(effects));
    await writeDeviceHealth(c, [...progress.values()].map((p) => p.health));
    await touchGateways(c, tenantId, gateways);

    // Other event kinds: what each says about its device is its kind's (ingest/events/<kind>.ts).
    const others = items.flatMap((item) => (item.ev.kind === 'up' ? [] : [{ ev: item.ev, device: item.device, tenantId, seenAt: seenAt(item) }]));
    result.deviceEvents += await applyDeviceEvents(c, others);
    await insertDeadLetters(c, tenantDead);
    // Last for the tenant: the event-order lock it takes is then held only until COMMIT
    // (the next tenants' writes aside), which keeps concurrent ingest lanes from queueing on it.
    result.transitions.push(...(await appendSpaceEvents(c, tenantId, spaceEvents)));
    for (const e of spaceEvents) result.stateChanges.push({ from: e.from, to: e.to });
  }

  // A scoped batch's unusable messages belong to the sending tenant.
  if (scope) await setTenant(c, scope.tenantId);
  await insertDeadLetters(c, [...foreignDead, ...untenantedDead]);
  await recordUnclaimed(c, [...unclaimed.values()]);
  return result;
}

/** What one tenant's fresh uplinks do to its spaces and devices, decided on `spaces`. */
interface SpacePlan {
  touched: Map<string, { row: SpaceStateRow; changedAt: Date | null }>;
  /** Spaces whose row, events or reservation effects change: they must be locked and written. */
  changed: Set<string>;
  spaceEvents: SpaceEventRow[];
  progress: Map<string, DeviceProgress>;
  gateways: GatewaySighting[];
  effects: Parameters<typeof checkInOutFromEffects>[0];
  dead: DeadLetterRow[];
}

/** Pure: runs the state machine over the uplinks in arrival order; the caller writes. */
function decideSpaces(
  spaces: Map<string, SpaceStateRow>,
  freshUps: (Routed & { ev: UpEvent })[],
  decoded: Map<string, ReturnType<typeof decodeUp>>,
  tenantId: string,
): SpacePlan {
  const changed = new Set<string>();
  const deadRows: DeadLetterRow[] = [];
  const touched = new Map<string, { row: SpaceStateRow; changedAt: Date | null }>();
  const spaceEvents: SpaceEventRow[] = [];
  const progress = new Map<string, DeviceProgress>();
  const gateways: GatewaySighting[] = [];
  // Check-ins and check-outs of the reservations holding these spaces, at the frame's time.
  const effects: Parameters<typeof checkInOutFromEffects>[0] = [];

  for (const up of freshUps) {
    const { ev, msg, device } = up;
    const at = seenAt(up);
    let p = progress.get(device.id);
    if (!p) {
      p = {
        lastFrame: device.lastFCnt !== null && device.lastFrameAt ? { fCnt: device.lastFCnt, at: device.lastFrameAt } : null,
        health: { id: device.id, lastSeenAt: at, uplinks: 0, rssi: null, snr: null, gatewayEui: null, batteryPercent: null, batteryVolts: null, lowBattery: null, lastFCnt: null, lastFrameAt: null },
        restoring: device.status === 'offline',
      };
      progress.set(device.id, p);
    }
    const h = p.health;
    h.uplinks++;
    if (at >= h.lastSeenAt || h.uplinks === 1) {
      h.lastSeenAt = at;
      h.rssi = ev.best?.rssi ?? h.rssi;
      h.snr = ev.best?.snr ?? h.snr;
      h.gatewayEui = ev.best?.gatewayId ?? h.gatewayEui;
    }
    for (const rx of ev.rxInfo) {
      gateways.push({ gatewayEui: rx.gatewayId, at, lat: rx.location?.latitude ?? null, lon: rx.location?.longitude ?? null });
    }

    const { reading, error, decoder } = decoded.get(ev.deduplicationId)!;
    if (error) {
      deadRows.push({ tenantId, topic: msg.topic, payload: msg.payload, reason: 'decode_failed', error: error.message, decoder, devEui: device.devEui });
      continue;
    }
    if (!reading) continue;
    if (reading.batteryPercent !== undefined) h.batteryPercent = reading.batteryPercent;
    if (reading.batteryVolts !== undefined) h.batteryVolts = reading.batteryVolts;
    if (reading.lowBattery !== undefined) h.lowBattery = reading.lowBattery;
    // No vendor flag: the decoder's percent threshold decides (decoders/types.ts lowBatteryPercent).
    else if (reading.batteryPercent !== undefined && decoder) h.lowBattery = reading.batteryPercent < getDecoder(decoder).lowBatteryPercent;

    const spaceId = device.assignedSpaceId;
    const space = spaceId ? (touched.get(spaceId)?.row ?? spaces.get(spaceId)) : undefined;
    if (!space || device.deviceType !== 'sensor' || !device.enabled) continue;
    const frame: Frame = { fCnt: ev.fCnt, at: ev.time, receivedAt: up.receivedAt };
    const input = inputOf(reading, frame, p.lastFrame);
    if (!input) continue;
    const d = decide(space, input);
    if (!d.applied) continue;
    p.lastFrame = { fCnt: frame.fCnt, at: frame.at };
    h.lastFCnt = frame.fCnt;
    h.lastFrameAt = frame.at;
    const row = { ...space, ...d.next };
    const prevChange = touched.get(space.id)?.changedAt ?? null;
    touched.set(space.id, { row, changedAt: d.transition ? ev.time : prevChange });
    for (const effect of d.effects) effects.push({ effect, at: ev.time });
    if (d.transition || d.effects.length > 0 || row.currentState !== space.currentState || row.sensorState !== space.sensorState) {
      changed.add(space.id);
    }
    if (d.transition) {
      // A check-in or check-out names its reservation; other sensor changes name none.
      const reservationId = d.effects[0]?.reservationId ?? null;
      // A check-in or check-out keeps its own cause: it is what the reservation's readers look for.
      const cause = p.restoring && d.effects.length === 0 ? COMMS_RESTORED_CAUSE : d.transition.cause;
      spaceEvents.push({ spaceId: space.id, siteId: space.siteId, from: d.transition.from, to: d.transition.to, cause, deviceId: device.id, reservationId, at: ev.time });
    }
    p.restoring = false;
  }
  return { touched, changed, spaceEvents, progress, gateways, effects, dead: deadRows };
}

/** Whether two reads of a space agree on everything the state machine looks at. */
function sameSpace(a: SpaceStateRow | undefined, b: SpaceStateRow | undefined): boolean {
  if (!a || !b) return a === b;
  return (
    a.currentState === b.currentState &&
    a.sensorState === b.sensorState &&
    a.maintenance === b.maintenance &&
    a.heldBy?.reservationId === b.heldBy?.reservationId &&
    a.heldBy?.checkedIn === b.heldBy?.checkedIn &&
    a.heldBy?.checkedOut === b.heldBy?.checkedOut
  );
}

/**
 * When a device or gateway was last seen, as stored: the event's time, never later than its
 * reception. A time within INGEST_MAX_CLOCK_SKEW_SECONDS ahead is still applied (it orders
 * frames), but `last_seen_at` must never lie in the future, or the device_health job would
 * count a silent device as heard until then.
 */
function seenAt(r: Received): Date {
  return r.ev.time > r.receivedAt ? r.receivedAt : r.ev.time;
}

/**
 * Keeps the events that came through their device's own ChirpStack application, binding an
 * unbound device to the first one accepted (src/domain/application-binding.ts), in arrival
 * order; `refuse` gets the others. A device another batch bound meanwhile keeps that binding,
 * and this batch's events from other applications are refused too.
 */
async function admitByApplication(c: PoolClient, items: Routed[], refuse: (item: Routed, refusal: ApplicationRefusal) => void): Promise<Routed[]> {
  const binding = new Map<string, string | null>();
  const toBind = new Map<string, string>();
  const admitted: Routed[] = [];
  // One tenant's items: its mapping is the same for every device.
  const mapped = new Set(items[0]?.device.mappedApplications ?? []);
  for (const item of items) {
    const { device, ev } = item;
    const current = binding.has(device.id) ? binding.get(device.id)! : device.applicationId;
    const verdict = checkApplication(current, mapped, ev.applicationId || null);
    if (!verdict.accept) {
      refuse(item, verdict.refusal);
      continue;
    }
    if (verdict.bind !== null) {
      binding.set(device.id, verdict.bind);
      toBind.set(device.id, verdict.bind);
    }
    admitted.push(item);
  }
  if (toBind.size === 0) return admitted;
  const raced = await bindApplications(c, [...toBind].map(([id, applicationId]) => ({ id, applicationId })));
  if (raced.size === 0) return admitted;
  return admitted.filter((item) => {
    if (!raced.has(item.device.id)) return true;
    const bound = raced.get(item.device.id) ?? null;
    if (bound !== null && item.ev.applicationId === bound) return true;
    refuse({ ...item, device: { ...item.device, applicationId: bound } }, 'bound_elsewhere');
    return false;
  });
}
