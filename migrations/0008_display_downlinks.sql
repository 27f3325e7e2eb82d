-- Display signs: each tenant's display policy, and the downlinks ingest sends to displays
-- (ingest/displays.ts), with their outcome as ChirpStack reports it.
-- RLS as in 0001/0002: tenant-scoped, enabled and forced; ingest reads every tenant's rows
-- and writes under the tenant it acts for.

-- Overrides of the default colour/blink per display state (src/domain/display-policy.ts);
-- a tenant without a row uses the defaults.
CREATE TABLE display_policies (
  tenant_id   uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  rules       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(rules) = 'object'),
  updated_by  uuid,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per state a display is told (an outbox: ingest inserts it `pending`, publishes
-- it on ChirpStack's command/down topic, then follows txack/ack/log events). A retry
-- publishes the same row again under a new ChirpStack queue item id; the ids of earlier
-- attempts stay in previous_queue_item_ids so a late ack of one of them still counts.
CREATE TABLE display_downlinks (
  id                       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id                uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  device_id                uuid NOT NULL,
  space_id                 uuid,
  display_state            text NOT NULL CHECK (display_state IN ('maintenance', 'reserved', 'occupied', 'free', 'unknown')),
  colour                   text NOT NULL CHECK (colour ~ '^#[0-9a-f]{6}$'),
  blink                    boolean NOT NULL,
  encoding                 text NOT NULL,
  dev_eui                  text NOT NULL,
  application_id           text NOT NULL,
  topic                    text NOT NULL,
  -- LoRaWAN application FPorts are 1..223 (LoRaWAN 1.0.4 §4.3.2); ChirpStack requires > 0.
  f_port                   integer NOT NULL CHECK (f_port BETWEEN 1 AND 223),
  data                     bytea NOT NULL,
  confirmed                boolean NOT NULL,
  status                   text NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending', 'published', 'transmitted', 'acknowledged', 'failed', 'expired', 'superseded')),
  attempts                 integer NOT NULL DEFAULT 0,
  max_attempts             integer NOT NULL CHECK (max_attempts >= 1),
  queue_item_id            uuid UNIQUE,
  previous_queue_item_ids  uuid[] NOT NULL DEFAULT '{}',
  -- pending: when to publish; published/transmitted: when to give up waiting for the outcome.
  next_attempt_at          timestamptz NOT NULL DEFAULT now(),
  published_at             timestamptz,
  transmitted_at           timestamptz,
  acknowledged_at          timestamptz,
  last_error               text,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, space_id) REFERENCES spaces (tenant_id, id)
);
-- At most one downlink per display is still on its way: a newer state supersedes it
-- (ingest/displays.ts), and two replicas planning at once cannot both add one.
CREATE UNIQUE INDEX display_downlinks_one_open ON display_downlinks (device_id)
  WHERE status IN ('pending', 'published', 'transmitted');
CREATE INDEX display_downlinks_device_idx ON display_downlinks (device_id, id DESC);
CREATE INDEX display_downlinks_due_idx ON display_downlinks (next_attempt_at)
  WHERE status IN ('pending', 'published', 'transmitted');
CREATE INDEX display_downlinks_previous_ids_idx ON display_downlinks USING gin (previous_queue_item_ids);
-- The sender reads every display on each run (ingest/displays.ts planDisplayDownlinks); sensors
-- far outnumber displays. No column an uplink updates is in it, so uplinks' HOT updates of
-- devices (0002) stay HOT.
CREATE INDEX devices_displays_idx ON devices (assigned_space_id)
  WHERE device_type = 'display' AND deleted_at IS NULL AND assigned_space_id IS NOT NULL;

ALTER TABLE display_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE display_policies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON display_policies USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());
CREATE POLICY ingest_read ON display_policies FOR SELECT TO baygate_ingest USING (true);

ALTER TABLE display_downlinks ENABLE ROW LEVEL SECURITY;
ALTER TABLE display_downlinks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON display_downlinks USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());
CREATE POLICY ingest_read ON display_downlinks FOR SELECT TO baygate_ingest USING (true);

GRANT SELECT, INSERT, UPDATE, DELETE ON display_policies, display_downlinks TO baygate_app, baygate_ingest;

-- Sent when downlinks become due (a state to tell, a retry), to wake ingest's sender; no
-- payload: the table is the data (src/events.ts DISPLAY_DOWNLINKS_CHANNEL).
--
-- Outcomes, from the device_events rows ingest records for ChirpStack's ack/txack/log
-- events (ingest/apply.ts), so the ingest hot path needs no change. The trigger runs as the
-- inserting role under the device's tenant, so RLS keeps it to that tenant's downlinks.
-- What the events mean (chirpstack/src/downlink/data.rs, get_next_device_queue_item;
-- api/proto/integration/integration.proto):
--   TXACK  the gateway accepted the frame for transmission;
--   ACK    acknowledged=true: the device confirmed it; acknowledged=false (our NACK): it
--          was not confirmed in time and ChirpStack dropped the queue item;
--   log    with context.queue_item_id: ChirpStack discarded the item (DOWNLINK_PAYLOAD_SIZE,
--          F_CNT_DOWN, EXPIRED, …).
-- A NACK or discard is retried (set back to pending) until max_attempts; a payload that can
-- never fit or be encoded is not.
CREATE FUNCTION baygate_display_downlink_outcome() RETURNS trigger
  LANGUAGE plpgsql SET search_path = public
  AS $$
DECLARE
  item uuid := NEW.queue_item_id;
  permanent boolean := false;
  changed integer;
BEGIN
  IF NEW.kind = 'log' THEN
    BEGIN
      item := (NEW.data -> 'context' ->> 'queue_item_id')::uuid;
    EXCEPTION WHEN invalid_text_representation THEN
      RETURN NULL;
    END;
    permanent := NEW.code IN ('DOWNLINK_PAYLOAD_SIZE', 'DOWNLINK_CODEC');
  END IF;
  IF item IS NULL THEN
    RETURN NULL;
  END IF;

  IF NEW.code = 'TXACK' THEN
    UPDATE display_downlinks
       SET status = CASE WHEN status = 'published' THEN 'transmitted' ELSE status END,
           transmitted_at = coalesce(transmitted_at, NEW.at),
           updated_at = now()
     WHERE tenant_id = NEW.tenant_id AND queue_item_id = item AND status IN ('published', 'transmitted');
  ELSIF NEW.code = 'ACK' THEN
    -- A late ack of an earlier attempt still means the display has this state.
    UPDATE display_downlinks
       SET status = 'acknowledged', acknowledged_at = NEW.at, last_error = NULL, updated_at = now()
     WHERE tenant_id = NEW.tenant_id
       AND (queue_item_id = item OR previous_queue_item_ids @> ARRAY[item])
       AND status IN ('pending', 'published', 'transmitted');
  ELSIF NEW.code = 'NACK' OR NEW.kind = 'log' THEN
    UPDATE display_downlinks
       SET status = CASE
                      WHEN NOT permanent AND attempts < max_attempts THEN 'pending'
                      WHEN NEW.code = 'EXPIRED' THEN 'expired'
                      ELSE 'failed'
                    END,
           next_attempt_at = now(),
           last_error = CASE WHEN NEW.kind = 'log' THEN NEW.code || ': ' || coalesce(NEW.description, '')
                             ELSE 'not acknowledged by the device (ChirpStack ack event, acknowledged=false)' END,
           updated_at = now()
     WHERE tenant_id = NEW.tenant_id AND queue_item_id = item AND status IN ('published', 'transmitted');
    GET DIAGNOSTICS changed = ROW_COUNT;
    IF changed > 0 THEN
      PERFORM pg_notify('baygate_display_downlinks', '');
    END IF;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER display_downlink_outcome AFTER INSERT ON device_events
  FOR EACH ROW WHEN (NEW.kind IN ('ack', 'txack', 'log'))
  EXECUTE FUNCTION baygate_display_downlink_outcome();
