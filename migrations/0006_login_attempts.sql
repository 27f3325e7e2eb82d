-- Login brute-force limits: failed logins counted in PostgreSQL, so every API replica
-- sees the same counts (a counter in process memory would let an attacker multiply the
-- limit by the number of replicas behind the load balancer).
--
-- Not tenant data: a login happens before any tenant is known, so the table has no
-- tenant_id and no RLS policy. It holds personal data (emails, client addresses), so the
-- runtime roles get no rights on it at all: 0001's ALTER DEFAULT PRIVILEGES granted them
-- SELECT/INSERT/UPDATE/DELETE on every new table, which is revoked below. The API reaches
-- it only through the two SECURITY DEFINER functions, which read no more than a count and
-- can only add or remove the caller's own attempt; an injection in the API cannot read
-- who tried to log in, nor wipe the counters to lift a lockout.
CREATE TABLE login_attempts (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- The login as typed, lower-cased; also for unknown accounts (password spraying).
  account       text NOT NULL,
  -- The client address as the API sees it (ctx.ip).
  ip            text NOT NULL,
  attempted_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_account_idx ON login_attempts (account, attempted_at);
CREATE INDEX login_attempts_ip_idx ON login_attempts (ip, attempted_at);
REVOKE ALL ON login_attempts FROM baygate_app, baygate_ingest;

-- Starts a login attempt. When the account or the address already has p_max failures in
-- the last p_window_seconds, returns no attempt and the seconds until the oldest of the
-- counted failures leaves the window (Retry-After). Otherwise records the attempt as a
-- failure *before* the password is checked, so parallel guesses are counted at once;
-- baygate_login_attempt_succeeded removes the row when the password was right.
-- The advisory locks (two-key form: its key space is apart from the migration lock's)
-- serialize attempts per account and per address across replicas; account before
-- address in every caller, so two attempts never wait on each other in a cycle.
CREATE FUNCTION baygate_login_attempt_begin(p_account text, p_ip text, p_max integer, p_window_seconds integer)
  RETURNS TABLE (attempt_id bigint, retry_after_seconds integer)
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public
  AS $$
DECLARE
  v_window interval := make_interval(secs => p_window_seconds);
  v_now timestamptz := clock_timestamp();
  v_until timestamptz;
BEGIN
  PERFORM pg_advisory_xact_lock(727006, hashtext('account:' || p_account));
  PERFORM pg_advisory_xact_lock(727006, hashtext('ip:' || p_ip));
  -- The p_max-th most recent failure in the window: while it is in the window, the limit is reached.
  SELECT max(t) INTO v_until FROM (
    (SELECT a.attempted_at FROM login_attempts a
      WHERE a.account = p_account AND a.attempted_at > v_now - v_window
      ORDER BY a.attempted_at DESC OFFSET p_max - 1 LIMIT 1)
    UNION ALL
    (SELECT a.attempted_at FROM login_attempts a
      WHERE a.ip = p_ip AND a.attempted_at > v_now - v_window
      ORDER BY a.attempted_at DESC OFFSET p_max - 1 LIMIT 1)
  ) s(t);
  IF v_until IS NOT NULL THEN
    -- Refused attempts are not recorded: the lockout ends when the window says, however
    -- often the attacker knocks, so Retry-After is honest.
    RETURN QUERY SELECT NULL::bigint, greatest(1, ceil(extract(epoch FROM v_until + v_window - v_now)))::integer;
    RETURN;
  END IF;
  -- Failures that left the window count no more: prune them for this account and address.
  DELETE FROM login_attempts a WHERE (a.account = p_account OR a.ip = p_ip) AND a.attempted_at <= v_now - v_window;
  RETURN QUERY INSERT INTO login_attempts (account, ip, attempted_at) VALUES (p_account, p_ip, v_now)
    RETURNING login_attempts.id, 0;
END $$;

-- The password was right: the attempt was no failure.
CREATE FUNCTION baygate_login_attempt_succeeded(p_attempt_id bigint)
  RETURNS void
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public
  AS $$ DELETE FROM login_attempts WHERE id = p_attempt_id $$;

REVOKE ALL ON FUNCTION baygate_login_attempt_begin(text, text, integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION baygate_login_attempt_succeeded(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION baygate_login_attempt_begin(text, text, integer, integer) TO baygate_app;
GRANT EXECUTE ON FUNCTION baygate_login_attempt_succeeded(bigint) TO baygate_app;
