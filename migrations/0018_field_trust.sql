-- The field trust boundary (issue 17): a device is bound to its ChirpStack application, and
-- no stored time lies in the future.
--
-- FORCE ROW LEVEL SECURITY binds the tables' owner too, so a data fix run by an owner that is
-- not a superuser would change nothing (no tenant is set here): each table's fixes lift FORCE
-- and put it back, inside this migration's transaction, as 0020 does.

-- devices.application_id becomes the device's binding: the one application whose events
-- count for it (src/domain/application-binding.ts). ChirpStack application ids are UUIDs;
-- ingest used to store whatever a topic said, so keep the canonical lowercase form of a UUID
-- and drop anything else (it never named a ChirpStack application).
ALTER TABLE devices NO FORCE ROW LEVEL SECURITY;
UPDATE devices
   SET application_id = CASE WHEN lower(application_id) ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                             THEN lower(application_id) END
 WHERE application_id IS NOT NULL AND application_id !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
ALTER TABLE devices
  ADD CONSTRAINT devices_application_id_uuid
      CHECK (application_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
  -- How the binding came about: the first event accepted for the device (trust on first use),
  -- the sync job (ChirpStack says so), a person (device_events kind application_binding records
  -- who), or this migration (the application the device's uplinks came through until now).
  ADD COLUMN application_bound_by text CHECK (application_bound_by IN ('first_event', 'sync', 'user', 'migration')),
  ADD COLUMN application_bound_at timestamptz;
UPDATE devices SET application_bound_by = 'migration', application_bound_at = now() WHERE application_id IS NOT NULL;
ALTER TABLE devices FORCE ROW LEVEL SECURITY;
-- A device registered from unclaimed_devices takes the application it was heard under as its
-- binding (src/storage/devices.ts insertDevice): keep only UUIDs there too.
UPDATE unclaimed_devices
   SET application_id = CASE WHEN lower(application_id) ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                             THEN lower(application_id) END
 WHERE application_id IS NOT NULL AND application_id !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

-- Which time a reading was applied at: the event's own (`event`) or baygate's receive time
-- (`received`, when the event's was too far ahead or implausibly old; `event_time` keeps
-- what the event claimed). A constant default adds the column without rewriting the table.
ALTER TABLE sensor_readings
  ADD COLUMN time_source text NOT NULL DEFAULT 'event' CHECK (time_source IN ('event', 'received')),
  ADD COLUMN event_time timestamptz;

-- Times a broken gateway clock (or a forged event) stored before ingest corrected them: one
-- such value froze a space's stale-frame guard and kept its device from ever going offline.
-- The receive time is unknown now; the migration's clock is the closest honest value.
ALTER TABLE devices NO FORCE ROW LEVEL SECURITY;
UPDATE devices SET last_seen_at = least(last_seen_at, now()), last_frame_at = least(last_frame_at, now()),
                   last_join_at = least(last_join_at, now())
 WHERE last_seen_at > now() OR last_frame_at > now() OR last_join_at > now();
ALTER TABLE devices FORCE ROW LEVEL SECURITY;
ALTER TABLE gateways NO FORCE ROW LEVEL SECURITY;
UPDATE gateways SET last_seen_at = now() WHERE last_seen_at > now();
ALTER TABLE gateways FORCE ROW LEVEL SECURITY;
UPDATE unclaimed_devices SET last_seen_at = least(last_seen_at, now()), first_seen_at = least(first_seen_at, now())
 WHERE last_seen_at > now() OR first_seen_at > now();
ALTER TABLE spaces NO FORCE ROW LEVEL SECURITY;
UPDATE spaces SET state_changed_at = now() WHERE state_changed_at > now();
ALTER TABLE spaces FORCE ROW LEVEL SECURITY;
-- Readings stamped in the future would also outlive every retention run.
ALTER TABLE sensor_readings NO FORCE ROW LEVEL SECURITY;
UPDATE sensor_readings SET event_time = received_at, received_at = now(), time_source = 'received'
 WHERE received_at > now();
ALTER TABLE sensor_readings FORCE ROW LEVEL SECURITY;

-- Whether another tenant mapped this application: a person may bind a device only to an
-- application of their own tenant, or to one nobody mapped. SECURITY DEFINER because the API
-- role sees only its own tenant's mappings; it answers one boolean and takes the caller's
-- tenant from the transaction, never from an argument. search_path with pg_temp last, as
-- PostgreSQL's CREATE FUNCTION page advises ("Writing SECURITY DEFINER Functions Safely").
-- (Under FORCE ROW LEVEL SECURITY a non-superuser owner reads other tenants' mappings through
-- the owner_read policy of migration 0019.)
CREATE FUNCTION baygate_application_mapped_elsewhere(p_application_id uuid) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
    SELECT EXISTS (SELECT 1 FROM tenant_chirpstack_applications a
                    WHERE a.application_id = p_application_id AND a.tenant_id IS DISTINCT FROM baygate_tenant())
  $$;
REVOKE ALL ON FUNCTION baygate_application_mapped_elsewhere(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION baygate_application_mapped_elsewhere(uuid) TO baygate_app;
