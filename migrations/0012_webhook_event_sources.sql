-- Tenant events other than a space's change of state, for outbound webhooks (issue 7):
-- a reservation's lifecycle (created, started, checked in/out, completed, expired, no-show,
-- cancelled) and device health that space_events do not carry (a device's battery turning
-- low, a gateway outage). deliver_webhooks fans them out beside space_events, with a cursor
-- of its own per subscription (webhook_subscriptions.last_tenant_event_id).
--
-- Rows are written by triggers on the tables whose changes they report, so no code path
-- that changes a reservation, a device's battery flag or records a gateway outage can forget
-- them. `name` is what a receiver sees as data.event.
--
-- The fan-out reads "every event after my cursor", so the order it reads in must be one in
-- which no event can appear behind the cursor later. Ids cannot give that: an id taken by a
-- transaction that commits after a later id's would be skipped for good. space_events get it
-- from a per-tenant lock held from the append to the commit; here that would serialise the
-- commits of every booking of a tenant (bench:reservations lost a third of its rate and
-- passed 100 ms at p99 with it). Instead `seq` numbers events after they committed: the
-- sequencer (src/storage/tenant-events.ts), one at a time per tenant under an advisory lock,
-- gives the committed events without one the next numbers, and the fan-out reads by seq.

CREATE TABLE tenant_events (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  type       text NOT NULL CHECK (type IN ('reservation', 'device_health')),
  name       text NOT NULL CHECK (name IN ('created', 'started', 'checked_in', 'checked_out', 'completed', 'expired',
                                           'no_show', 'cancelled', 'low_battery', 'gateway_offline')),
  -- The site of the reservation's space or the device's space; NULL for an unassigned
  -- device and for gateways (a gateway belongs to no site): those reach only subscriptions
  -- without a site filter.
  site_id    uuid,
  -- The entity's ids and a few facts (see the trigger functions below).
  data       jsonb NOT NULL,
  at         timestamptz NOT NULL DEFAULT now(),
  -- Commit order within the tenant, 1, 2, 3…; NULL until the sequencer has seen it committed.
  seq        bigint,
  UNIQUE (tenant_id, seq)
);
CREATE INDEX tenant_events_unsequenced_idx ON tenant_events (tenant_id, id) WHERE seq IS NULL;

ALTER TABLE tenant_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_events USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());
CREATE POLICY ingest_read ON tenant_events FOR SELECT TO baygate_ingest USING (true);
GRANT SELECT, INSERT ON tenant_events TO baygate_app, baygate_ingest;
-- Written only by the triggers (in the writer's transaction, as its role); only seq is ever set afterwards.
REVOKE UPDATE, DELETE ON tenant_events FROM baygate_app, baygate_ingest;
GRANT UPDATE (seq) ON tenant_events TO baygate_app, baygate_ingest;

-- Whether any of the tenant's subscriptions (enabled or not: a disabled one resumes from its
-- cursor) takes events of this type. Events nobody subscribes to are not recorded: a
-- subscription receives only what happens after it exists (or, edited, after it asks), and
-- a tenant without such webhooks pays nothing for them (with the events always written,
-- bench:reservations booked about 8 % fewer per second).
CREATE FUNCTION baygate_tenant_events_wanted(p_tenant uuid, p_type text) RETURNS boolean
  LANGUAGE sql STABLE
  AS $$ SELECT EXISTS (SELECT 1 FROM webhook_subscriptions WHERE tenant_id = p_tenant AND p_type = ANY(events)) $$;

-- Records one event, if wanted, with the site of `p_space` (NULL: no site). The rows are
-- written by DEFERRED constraint triggers, at commit. At that point the tenant setting is
-- whichever the transaction set last (an ingest batch moves from tenant to tenant), so this
-- sets the event's own tenant for its reads and insert (the row it reports passed that
-- tenant's policies when it was written) and puts the setting back.
CREATE FUNCTION baygate_tenant_event(p_tenant uuid, p_type text, p_name text, p_space uuid, p_data jsonb, p_at timestamptz)
  RETURNS void LANGUAGE plpgsql
  AS $$
DECLARE
  prev text := current_setting('baygate.tenant_id', true);
  site uuid;
BEGIN
  PERFORM set_config('baygate.tenant_id', p_tenant::text, true);
  IF baygate_tenant_events_wanted(p_tenant, p_type) THEN
    SELECT s.site_id INTO site FROM spaces s WHERE s.tenant_id = p_tenant AND s.id = p_space;
    INSERT INTO tenant_events (tenant_id, type, name, site_id, data, at) VALUES (p_tenant, p_type, p_name, site, p_data, p_at);
    -- Wakes deliver_webhooks (ingest/jobs/wake.ts); identical payloads in one transaction are
    -- sent once. Only for an enabled subscription: a transaction that notifies takes a lock for
    -- its whole commit that every other notifying commit waits for (the job also runs every 10 s).
    IF EXISTS (SELECT 1 FROM webhook_subscriptions WHERE tenant_id = p_tenant AND enabled) THEN
      PERFORM pg_notify('baygate_tenant_events', '');
    END IF;
  END IF;
  PERFORM set_config('baygate.tenant_id', coalesce(prev, ''), true);
END
$$;

CREATE FUNCTION baygate_reservation_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  data jsonb := jsonb_build_object(
    'reservation_id', NEW.id, 'space_id', NEW.space_id, 'status', NEW.status,
    'start_time', NEW.start_time, 'end_time', NEW.end_time, 'checked_in_at', NEW.checked_in_at,
    'checked_out_at', NEW.checked_out_at, 'cancelled_at', NEW.cancelled_at, 'cancellation_reason', NEW.cancellation_reason);
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM baygate_tenant_event(NEW.tenant_id, 'reservation', 'created', NEW.space_id, data, NEW.created_at);
    RETURN NULL;
  END IF;
  -- One UPDATE may check a reservation in and out (an ingest batch): in the order they happened.
  IF NEW.checked_in AND NOT OLD.checked_in THEN
    PERFORM baygate_tenant_event(NEW.tenant_id, 'reservation', 'checked_in', NEW.space_id, data, coalesce(NEW.checked_in_at, now()));
  END IF;
  IF NEW.checked_out_at IS NOT NULL AND OLD.checked_out_at IS NULL THEN
    PERFORM baygate_tenant_event(NEW.tenant_id, 'reservation', 'checked_out', NEW.space_id, data, NEW.checked_out_at);
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status AND NEW.status <> 'pending' THEN
    PERFORM baygate_tenant_event(NEW.tenant_id, 'reservation',
      CASE NEW.status WHEN 'active' THEN 'started' ELSE NEW.status END, NEW.space_id, data, coalesce(NEW.cancelled_at, now()));
  END IF;
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER reservation_events AFTER INSERT ON reservations
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION baygate_reservation_event();
CREATE CONSTRAINT TRIGGER reservation_changes AFTER UPDATE OF status, checked_in, checked_out_at ON reservations
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.checked_in IS DISTINCT FROM NEW.checked_in
        OR OLD.checked_out_at IS DISTINCT FROM NEW.checked_out_at)
  EXECUTE FUNCTION baygate_reservation_event();

-- A battery turning low (ingest from a decoder's flag, or the device_health job from the percent).
-- The WHEN clause is evaluated as the row is updated, so the uplinks that leave the flag as
-- it was (nearly all) queue nothing.
CREATE FUNCTION baygate_low_battery_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM baygate_tenant_event(NEW.tenant_id, 'device_health', 'low_battery', NEW.assigned_space_id,
    jsonb_build_object('device_id', NEW.id, 'dev_eui', NEW.dev_eui, 'name', NEW.name, 'space_id', NEW.assigned_space_id,
                       'battery', NEW.battery, 'battery_volts', NEW.battery_volts),
    now());
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER device_low_battery AFTER UPDATE OF low_battery ON devices
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (NEW.low_battery AND NOT OLD.low_battery)
  EXECUTE FUNCTION baygate_low_battery_event();

-- A gateway outage (one gateway_events row per outage, migrations/0004_devices.sql), written
-- by the device_health job as the ingest role, which reads every tenant's gateways.
CREATE FUNCTION baygate_gateway_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  gw record;
BEGIN
  SELECT g.gateway_eui, g.name INTO gw FROM gateways g WHERE g.id = NEW.gateway_id;
  PERFORM baygate_tenant_event(NEW.tenant_id, 'device_health', NEW.kind, NULL,
    jsonb_build_object('gateway_id', NEW.gateway_id, 'gateway_eui', gw.gateway_eui, 'name', gw.name,
                       'since', NEW.since, 'device_count', NEW.device_count),
    NEW.at);
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER gateway_events_out AFTER INSERT ON gateway_events
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION baygate_gateway_event();

-- Outbound subscriptions read both sources: a second cursor, and deliveries name their source.
ALTER TABLE webhook_subscriptions ADD COLUMN last_tenant_event_id bigint NOT NULL DEFAULT 0;
ALTER TABLE webhook_deliveries ADD COLUMN source text NOT NULL DEFAULT 'space' CHECK (source IN ('space', 'tenant'));
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_subscription_id_event_id_key;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_subscription_source_event_key UNIQUE (subscription_id, source, event_id);
