/** Owns the SQL for users and their memberships in tenants. */
import type { Queryable } from '../db/pool.js';
import type { Role } from '../auth/roles.js';
import type { SessionClaims } from '../auth/tokens.js';

/** Who a request acts as: the user, the tenant and the role the membership grants. */
export interface Principal {
  userId: string;
  tenantId: string;
  sessionId: string;
  role: Role;
  email: string;
  username: string;
  tenantName: string;
  tenantSlug: string;
  createdAt: Date;
}

/** The user as the API shows it (field names of the platform baygate replaces). */
export function userJson(p: Omit<Principal, 'sessionId'>) {
  return {
    id: p.userId,
    email: p.email,
    username: p.username,
    tenant_id: p.tenantId,
    tenant_name: p.tenantName,
    tenant_slug: p.tenantSlug,
    role: p.role,
    created_at: p.createdAt,
  };
}

const PRINCIPAL_COLUMNS = `
  u.id AS "userId", t.id AS "tenantId", m.role, u.email, u.username,
  t.name AS "tenantName", t.slug AS "tenantSlug", u.created_at AS "createdAt"`;

/**
 * The principal of a live session: the session not revoked, the user not deleted, the
 * membership present. One statement, no transaction needed (migrations/0009).
 */
export async function findSessionPrincipal(c: Queryable, claims: SessionClaims): Promise<Principal | null> {
  // Prepared once per connection: every authenticated request runs it.
  const r = await c.query({ name: 'session_principal', text: 'SELECT * FROM baygate_session_principal($1, $2, $3)', values: [claims.sid, claims.sub, claims.tid] });
  return (r.rows[0] as Principal | undefined) ?? null;
}

/** The membership a login acts in: the given tenant (by slug or id), else the oldest membership. */
export async function findLoginPrincipal(
  c: Queryable,
  userId: string,
  tenant: { slug?: string; id?: string } = {},
): Promise<Omit<Principal, 'sessionId'> | null> {
  const r = await c.query(
    `SELECT ${PRINCIPAL_COLUMNS}
       FROM users u
       JOIN user_memberships m ON m.user_id = u.id
       JOIN tenants t ON t.id = m.tenant_id
      WHERE u.id = $1 AND u.deleted_at IS NULL
        AND ($2::text IS NULL OR t.slug = $2) AND ($3::uuid IS NULL OR t.id = $3)
      ORDER BY m.created_at, t.slug
      LIMIT 1`,
    [userId, tenant.slug ?? null, tenant.id ?? null],
  );
  return (r.rows[0] as Omit<Principal, 'sessionId'> | undefined) ?? null;
}

export async function loginLookup(c: Queryable, email: string): Promise<{ id: string; password_hash: string } | null> {
  const r = await c.query('SELECT id, password_hash FROM baygate_login_lookup($1)', [email]);
  return r.rows[0] ?? null;
}

export async function insertUser(
  c: Queryable,
  u: { id: string; email: string; username: string; passwordHash: string },
): Promise<void> {
  await c.query('INSERT INTO users (id, email, username, password_hash) VALUES ($1, lower($2), $3, $4)', [
    u.id,
    u.email,
    u.username,
    u.passwordHash,
  ]);
}

export async function insertMembership(c: Queryable, m: { tenantId: string; userId: string; role: Role }): Promise<void> {
  await c.query('INSERT INTO user_memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)', [m.tenantId, m.userId, m.role]);
}

/** One page of a tenant's members, and how many there are in all (a page past the end still reports the total). */
export async function listMembers(
  c: Queryable,
  tenantId: string,
  limit: number,
  offset: number,
): Promise<{ items: Omit<Principal, 'sessionId'>[]; total: number }> {
  const from = `FROM user_memberships m
       JOIN users u ON u.id = m.user_id
       JOIN tenants t ON t.id = m.tenant_id
      WHERE m.tenant_id = $1 AND u.deleted_at IS NULL`;
  const [rows, count] = await Promise.all([
    c.query(`SELECT ${PRINCIPAL_COLUMNS} ${from} ORDER BY m.created_at, u.email LIMIT $2 OFFSET $3`, [tenantId, limit, offset]),
    c.query<{ n: number }>(`SELECT count(*) AS n ${from}`, [tenantId]),
  ]);
  return { items: rows.rows as Omit<Principal, 'sessionId'>[], total: count.rows[0]!.n };
}
