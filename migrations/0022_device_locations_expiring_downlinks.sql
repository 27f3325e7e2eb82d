-- Issue 18 §4 and §5: where ChirpStack says a device is, and display downlinks that expire
-- in ChirpStack's queue and may go through its gRPC API.

-- 1. Each device's latest resolved location, from ChirpStack's `location` events
-- (integration.proto LocationEvent: common.Location {latitude, longitude, altitude, source,
-- accuracy}, api/proto/common/common.proto), written only by src/storage/device-locations.ts.
--
-- A table of its own rather than columns on devices: devices.ts owns every devices column and
-- the uplink hot path updates that row (kept HOT by 0002's fillfactor); a location has its own
-- writer, its own pace (a GPS fix or a geolocation resolver's answer, not every uplink) and its
-- own time, and the table can grow a history later without touching devices. One row per
-- device: the API shows where a device is now.
--
-- `source` is the LocationSource name as ChirpStack's JSON spells it (GPS, CONFIG,
-- GEO_RESOLVER_TDOA, ...); a format check rather than today's list, so a source a later
-- ChirpStack adds is kept instead of failing ingest's batch. Altitude and accuracy are metres.
CREATE TABLE device_locations (
  device_id   uuid PRIMARY KEY,
  tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  latitude    double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
  longitude   double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
  altitude    double precision,
  source      text NOT NULL CHECK (source ~ '^[A-Z][A-Z0-9_]{0,63}$'),
  accuracy    double precision CHECK (accuracy >= 0),
  -- When the location was resolved (the event's time); a write only ever moves it forward.
  at          timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE
);

ALTER TABLE device_locations ENABLE ROW LEVEL SECURITY;
ALTER TABLE device_locations FORCE ROW LEVEL SECURITY;
-- Ingest writes under the device's tenant (its batch sets it); the API reads its own tenant's.
CREATE POLICY tenant_isolation ON device_locations USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());
-- 0001's default privileges gave both roles everything: the API only reads, ingest upserts.
REVOKE ALL ON device_locations FROM baygate_app, baygate_ingest;
GRANT SELECT ON device_locations TO baygate_app;
GRANT SELECT, INSERT, UPDATE ON device_locations TO baygate_ingest;

-- 2. Display downlinks that expire and replace (ingest/displays.ts).
-- expires_at: the `expiresAt` the downlink was sent with (now + DISPLAY_ACK_TIMEOUT_SECONDS):
-- ChirpStack ≥ 4.14 drops a queue item not sent by then and reports it as a log event with
-- code EXPIRED and context.queue_item_id (chirpstack/src/downlink/data.rs, "Handle expired
-- payload"), which 0008's trigger already applies by that id. So an unanswered attempt no
-- longer lingers in ChirpStack's queue beside its retry, and a Class A sign never steps
-- through stale states at its next uplinks.
-- sent_via: how the last attempt reached ChirpStack: its MQTT command topic, or its gRPC
-- DeviceService.Enqueue with flush_queue (when CHIRPSTACK_API_URL is configured), whose
-- returned id is the queue_item_id.
ALTER TABLE display_downlinks
  ADD COLUMN expires_at timestamptz,
  ADD COLUMN sent_via text CHECK (sent_via IN ('mqtt', 'chirpstack_api'));
