/**
 * Owns the SQL for device_locations (migration 0022): each device's latest resolved
 * location, as ChirpStack reports it in a `location` event (a GPS fix, the device profile's
 * configured position, or a geolocation resolver's answer).
 *
 * ChirpStack's LocationEvent carries a common.Location {latitude, longitude, altitude,
 * source, accuracy} (api/proto/common/common.proto; api/proto/integration/integration.proto
 * LocationEvent). `source` is the LocationSource enum by name, as its proto3 JSON spells it.
 */
import type { Queryable } from '../db/pool.js';

/**
 * common.LocationSource by number, as the protobuf encoding sends it (api/proto/common/common.proto);
 * the JSON encoding sends the name. A number not listed here (a later ChirpStack) is stored as
 * UNKNOWN by whoever reads the event.
 */
export const LOCATION_SOURCES = [
  'UNKNOWN',
  'GPS',
  'CONFIG',
  'GEO_RESOLVER_TDOA',
  'GEO_RESOLVER_RSSI',
  'GEO_RESOLVER_GNSS',
  'GEO_RESOLVER_WIFI',
] as const;

export interface DeviceLocationWrite {
  deviceId: string;
  /** Degrees, WGS84. */
  latitude: number;
  longitude: number;
  /** Metres; null when the event had none. */
  altitude: number | null;
  /** A LocationSource name ('GPS', 'GEO_RESOLVER_TDOA', ...). */
  source: string;
  /** Metres; null when the event had none. */
  accuracy: number | null;
  /** When the location was resolved: the event's time. */
  at: Date;
}

/**
 * Stores the newest location of each device, in one statement for the batch. Only moves
 * forward in time: a row older than (or as old as) the stored one changes nothing, so a
 * redelivered or late event never puts a device back where it was.
 *
 * Runs under the devices' tenant (ingest's batch, src/db withTx): the row's tenant is the
 * device's own, and tenant_isolation's WITH CHECK refuses any other. Several rows for one
 * device in a batch are reduced to the latest first (DISTINCT ON), since ON CONFLICT DO
 * UPDATE may not touch a row twice in one statement
 * (https://www.postgresql.org/docs/current/sql-insert.html#SQL-ON-CONFLICT).
 * Coordinates out of range (or NaN) are dropped here rather than failing the whole batch on
 * the table's CHECK: an event that says nowhere is no location. A source that is no enum name
 * is stored as UNKNOWN; a name this file does not list (a later ChirpStack) is kept. An
 * accuracy that is no distance (negative, NaN, infinite) is stored as none.
 */
export async function writeDeviceLocations(c: Queryable, rows: DeviceLocationWrite[]): Promise<void> {
  if (rows.length === 0) return;
  await c.query(
    `INSERT INTO device_locations (tenant_id, device_id, latitude, longitude, altitude, source, accuracy, at)
     SELECT DISTINCT ON (x.device_id) d.tenant_id, x.device_id, x.latitude, x.longitude, x.altitude,
            CASE WHEN x.source ~ '^[A-Z][A-Z0-9_]{0,63}$' THEN x.source ELSE 'UNKNOWN' END,
            -- PostgreSQL orders NaN above Infinity: this keeps finite non-negative values only.
            CASE WHEN x.accuracy >= 0 AND x.accuracy < 'Infinity' THEN x.accuracy END, x.at
       FROM unnest($1::uuid[], $2::float8[], $3::float8[], $4::float8[], $5::text[], $6::float8[], $7::timestamptz[])
              AS x(device_id, latitude, longitude, altitude, source, accuracy, at)
       JOIN devices d ON d.id = x.device_id
      WHERE x.latitude BETWEEN -90 AND 90 AND x.longitude BETWEEN -180 AND 180
      ORDER BY x.device_id, x.at DESC
     ON CONFLICT (device_id) DO UPDATE
        SET latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, altitude = EXCLUDED.altitude,
            source = EXCLUDED.source, accuracy = EXCLUDED.accuracy, at = EXCLUDED.at, updated_at = now()
      WHERE device_locations.at < EXCLUDED.at`,
    [
      rows.map((r) => r.deviceId),
      rows.map((r) => r.latitude),
      rows.map((r) => r.longitude),
      rows.map((r) => r.altitude),
      rows.map((r) => r.source),
      rows.map((r) => r.accuracy),
      rows.map((r) => r.at),
    ],
  );
}
