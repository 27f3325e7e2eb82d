/**
 * Decides the time an event is applied at. ChirpStack stamps an uplink's `time` from the
 * first gateway's GPS time (`timeSinceGpsEpoch`) if any, else a gateway clock within
 * `gateway.rx_timestamp_max_drift` of its own, else its own clock
 * (chirpstack/src/uplink/helpers.rs `get_rx_timestamp`): a GPS receiver that lost its fix, a
 * misconfigured drift or anyone able to publish can claim any instant. Pure; ingest passes
 * its receive time.
 */

/**
 * Earlier than any real frame: the LoRaWAN 1.0 specification was published by the LoRa
 * Alliance in January 2015, and ChirpStack (then LoRa Server) followed in 2016. A GPS-less
 * gateway after a power cut reports 1970 or 1980 (GPS epoch); those fall here too.
 */
export const EARLIEST_PLAUSIBLE_FRAME_MS = Date.UTC(2015, 0, 1);

export type ClockCorrection = 'future' | 'too_old' | 'invalid';

export interface FrameTime {
  /** The time to apply the event at. */
  at: Date;
  /** Why the event's own time was replaced by the receive time; null when it was used. */
  corrected: ClockCorrection | null;
}

/**
 * The event's own time, unless it lies more than `maxSkewMs` ahead of `receivedAt`, before
 * EARLIEST_PLAUSIBLE_FRAME_MS or is not a time at all: then the receive time. A time in the
 * past is kept however late it arrives (a broker backlog drained after an outage is genuine).
 */
export function frameTime(eventTime: Date, receivedAt: Date, maxSkewMs: number): FrameTime {
  const t = eventTime.getTime();
  if (Number.isNaN(t)) return { at: receivedAt, corrected: 'invalid' };
  if (t - receivedAt.getTime() > maxSkewMs) return { at: receivedAt, corrected: 'future' };
  if (t < EARLIEST_PLAUSIBLE_FRAME_MS) return { at: receivedAt, corrected: 'too_old' };
  return { at: eventTime, corrected: null };
}
