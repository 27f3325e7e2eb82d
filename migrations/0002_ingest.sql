-- Ingest: devices, gateways, sensor readings, space events, unclaimed devices, dead letters.

-- Spaces change state on every sensor transition; leave room for HOT updates (see devices).
ALTER TABLE spaces SET (fillfactor = 70);

CREATE TABLE devices (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id          uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  -- Stored uppercase; ChirpStack sends lowercase hex and ingest normalises it.
  dev_eui            text NOT NULL CHECK (dev_eui ~ '^[0-9A-F]{16}$'),
  name               text,
  device_type        text NOT NULL CHECK (device_type IN ('sensor', 'display')),
  manufacturer       text,
  model              text,
  decoder            text,
  enabled            boolean NOT NULL DEFAULT true,
  config             jsonb NOT NULL DEFAULT '{}',
  status             text NOT NULL DEFAULT 'unassigned'
                     CHECK (status IN ('unassigned', 'assigned', 'offline', 'maintenance')),
  lifecycle_state    text NOT NULL DEFAULT 'provisioned'
                     CHECK (lifecycle_state IN ('provisioned', 'commissioned', 'operational', 'decommissioned')),
  assigned_space_id  uuid,
  assigned_at        timestamptz,
  -- Health, from uplinks and status events.
  application_id     text,
  dev_addr           text,
  last_seen_at       timestamptz,
  battery            real CHECK (battery BETWEEN 0 AND 100),
  battery_volts      real,
  low_battery        boolean NOT NULL DEFAULT false,
  rssi               integer,
  snr                real,
  margin             integer,
  external_power     boolean,
  last_gateway_eui   text,
  uplink_count       bigint NOT NULL DEFAULT 0,
  last_join_at       timestamptz,
  -- The last frame applied to the space state machine (see src/domain/state-machine.ts isNewerFrame).
  last_f_cnt         bigint,
  last_frame_at      timestamptz,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  deleted_at         timestamptz,
  FOREIGN KEY (tenant_id, assigned_space_id) REFERENCES spaces (tenant_id, id),
  UNIQUE (tenant_id, id)
) WITH (fillfactor = 70);
-- Every uplink updates its device's health: free space on each page lets those updates be
-- HOT (heap-only, no index writes), as none of the updated columns is indexed.
-- A DevEUI belongs to one tenant at a time; unique constraints are checked across tenants
-- whatever RLS hides, so a second registration anywhere is a conflict.
CREATE UNIQUE INDEX devices_dev_eui_key ON devices (dev_eui) WHERE deleted_at IS NULL;
-- A space has at most one sensor and one display.
CREATE UNIQUE INDEX devices_one_per_space ON devices (assigned_space_id, device_type)
  WHERE assigned_space_id IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX devices_tenant_idx ON devices (tenant_id, created_at) WHERE deleted_at IS NULL;

CREATE TABLE device_assignments (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  device_id      uuid NOT NULL,
  from_space_id  uuid,
  to_space_id    uuid,
  reason         text,
  by_user_id     uuid,
  at             timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX device_assignments_device_idx ON device_assignments (device_id, at);

-- Gateways are per tenant: one physical gateway that carries several tenants' uplinks
-- appears to each of them, and none sees the others' view of it.
CREATE TABLE gateways (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  gateway_eui   text NOT NULL CHECK (gateway_eui ~ '^[0-9A-F]{16}$'),
  name          text,
  lat           double precision,
  lon           double precision,
  metadata      jsonb NOT NULL DEFAULT '{}',
  last_seen_at  timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  deleted_at    timestamptz,
  UNIQUE (tenant_id, gateway_eui)
);

CREATE TABLE sensor_readings (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  device_id         uuid NOT NULL,
  space_id          uuid,
  dev_eui           text NOT NULL,
  deduplication_id  uuid NOT NULL,
  f_cnt             bigint NOT NULL,
  f_port            integer NOT NULL,
  received_at       timestamptz NOT NULL,
  raw               bytea NOT NULL,
  kind              text NOT NULL,
  occupied          boolean,
  decoded           jsonb,
  rssi              integer,
  snr               real,
  gateway_eui       text,
  stored_at         timestamptz NOT NULL DEFAULT now()
);
-- ChirpStack mints one deduplicationId per uplink: a redelivery is a conflict here, and
-- is ignored (the reference notes §2.3).
CREATE UNIQUE INDEX sensor_readings_dedup_key ON sensor_readings (deduplication_id);
-- A device's latest readings (API), and the secondary duplicate guard for devices with
-- skip-fCnt-check, which looks for the same frame within a minute (src/storage/readings.ts).
CREATE INDEX sensor_readings_device_time_idx ON sensor_readings (device_id, received_at DESC);
-- Retention deletes by age: rows arrive in time order, so a BRIN index is enough and
-- costs the hot insert path almost nothing.
CREATE INDEX sensor_readings_received_brin ON sensor_readings USING brin (received_at);

CREATE TABLE space_events (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  space_id        uuid NOT NULL,
  site_id         uuid NOT NULL,
  from_state      text NOT NULL,
  to_state        text NOT NULL,
  cause           text NOT NULL,
  device_id       uuid,
  reservation_id  uuid,
  at              timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, space_id) REFERENCES spaces (tenant_id, id)
);
CREATE INDEX space_events_tenant_idx ON space_events (tenant_id, id);
CREATE INDEX space_events_space_idx ON space_events (space_id, at);

-- What non-uplink ChirpStack events (status, join, ack, txack, log) said about a device.
CREATE TABLE device_events (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  device_id    uuid NOT NULL,
  kind         text NOT NULL,
  code         text,
  level        text,
  description  text,
  queue_item_id uuid,
  data         jsonb NOT NULL DEFAULT '{}',
  at           timestamptz NOT NULL,
  dedup_key    text,
  FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX device_events_dedup_key ON device_events (dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX device_events_device_idx ON device_events (device_id, at DESC);

-- Uplinks from DevEUIs no tenant has registered. Not tenant data: no tenant sees this
-- table; registering the DevEUI claims its row (baygate_claim_unclaimed below).
CREATE TABLE unclaimed_devices (
  dev_eui           text PRIMARY KEY CHECK (dev_eui ~ '^[0-9A-F]{16}$'),
  application_id    text,
  first_seen_at     timestamptz NOT NULL,
  last_seen_at      timestamptz NOT NULL,
  uplink_count      bigint NOT NULL DEFAULT 0,
  last_rssi         integer,
  last_snr          real,
  last_gateway_eui  text,
  last_f_port       integer,
  last_data         bytea
);

CREATE TABLE dead_letters (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- NULL when the message could not be tied to a tenant (bad JSON, unknown topic).
  tenant_id    uuid REFERENCES tenants (id) ON DELETE CASCADE,
  topic        text NOT NULL,
  payload      bytea NOT NULL,
  reason       text NOT NULL,
  error        text NOT NULL,
  decoder      text,
  dev_eui      text,
  received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_tenant_idx ON dead_letters (tenant_id, received_at);

-- RLS, as in 0001.
ALTER TABLE devices ENABLE ROW LEVEL SECURITY;
ALTER TABLE devices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON devices USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());
CREATE POLICY ingest_read ON devices FOR SELECT TO baygate_ingest USING (true);

ALTER TABLE device_assignments ENABLE ROW LEVEL SECURITY;
ALTER TABLE device_assignments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON device_assignments USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());

ALTER TABLE gateways ENABLE ROW LEVEL SECURITY;
ALTER TABLE gateways FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON gateways USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());
CREATE POLICY ingest_read ON gateways FOR SELECT TO baygate_ingest USING (true);

ALTER TABLE sensor_readings ENABLE ROW LEVEL SECURITY;
ALTER TABLE sensor_readings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sensor_readings USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());
CREATE POLICY ingest_read ON sensor_readings FOR SELECT TO baygate_ingest USING (true);

ALTER TABLE space_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE space_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON space_events USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());
CREATE POLICY ingest_read ON space_events FOR SELECT TO baygate_ingest USING (true);

ALTER TABLE device_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE device_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON device_events USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());

ALTER TABLE dead_letters ENABLE ROW LEVEL SECURITY;
ALTER TABLE dead_letters FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON dead_letters USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());
-- Ingest may record a message it could not tie to any tenant.
CREATE POLICY ingest_untenanted ON dead_letters FOR INSERT TO baygate_ingest WITH CHECK (tenant_id IS NULL);

-- unclaimed_devices has no RLS: the API role has no privilege on it at all.
REVOKE ALL ON unclaimed_devices FROM baygate_app;

-- Registering a DevEUI takes over what ingest saw of it while unclaimed, in one step.
CREATE FUNCTION baygate_claim_unclaimed(p_dev_eui text)
  RETURNS SETOF unclaimed_devices
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public
  AS $$ DELETE FROM unclaimed_devices WHERE dev_eui = upper(p_dev_eui) RETURNING * $$;
REVOKE ALL ON FUNCTION baygate_claim_unclaimed(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION baygate_claim_unclaimed(text) TO baygate_app;
