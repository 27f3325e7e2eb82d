-- Foundation: runtime roles, tenancy helpers, tenants, users, memberships, sessions, sites, spaces.
--
-- Tenant isolation is enforced here, not in application code: every tenant-scoped
-- table has Row-Level Security enabled and FORCED, keyed on the transaction-local
-- setting baygate.tenant_id. Runtime connections switch to a role that RLS binds
-- (baygate_app for the API, baygate_ingest for ingest) even when DATABASE_URL names
-- a superuser, because superusers and BYPASSRLS roles skip policies
-- (https://www.postgresql.org/docs/current/ddl-rowsecurity.html).

-- Roles are cluster-wide; several databases (and parallel test databases) share them,
-- so creation tolerates a concurrent creator.
DO $$
BEGIN
  CREATE ROLE baygate_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
DO $$
BEGIN
  CREATE ROLE baygate_ingest NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

-- The connecting user must be able to SET ROLE to the runtime roles. A superuser
-- already can; a plain owner needs membership.
DO $$
BEGIN
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('GRANT baygate_app, baygate_ingest TO %I', current_user);
  END IF;
END $$;

GRANT USAGE ON SCHEMA public TO baygate_app, baygate_ingest;
ALTER DEFAULT PRIVILEGES GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO baygate_app, baygate_ingest;
ALTER DEFAULT PRIVILEGES GRANT USAGE, SELECT ON SEQUENCES TO baygate_app, baygate_ingest;

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- The tenant and user a transaction acts for. NULL when unset: every policy then matches nothing.
CREATE FUNCTION baygate_tenant() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT NULLIF(current_setting('baygate.tenant_id', true), '')::uuid $$;
CREATE FUNCTION baygate_user() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT NULLIF(current_setting('baygate.user_id', true), '')::uuid $$;

CREATE TABLE tenants (
  id          uuid PRIMARY KEY,
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9-]+$' AND length(slug) <= 63),
  settings    jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Users are identities shared across tenants (a person may belong to several), so the
-- table is not tenant-scoped: RLS is enabled (runtime roles see only themselves and the
-- members of their tenant) but not forced, so the owner's login lookup below can read it.
CREATE TABLE users (
  id             uuid PRIMARY KEY,
  email          text NOT NULL CHECK (email = lower(email) AND length(email) <= 320),
  username       text NOT NULL CHECK (length(username) BETWEEN 1 AND 100),
  password_hash  text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  deleted_at     timestamptz
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE user_memberships (
  tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role        text NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'technician', 'viewer')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX user_memberships_user_idx ON user_memberships (user_id);

-- One row per login: the refresh-token family. Logging out or reusing a rotated
-- refresh token revokes the session, which also ends its access tokens.
CREATE TABLE auth_sessions (
  id              uuid PRIMARY KEY,
  tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at      timestamptz NOT NULL DEFAULT now(),
  revoked_at      timestamptz,
  revoked_reason  text
);
CREATE INDEX auth_sessions_user_idx ON auth_sessions (user_id);

CREATE TABLE refresh_tokens (
  id          uuid PRIMARY KEY,          -- the token's jti
  tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  session_id  uuid NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz,               -- set when rotated; presenting it again is reuse
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE sites (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  address     text,
  timezone    text NOT NULL DEFAULT 'UTC',
  lat         double precision CHECK (lat BETWEEN -90 AND 90),
  lon         double precision CHECK (lon BETWEEN -180 AND 180),
  config      jsonb NOT NULL DEFAULT '{}',
  is_default  boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  deleted_at  timestamptz,
  CHECK ((lat IS NULL) = (lon IS NULL)),
  -- Target of composite foreign keys: a child row can only point at a site of its own tenant.
  UNIQUE (tenant_id, id)
);
CREATE INDEX sites_tenant_idx ON sites (tenant_id, created_at) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX sites_one_default ON sites (tenant_id) WHERE is_default AND deleted_at IS NULL;

CREATE TABLE spaces (
  id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id             uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  site_id               uuid NOT NULL,
  code                  text NOT NULL CHECK (length(code) BETWEEN 1 AND 100),
  name                  text,
  display_name          text,
  enabled               boolean NOT NULL DEFAULT true,
  -- Operator's maintenance flag; current_state is 'maintenance' while this is set or enabled is false.
  maintenance           boolean NOT NULL DEFAULT false,
  auto_release_minutes  integer CHECK (auto_release_minutes BETWEEN 1 AND 1440),
  config                jsonb NOT NULL DEFAULT '{}',
  current_state         text NOT NULL DEFAULT 'unknown'
                        CHECK (current_state IN ('free', 'occupied', 'reserved', 'maintenance', 'unknown')),
  sensor_state          text NOT NULL DEFAULT 'unknown' CHECK (sensor_state IN ('free', 'occupied', 'unknown')),
  display_state         text,
  state_changed_at      timestamptz NOT NULL DEFAULT now(),
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  deleted_at            timestamptz,
  FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id),
  UNIQUE (tenant_id, id),
  CHECK ((current_state = 'maintenance') = (maintenance OR NOT enabled))
);
CREATE UNIQUE INDEX spaces_site_code_key ON spaces (site_id, code) WHERE deleted_at IS NULL;
CREATE INDEX spaces_tenant_state_idx ON spaces (tenant_id, site_id, current_state) WHERE deleted_at IS NULL;

-- Row-Level Security. Each tenant-scoped table: enabled, forced, one isolation policy on
-- the tenant setting, and a read-only policy for ingest, which routes uplinks for every
-- tenant by DevEUI and runs the time-driven jobs; its writes stay bound to one tenant.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
  USING (id = baygate_tenant()
         OR id IN (SELECT m.tenant_id FROM user_memberships m WHERE m.user_id = baygate_user()))
  WITH CHECK (id = baygate_tenant());
CREATE POLICY ingest_read ON tenants FOR SELECT TO baygate_ingest USING (true);

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_visibility ON users
  USING (id = baygate_user()
         OR id IN (SELECT m.user_id FROM user_memberships m WHERE m.tenant_id = baygate_tenant()));
-- Creating an identity reveals nothing about any tenant; the membership that follows is tenant-bound.
CREATE POLICY user_insert ON users FOR INSERT WITH CHECK (true);

ALTER TABLE user_memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON user_memberships
  USING (tenant_id = baygate_tenant() OR user_id = baygate_user())
  WITH CHECK (tenant_id = baygate_tenant());

ALTER TABLE auth_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth_sessions
  USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());

ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refresh_tokens
  USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());

ALTER TABLE sites ENABLE ROW LEVEL SECURITY;
ALTER TABLE sites FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sites
  USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());
CREATE POLICY ingest_read ON sites FOR SELECT TO baygate_ingest USING (true);

ALTER TABLE spaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE spaces FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON spaces
  USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());
CREATE POLICY ingest_read ON spaces FOR SELECT TO baygate_ingest USING (true);

-- Login happens before any tenant is known: this owner-run function is the one way a
-- runtime role reads a user by email, and it returns only what password checking needs.
CREATE FUNCTION baygate_login_lookup(p_email text)
  RETURNS TABLE (id uuid, password_hash text)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
  AS $$ SELECT u.id, u.password_hash FROM users u WHERE u.email = lower(p_email) AND u.deleted_at IS NULL $$;
REVOKE ALL ON FUNCTION baygate_login_lookup(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION baygate_login_lookup(text) TO baygate_app;

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO baygate_app, baygate_ingest;
-- The runtime roles may read the schema version (readiness checks) but never change it.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM baygate_app, baygate_ingest;
