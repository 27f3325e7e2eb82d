-- SECURITY DEFINER functions run with their owner's rights, so whatever their unqualified
-- names resolve to is trusted. With `search_path = public` alone, pg_temp is still searched
-- first for tables (implicitly, before the path), so a caller's temporary table named like
-- one a function reads would stand in for it. PostgreSQL's CREATE FUNCTION page ("Writing
-- SECURITY DEFINER Functions Safely") says to put pg_temp last, and pg_catalog first so no
-- operator or function of the caller's can shadow a built-in (issue 19 §6). Set on every such
-- function that exists now; test/integration/rls.test.ts checks every one, so a later
-- migration that forgets it fails the suite.
DO $$
DECLARE f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE p.prosecdef AND n.nspname = 'public'
  LOOP
    EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, public, pg_temp', f);
  END LOOP;
END $$;
