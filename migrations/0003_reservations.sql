-- Reservations: bookings of a space for a time window, the idempotency keys that make
-- their creation safe to retry, and the bookkeeping of the ingest process's scheduled jobs.

-- Foreign keys are only the composite ones: (tenant_id, space_id) implies the tenant, and
-- user ids are recorded facts (users are soft-deleted), as space_events.device_id is. A key
-- to tenants or users would make every booking take FOR KEY SHARE on the same tenant row
-- (and on a busy integration account's user row): under concurrent bookings that row's
-- lockers become a MultiXact, rewritten on every insert.
CREATE TABLE reservations (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id            uuid NOT NULL,
  space_id             uuid NOT NULL,
  -- Who booked it (the API user); user_email/user_name name the driver, who may be someone else.
  user_id              uuid,
  user_email           text CHECK (length(user_email) <= 320),
  user_name            text CHECK (length(user_name) <= 200),
  start_time           timestamptz NOT NULL,
  end_time             timestamptz NOT NULL,
  -- pending: before its window; active: its window holds the space; the rest are final.
  status               text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'active', 'completed', 'cancelled', 'expired', 'no_show')),
  checked_in           boolean NOT NULL DEFAULT false,
  checked_in_at        timestamptz,
  checked_out_at       timestamptz,
  cancelled_at         timestamptz,
  cancelled_by         uuid,
  cancellation_reason  text CHECK (length(cancellation_reason) <= 500),
  notes                text CHECK (length(notes) <= 2000),
  metadata             jsonb NOT NULL DEFAULT '{}',
  -- The idempotency key it was created with (body request_id or Idempotency-Key header).
  request_id           text,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  -- Spaces are soft-deleted; a hard delete only comes with the tenant's, which takes these along.
  FOREIGN KEY (tenant_id, space_id) REFERENCES spaces (tenant_id, id) ON DELETE CASCADE,
  UNIQUE (tenant_id, id),
  CHECK (end_time > start_time),
  CHECK (checked_in = (checked_in_at IS NOT NULL)),
  CHECK (checked_out_at IS NULL OR checked_in),
  CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL)),
  -- No double booking, whatever the application does: two reservations that still hold a
  -- space cannot overlap in time. '[)' makes back-to-back windows (one ends as the next
  -- starts) legal. btree_gist (created in 0001) supplies the uuid `=` operator class for GiST.
  -- https://www.postgresql.org/docs/current/rangetypes.html#RANGETYPES-CONSTRAINT
  CONSTRAINT reservations_no_overlap
    EXCLUDE USING gist (space_id WITH =, tstzrange(start_time, end_time, '[)') WITH &&)
    WHERE (status IN ('pending', 'active'))
);
CREATE INDEX reservations_tenant_start_idx ON reservations (tenant_id, start_time);
CREATE INDEX reservations_space_start_idx ON reservations (space_id, start_time);
-- What the expire_reservations job and its timer look for: pending ones by start, active ones by end.
CREATE INDEX reservations_pending_start_idx ON reservations (start_time) WHERE status = 'pending';
CREATE INDEX reservations_active_end_idx ON reservations (end_time) WHERE status = 'active';
-- The reservation that holds a space now (src/storage/space-state.ts lockSpaces).
CREATE INDEX reservations_active_space_idx ON reservations (space_id) WHERE status = 'active';

-- One row per idempotency key a tenant used to create a reservation. A key seen again with
-- the same request hash answers with the reservation it created; with another hash, 422.
-- Kept at least 24 hours (the cleanup_bookkeeping job removes older ones).
CREATE TABLE idempotency_keys (
  tenant_id       uuid NOT NULL,
  key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  -- sha256 of the canonical request body (api/routes/reservations.ts requestHash).
  request_hash    text NOT NULL,
  reservation_id  uuid NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, key),
  -- Deferred: the key is claimed first (it is what concurrent replays queue on), then the
  -- reservation is inserted in the same statement.
  FOREIGN KEY (tenant_id, reservation_id) REFERENCES reservations (tenant_id, id)
    ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (tenant_id, created_at);

-- RLS, as in 0001. Ingest reads reservations of every tenant (the jobs and the state
-- machine's check-in) and writes them only under one tenant's setting.
ALTER TABLE reservations ENABLE ROW LEVEL SECURITY;
ALTER TABLE reservations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON reservations USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());
CREATE POLICY ingest_read ON reservations FOR SELECT TO baygate_ingest USING (true);

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys USING (tenant_id = baygate_tenant()) WITH CHECK (tenant_id = baygate_tenant());

-- Jobs. Not tenant data: no tenant_id, no RLS, and the API role has no privilege on them
-- (nothing in the API reads them; an operator endpoint can be granted SELECT when it comes).

-- One row per run of a job: cron ticks the database elected this runner for, precise-timer
-- passes that changed something, and manual runs.
CREATE TABLE job_runs (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job          text NOT NULL,
  trigger      text NOT NULL CHECK (trigger IN ('schedule', 'timer', 'manual')),
  -- host:pid:instance of the scheduler that ran it.
  runner       text NOT NULL,
  started_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  status       text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
  counts       jsonb NOT NULL DEFAULT '{}',
  -- Why a run was skipped, in words.
  detail       text,
  error        text
);
CREATE INDEX job_runs_job_idx ON job_runs (job, started_at DESC);

-- Tick election: every scheduler fires each tick, and the one whose conditional
-- UPDATE … RETURNING moves last_tick_at (on database time) runs it (ingest/jobs/index.ts).
CREATE TABLE job_schedule (
  job           text PRIMARY KEY,
  last_tick_at  timestamptz NOT NULL,
  last_runner   text NOT NULL
);

GRANT SELECT, INSERT, UPDATE, DELETE ON reservations, idempotency_keys TO baygate_app, baygate_ingest;
GRANT SELECT, INSERT, UPDATE, DELETE ON job_runs, job_schedule TO baygate_ingest;
REVOKE ALL ON job_runs, job_schedule FROM baygate_app;
