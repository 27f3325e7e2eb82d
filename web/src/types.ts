/** The API's resources as the console reads them (fields it uses only). */

export const SPACE_STATES = ['free', 'occupied', 'reserved', 'maintenance', 'unknown'] as const;
export type SpaceState = (typeof SPACE_STATES)[number];

export interface Site {
  id: string;
  name: string;
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
}

export interface Device {
  id: string;
  dev_eui: string;
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
