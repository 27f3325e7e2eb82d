-- Every authenticated request checks its session (not revoked, user not deleted,
-- membership present). Inside an RLS transaction that took four round trips (BEGIN, the
-- tenant setting, the lookup, COMMIT) before the request's own work began; this owner-run
-- function answers in one statement outside any transaction, like baygate_login_lookup
-- (0001). It is keyed by all three ids of a token whose signature the API has already
-- verified, and returns only that session's principal.
CREATE FUNCTION baygate_session_principal(p_session uuid, p_user uuid, p_tenant uuid)
  RETURNS TABLE ("userId" uuid, "tenantId" uuid, role text, email text, username text,
                 "tenantName" text, "tenantSlug" text, "createdAt" timestamptz, "sessionId" uuid)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
  AS $$
    SELECT u.id, t.id, m.role, u.email, u.username, t.name, t.slug, u.created_at, s.id
      FROM auth_sessions s
      JOIN users u ON u.id = s.user_id
      JOIN user_memberships m ON m.user_id = u.id AND m.tenant_id = s.tenant_id
      JOIN tenants t ON t.id = s.tenant_id
     WHERE s.id = p_session AND s.user_id = p_user AND s.tenant_id = p_tenant
       AND s.revoked_at IS NULL AND u.deleted_at IS NULL
  $$;
REVOKE ALL ON FUNCTION baygate_session_principal(uuid, uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION baygate_session_principal(uuid, uuid, uuid) TO baygate_app;
