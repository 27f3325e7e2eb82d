-- Claims with proof (issue 17 §3): a tenant cannot register a DevEUI that ingest heard, or
-- ChirpStack lists, under another tenant's mapped application; cannot map an application
-- whose devices another tenant registered and bound; and, when baygate talks to ChirpStack's
-- API, proves an application is its own with its own ChirpStack API key, kept here sealed.
--
-- The two checks read what the API role may not (unclaimed_devices, other tenants' mappings
-- and devices), so they are SECURITY DEFINER functions that answer one boolean and read the
-- caller's tenant from the transaction (baygate_tenant()), never from an argument: no caller
-- can ask on another tenant's behalf, and nothing about the other tenant comes back.
-- search_path is pinned with pg_temp last, as PostgreSQL's CREATE FUNCTION page ("Writing
-- SECURITY DEFINER Functions Safely") says, so a caller's temporary objects cannot stand in.

-- FORCE ROW LEVEL SECURITY binds the table owner too (ALTER TABLE, "FORCE ROW LEVEL
-- SECURITY"); the functions below run as the migrating owner, which is a superuser in the
-- embedded and test set-ups but need not be. Without these the checks would see only the
-- caller's own rows and always answer false. The owner could lift FORCE on its own tables
-- anyway, so this grants it nothing new; the runtime roles are not members of the owner.
CREATE POLICY owner_read ON tenant_chirpstack_applications FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY owner_read ON chirpstack_devices FOR SELECT TO CURRENT_USER USING (true);
CREATE POLICY owner_read ON devices FOR SELECT TO CURRENT_USER USING (true);

-- True when the DevEUI is known to belong to an application another tenant mapped: ingest
-- heard it there (unclaimed_devices), or ChirpStack listed it there at the last sync
-- (chirpstack_devices). Heard under the caller's own application, or under one nobody
-- mapped, is false: first registration then binds it (issue 17 §2).
-- application_id columns are compared as lowercase text: ChirpStack prints UUIDs in
-- lowercase, unclaimed_devices keeps the topic's text, and devices.application_id may be
-- text or uuid depending on migration 0018; ::text works for both.
CREATE FUNCTION baygate_device_claimed_elsewhere(p_dev_eui text) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
    SELECT EXISTS (
             SELECT 1 FROM unclaimed_devices u
               JOIN tenant_chirpstack_applications a ON a.application_id::text = lower(u.application_id::text)
              WHERE u.dev_eui = upper(p_dev_eui) AND a.tenant_id IS DISTINCT FROM baygate_tenant())
        OR EXISTS (
             SELECT 1 FROM chirpstack_devices c
              WHERE c.dev_eui = upper(p_dev_eui) AND c.tenant_id IS DISTINCT FROM baygate_tenant())
  $$;
REVOKE ALL ON FUNCTION baygate_device_claimed_elsewhere(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION baygate_device_claimed_elsewhere(text) TO baygate_app;

-- True when another tenant has a live device bound to one of the applications.
CREATE FUNCTION baygate_applications_bound_elsewhere(p_application_ids uuid[]) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$
    SELECT EXISTS (
      SELECT 1 FROM devices d
       WHERE d.deleted_at IS NULL
         AND d.application_id IS NOT NULL
         AND lower(d.application_id::text) IN (SELECT x::text FROM unnest(p_application_ids) x)
         AND d.tenant_id IS DISTINCT FROM baygate_tenant())
  $$;
REVOKE ALL ON FUNCTION baygate_applications_bound_elsewhere(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION baygate_applications_bound_elsewhere(uuid[]) TO baygate_app;

-- A tenant's own ChirpStack API key (made in ChirpStack's UI under the tenant), checked
-- against every mapped application before the mapping was stored, and then the key the
-- sync job lists that tenant's devices with. Sealed by src/secret-box.ts (AES-256-GCM under
-- a key derived from the server secret, bound to the tenant id): the job needs the key
-- itself to send it, so a hash would not do, and a database dump alone does not reveal it.
CREATE TABLE tenant_chirpstack_api_keys (
  tenant_id   uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  sealed_key  text NOT NULL CHECK (length(sealed_key) BETWEEN 16 AND 8192),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenant_chirpstack_api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_chirpstack_api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_chirpstack_api_keys USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());
-- The sync job reads every tenant's key in one go, as it reads every tenant's mapping.
CREATE POLICY ingest_read ON tenant_chirpstack_api_keys FOR SELECT TO baygate_ingest USING (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_chirpstack_api_keys TO baygate_app;
-- Ingest only reads them (the default privileges of 0001 gave it more).
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON tenant_chirpstack_api_keys FROM baygate_ingest;
GRANT SELECT ON tenant_chirpstack_api_keys TO baygate_ingest;
