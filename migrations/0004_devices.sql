-- Devices and gateways: health. Gateway events (one row per gateway outage), written by the
-- device_health job (ingest/jobs/device-health.ts).
--
-- A gateway outage silences every sensor behind it at once. Rather than one comms_lost
-- space event per sensor (a storm that reads like a mass sensor failure), the job records
-- one gateway_offline row per outage here and leaves those spaces' state alone; the
-- sensors are still marked offline on the device. The outage is identified by the
-- gateway's last_seen_at when it went silent (`since`), so every later run of the job
-- finds the row already there and adds nothing.
--
-- No index on devices.last_seen_at for the job's scan: every uplink updates that column,
-- and an index on it would end the HOT updates 0002 keeps room for.

CREATE TABLE gateway_events (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  gateway_id    uuid NOT NULL REFERENCES gateways (id) ON DELETE CASCADE,
  kind          text NOT NULL CHECK (kind IN ('gateway_offline')),
  -- The gateway's last_seen_at when the outage was detected.
  since         timestamptz NOT NULL,
  -- Sensors found silent behind it when the event was recorded.
  device_count  integer NOT NULL DEFAULT 0,
  at            timestamptz NOT NULL,
  UNIQUE (gateway_id, kind, since)
);
CREATE INDEX gateway_events_tenant_idx ON gateway_events (tenant_id, at DESC);

ALTER TABLE gateway_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE gateway_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON gateway_events USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());
CREATE POLICY ingest_read ON gateway_events FOR SELECT TO baygate_ingest USING (true);

GRANT SELECT, INSERT, UPDATE, DELETE ON gateway_events TO baygate_app, baygate_ingest;
