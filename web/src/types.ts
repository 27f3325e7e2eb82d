/** The API's resources as the console reads them (fields it uses only). */

export const SPACE_STATES = ['free', 'occupied', 'reserved', 'maintenance', 'unknown'] as const;
export type SpaceState = (typeof SPACE_STATES)[number];

export interface Site {
  id: string;
  name: string;
  timezone: string;
  location: { lat: number; lon: number } | null;
  /** `map_tiles_url` / `map_tiles_attribution` here give the live map its tiles (web/src/map.ts). */
  config: Record<string, unknown>;
}

export interface Space {
  id: string;
  site_id: string;
  code: string;
  name: string | null;
  current_state: SpaceState;
  sensor_state: string;
  state_changed_at: string;
  sensor_device_id: string | null;
  enabled: boolean;
  /** `lat` and `lon` here (WGS 84 degrees) put the space on the live map. */
  config: Record<string, unknown>;
}

export interface Device {
  id: string;
  dev_eui: string;
  name: string | null;
  device_type: 'sensor' | 'display';
  decoder: string | null;
  status: string;
  lifecycle_state: string;
  assigned_space_id: string | null;
  last_seen_at: string | null;
  battery: number | null;
  battery_volts: number | null;
  low_battery: boolean;
  rssi: number | null;
  snr: number | null;
  uplink_count: number;
  last_gateway_eui: string | null;
  /** Where ChirpStack last resolved the device to be (its `location` events); null until then. */
  location: DeviceLocation | null;
}

export interface DeviceLocation {
  latitude: number;
  longitude: number;
  altitude: number | null;
  /** ChirpStack's LocationSource: GPS, CONFIG, GEO_RESOLVER_TDOA, ... */
  source: string;
  accuracy: number | null;
  at: string;
}

export interface Gateway {
  id: string;
  gateway_eui: string;
  name: string | null;
  status: 'online' | 'offline';
  last_seen_at: string | null;
}

/** One row of GET /api/v6/devices/unclaimed: heard or known to ChirpStack, not registered here. */
export interface UnclaimedDevice {
  dev_eui: string;
  application_id: string | null;
  source: 'uplink' | 'chirpstack';
  name: string | null;
  device_profile_name: string | null;
  first_seen_at: string | null;
  last_seen_at: string | null;
  uplink_count: number | null;
  last_rssi: number | null;
  last_snr: number | null;
  last_gateway_eui: string | null;
  battery: number | null;
}

/** One bucket of GET /api/v6/analytics/occupancy (api/routes/analytics.ts bucketSchema). */
export interface OccupancyBucket {
  start: string;
  end: string;
  date: string;
  hour: number | null;
  spaces: number;
  total_sessions: number;
  turnover: number | null;
  average_dwell_time: number | null;
  /** −1: most spaces were unknown for most of the bucket (Curb Data Specification). */
  occupancy_percent: number | null;
  unknown_percent: number | null;
}

export interface Reservation {
  id: string;
  space_id: string;
  user_name: string | null;
  user_email: string | null;
  start_time: string;
  end_time: string;
  status: string;
}

/** One message of /api/v6/events (api/routes/events.ts liveEventSchema). */
export interface LiveEvent {
  id: number;
  space_id: string;
  code: string;
  site_id: string;
  from: string;
  to: string;
  cause: string;
  at: string;
  device_id: string | null;
  reservation_id: string | null;
}

/** One row of GET /api/v6/dead-letters: input ingest kept because it could not process it. */
export interface DeadLetter {
  id: string;
  topic: string;
  reason: string;
  error: string;
  decoder: string | null;
  dev_eui: string | null;
  payload_bytes: number;
  received_at: string;
}
