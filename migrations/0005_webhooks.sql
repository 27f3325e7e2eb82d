-- Webhooks: ChirpStack events received over HTTP (inbound secrets, the spool) and the
-- tenant's own subscriptions to baygate's events (outbound subscriptions, deliveries).
-- RLS as in 0001: every table is tenant-scoped, enabled and forced.

-- Inbound signing secrets. The current one has expires_at NULL; rotating gives the previous
-- one an expiry an hour away so ChirpStack can be updated meanwhile. Stored as given: HMAC
-- verification needs the secret itself (a hash would not do), and these rows are reachable
-- before authentication only through baygate_webhook_lookup below.
CREATE TABLE webhook_inbound_secrets (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  secret      text NOT NULL CHECK (length(secret) >= 32),
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz
);
CREATE UNIQUE INDEX webhook_inbound_secrets_current ON webhook_inbound_secrets (tenant_id) WHERE expires_at IS NULL;
CREATE INDEX webhook_inbound_secrets_tenant_idx ON webhook_inbound_secrets (tenant_id, created_at);

-- Accepted ChirpStack events waiting to be applied (ingest/jobs/process-webhook-spool.ts).
-- A row is deleted once applied; a failing one waits next_attempt_at and after its last
-- attempt moves to dead_letters.
CREATE TABLE webhook_spool (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  event            text NOT NULL CHECK (event IN ('up', 'status', 'join', 'ack', 'txack', 'log')),
  payload          bytea NOT NULL,
  received_at      timestamptz NOT NULL DEFAULT now(),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  last_error       text
);
CREATE INDEX webhook_spool_due_idx ON webhook_spool (next_attempt_at, id);

-- Outbound subscriptions. last_event_id is the fan-out cursor: the space_events id up to
-- which deliveries were created (ids commit in order per tenant, src/events.ts).
CREATE TABLE webhook_subscriptions (
  id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id             uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  url                   text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
  events                text[] NOT NULL
                        CHECK (cardinality(events) > 0 AND events <@ ARRAY['space_state', 'reservation', 'device_health', 'overstay']),
  site_ids              uuid[],
  enabled               boolean NOT NULL DEFAULT true,
  secret                text NOT NULL CHECK (length(secret) >= 32),
  last_event_id         bigint NOT NULL DEFAULT 0,
  consecutive_failures  integer NOT NULL DEFAULT 0,
  disabled_reason       text,
  disabled_at           timestamptz,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, id)
);
CREATE INDEX webhook_subscriptions_tenant_idx ON webhook_subscriptions (tenant_id, created_at);

CREATE TABLE webhook_deliveries (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  subscription_id   uuid NOT NULL,
  -- Monotonic per subscription: the delivery order.
  seq               bigint GENERATED ALWAYS AS IDENTITY,
  event_id          bigint,
  type              text NOT NULL,
  data              jsonb NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered')),
  attempts          integer NOT NULL DEFAULT 0,
  next_attempt_at   timestamptz NOT NULL DEFAULT now(),
  last_attempt_at   timestamptz,
  last_status_code  integer,
  last_error        text,
  delivered_at      timestamptz,
  FOREIGN KEY (tenant_id, subscription_id) REFERENCES webhook_subscriptions (tenant_id, id) ON DELETE CASCADE,
  UNIQUE (subscription_id, event_id)
);
-- The head of each subscription's queue: its oldest pending delivery.
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (subscription_id, seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_list_idx ON webhook_deliveries (subscription_id, created_at DESC);

ALTER TABLE webhook_inbound_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_inbound_secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_inbound_secrets USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());

ALTER TABLE webhook_spool ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_spool FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_spool USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());
-- The spool job finds due rows across tenants, then locks and writes them under each tenant's setting.
CREATE POLICY ingest_read ON webhook_spool FOR SELECT TO baygate_ingest USING (true);

ALTER TABLE webhook_subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_subscriptions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_subscriptions USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());
CREATE POLICY ingest_read ON webhook_subscriptions FOR SELECT TO baygate_ingest USING (true);

ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_deliveries USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());
CREATE POLICY ingest_read ON webhook_deliveries FOR SELECT TO baygate_ingest USING (true);

GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_inbound_secrets, webhook_spool, webhook_subscriptions, webhook_deliveries
  TO baygate_app, baygate_ingest;
-- Ingest never needs the inbound secrets.
REVOKE ALL ON webhook_inbound_secrets FROM baygate_ingest;

-- An inbound request names its tenant by slug before anything is authenticated: this
-- owner-run function is the one way the API role maps a slug to the tenant and the secrets
-- valid now (like baygate_login_lookup in 0001), and it returns nothing else.
CREATE FUNCTION baygate_webhook_lookup(p_slug text)
  RETURNS TABLE (tenant_id uuid, secret text)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
  AS $$ SELECT t.id, s.secret FROM tenants t JOIN webhook_inbound_secrets s ON s.tenant_id = t.id
         WHERE t.slug = p_slug AND (s.expires_at IS NULL OR s.expires_at > now()) $$;
REVOKE ALL ON FUNCTION baygate_webhook_lookup(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION baygate_webhook_lookup(text) TO baygate_app;

