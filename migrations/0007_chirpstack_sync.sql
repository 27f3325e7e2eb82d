-- ChirpStack device sync: which ChirpStack applications belong to which tenant, the devices
-- ChirpStack lists in them that no one registered yet, and the tenant's view of every
-- unregistered device it could claim (ingest/jobs/sync-chirpstack.ts, api/routes/unclaimed-devices.ts).

-- A ChirpStack application (v4: a UUID) belongs to one tenant: the primary key is the
-- application alone, and unique constraints are checked across tenants whatever RLS hides,
-- so a second tenant mapping it is a conflict.
CREATE TABLE tenant_chirpstack_applications (
  application_id  uuid PRIMARY KEY,
  tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, application_id)
);

-- Devices ChirpStack lists in a tenant's applications that are not registered in baygate,
-- as of the last sync. Unmapping an application drops its rows (the foreign key cascades);
-- registering a DevEUI drops its row (chirpstack_devices_claim below).
CREATE TABLE chirpstack_devices (
  tenant_id            uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  -- Stored uppercase, like devices.dev_eui; ChirpStack's API answers in lowercase hex.
  dev_eui              text NOT NULL CHECK (dev_eui ~ '^[0-9A-F]{16}$'),
  application_id       uuid NOT NULL,
  name                 text,
  description          text,
  device_profile_name  text,
  last_seen_at         timestamptz,
  -- Percent; NULL when ChirpStack has none (its API says -1).
  battery              real CHECK (battery BETWEEN 0 AND 100),
  synced_at            timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, dev_eui),
  FOREIGN KEY (tenant_id, application_id) REFERENCES tenant_chirpstack_applications (tenant_id, application_id) ON DELETE CASCADE
);

ALTER TABLE tenant_chirpstack_applications ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_chirpstack_applications FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_chirpstack_applications USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());
-- The sync job finds every tenant's applications in one read, then writes under each tenant.
CREATE POLICY ingest_read ON tenant_chirpstack_applications FOR SELECT TO baygate_ingest USING (true);

ALTER TABLE chirpstack_devices ENABLE ROW LEVEL SECURITY;
ALTER TABLE chirpstack_devices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON chirpstack_devices USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());

GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_chirpstack_applications, chirpstack_devices TO baygate_app, baygate_ingest;

-- Registering a DevEUI takes it off the tenant's list of ChirpStack devices in the same
-- transaction, whichever code path inserts the device. The trigger runs as the inserting
-- role under the same tenant setting, so RLS lets it reach exactly the tenant's own row.
CREATE FUNCTION chirpstack_devices_claim() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM chirpstack_devices WHERE tenant_id = NEW.tenant_id AND dev_eui = NEW.dev_eui;
  RETURN NULL;
END $$;
CREATE TRIGGER devices_claim_chirpstack AFTER INSERT ON devices
  FOR EACH ROW EXECUTE FUNCTION chirpstack_devices_claim();

-- Uplinks ingest heard from DevEUIs no one registered (unclaimed_devices, 0002) are not
-- tenant data: the API role has no privilege on that table. A tenant sees the rows whose
-- application it mapped, and only those: the function takes no argument and reads the
-- tenant from the transaction's setting (baygate_tenant(), set by withTx), so no caller can
-- ask for another tenant's applications. ChirpStack publishes application ids as lowercase
-- UUIDs in its event topics and deviceInfo; lower() also takes any other spelling.
CREATE FUNCTION baygate_unclaimed_uplinks()
  RETURNS TABLE (dev_eui text, application_id uuid, first_seen_at timestamptz, last_seen_at timestamptz,
                 uplink_count bigint, last_rssi integer, last_snr real, last_gateway_eui text)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
  AS $$
    SELECT u.dev_eui, a.application_id, u.first_seen_at, u.last_seen_at, u.uplink_count,
           u.last_rssi, u.last_snr, u.last_gateway_eui
      FROM unclaimed_devices u
      JOIN tenant_chirpstack_applications a ON a.application_id::text = lower(u.application_id)
     WHERE a.tenant_id = baygate_tenant()
  $$;
REVOKE ALL ON FUNCTION baygate_unclaimed_uplinks() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION baygate_unclaimed_uplinks() TO baygate_app;
