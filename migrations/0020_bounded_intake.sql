-- Nothing from outside grows without bound or poisons a shared path (issue 17 §5).
--
-- Tables here have FORCE ROW LEVEL SECURITY, which binds their owner too: an owner that is
-- not a superuser would see no row of them in a migration (no tenant is set), and an UPDATE
-- would silently change nothing. Each data fix lifts FORCE for its statement and puts it
-- back, in this migration's one transaction, so no other session ever sees it lifted
-- (https://www.postgresql.org/docs/current/ddl-rowsecurity.html).

-- 1. A display's config.application_id goes into its command topic: the API takes only a
-- lowercase UUID now (api/routes/devices.ts). Rows written before keep the lowercase form of
-- a UUID and lose anything else: a `#`, `+` or `/` never named a ChirpStack application, and a
-- value the API refuses would make every later PUT of the device's own config fail. Such a
-- display falls back to its uplinks' application, or waits for one, as one without
-- config.application_id does.
ALTER TABLE devices NO FORCE ROW LEVEL SECURITY;
UPDATE devices
   SET config = CASE WHEN jsonb_typeof(config -> 'application_id') = 'string'
                      AND lower(config ->> 'application_id') ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                     THEN jsonb_set(config, '{application_id}', to_jsonb(lower(config ->> 'application_id')))
                     ELSE config - 'application_id' END,
       updated_at = now()
 WHERE config ? 'application_id'
   AND (jsonb_typeof(config -> 'application_id') <> 'string'
        OR (config ->> 'application_id') !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$');
ALTER TABLE devices FORCE ROW LEVEL SECURITY;

-- 2. Dead letters keep the first DEAD_LETTER_PAYLOAD_MAX_BYTES (16 KiB, src/storage/dead-letters.ts,
-- the one writer of the table) of a payload, and its size as received. Rows kept before are
-- cut the same way. The cap itself lives in that one writer, not in a CHECK here, so changing
-- it needs no migration; the CHECK holds what is true whatever the cap.
ALTER TABLE dead_letters ADD COLUMN payload_size integer;
ALTER TABLE dead_letters NO FORCE ROW LEVEL SECURITY;
UPDATE dead_letters SET payload_size = octet_length(payload), payload = substring(payload FROM 1 FOR 16384);
ALTER TABLE dead_letters FORCE ROW LEVEL SECURITY;
ALTER TABLE dead_letters
  ALTER COLUMN payload_size SET NOT NULL,
  ADD CONSTRAINT dead_letters_payload_size_check CHECK (payload_size >= octet_length(payload));

-- The bookkeeping job deletes dead letters past DEAD_LETTER_RETENTION_DAYS tenant by tenant
-- (tenant_isolation), and those ingest tied to no tenant with no tenant set: the ingest role,
-- which already inserts those, may now read and delete them too. dead_letters_tenant_idx
-- (tenant_id, received_at) serves a tenant's pass. The untenanted pass gets its own partial
-- index: under these policies the role's row filter is `tenant_id = <setting> OR tenant_id IS
-- NULL`, and with it PostgreSQL 15 read every old untenanted row through a BitmapOr and sorted
-- them for each batch (62 ms a batch of 5,000 among 150,000; 14 ms with this index, whatever
-- the backlog). Untenanted junk is what an outsider can send most of.
CREATE POLICY ingest_untenanted_read ON dead_letters FOR SELECT TO baygate_ingest USING (tenant_id IS NULL);
CREATE POLICY ingest_untenanted_delete ON dead_letters FOR DELETE TO baygate_ingest USING (tenant_id IS NULL);
CREATE INDEX dead_letters_untenanted_idx ON dead_letters (received_at) WHERE tenant_id IS NULL;

-- 3. Unclaimed devices not heard for 30 days go (ingest/jobs/cleanup-bookkeeping.ts). The
-- ingest role has had DELETE on the table since 0002 (no RLS; only the API role was revoked);
-- this index finds the silent ones without reading every DevEUI ever heard.
CREATE INDEX unclaimed_devices_last_seen_idx ON unclaimed_devices (last_seen_at);

-- 4. Login attempts past every window go. The runtime roles keep no right on the table
-- (0006: it holds emails and client addresses); ingest's job calls this function, which can
-- delete only attempts older than one day, the longest LOGIN_WINDOW_SECONDS loadConfig
-- accepts (src/config.ts). So no window any API replica counts in loses a failure, and even
-- an injection in ingest cannot lift a lockout or read who tried to log in. Rows a login
-- holds are skipped (SKIP LOCKED), so the job never waits on one nor deadlocks with one;
-- the next run takes them. `= ANY (ARRAY(…))` rather than `IN (…)`: the batch's ids are then
-- found by primary key, where a semi-join chose to read the whole table for every batch.
CREATE INDEX login_attempts_attempted_at_idx ON login_attempts (attempted_at);

CREATE FUNCTION baygate_login_attempts_prune(p_limit integer)
  RETURNS integer
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public
  AS $$
    WITH gone AS (
      DELETE FROM login_attempts WHERE id = ANY (ARRAY(
        SELECT id FROM login_attempts WHERE attempted_at < now() - interval '1 day'
         ORDER BY attempted_at LIMIT p_limit FOR UPDATE SKIP LOCKED))
      RETURNING 1)
    SELECT count(*)::integer FROM gone $$;

REVOKE ALL ON FUNCTION baygate_login_attempts_prune(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION baygate_login_attempts_prune(integer) TO baygate_ingest;
