// Tenant isolation is the database's job: with tenant A's setting, the runtime role sees
// none of tenant B's rows, even though DATABASE_URL is a superuser.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { testDb } from '../helpers/db.js';
import { withTx } from '../../src/db/tx.js';
import { assertRlsBinds } from '../../src/db/pool.js';

t.test('runtime role is bound by RLS although the login user is a superuser', async (t) => {
  const db = await testDb(t);
  const who = await db.app.query('SELECT current_user AS cu, session_user AS su, (SELECT rolsuper FROM pg_roles WHERE rolname = session_user) AS login_super');
  t.equal(who.rows[0].cu, 'baygate_app');
  t.equal(who.rows[0].login_super, true, 'the login user is a superuser, as the embedded default and this machine hand out');

  const a = randomUUID();
  const b = randomUUID();
  for (const [id, slug] of [[a, 'tenant-a'], [b, 'tenant-b']] as const) {
    await db.owner.query('INSERT INTO tenants (id, name, slug) VALUES ($1, $2, $2)', [id, slug]);
    await db.owner.query(
      'INSERT INTO sites (tenant_id, name, is_default) VALUES ($1, $2, true)',
      [id, `${slug} site`],
    );
    await db.owner.query(
      `INSERT INTO spaces (tenant_id, site_id, code) SELECT $1, id, 'S1' FROM sites WHERE tenant_id = $1`,
      [id],
    );
  }

  const seen = await withTx(db.app, { tenantId: a }, async (c) => ({
    tenants: (await c.query('SELECT id FROM tenants')).rows.map((r) => r.id),
    sites: (await c.query('SELECT tenant_id FROM sites')).rows.map((r) => r.tenant_id),
    spaces: (await c.query('SELECT tenant_id FROM spaces')).rows.map((r) => r.tenant_id),
  }));
  t.same(seen, { tenants: [a], sites: [a], spaces: [a] }, 'A sees only its own rows');

  const none = await withTx(db.app, {}, async (c) => ({
    sites: (await c.query('SELECT count(*)::int AS n FROM sites')).rows[0].n,
    spaces: (await c.query('SELECT count(*)::int AS n FROM spaces')).rows[0].n,
  }));
  t.same(none, { sites: 0, spaces: 0 }, 'no tenant setting, no rows');

  await t.rejects(
    withTx(db.app, { tenantId: a }, (c) =>
      c.query(`INSERT INTO sites (tenant_id, name) VALUES ($1, 'smuggled')`, [b]),
    ),
    'A cannot write a row into B',
  );
  const updated = await withTx(db.app, { tenantId: a }, (c) =>
    c.query(`UPDATE spaces SET name = 'hacked' WHERE tenant_id = $1`, [b]),
  );
  t.equal(updated.rowCount, 0, 'A cannot update B');
  const bSpaces = await db.owner.query(`SELECT name FROM spaces WHERE tenant_id = $1`, [b]);
  t.same(bSpaces.rows, [{ name: null }]);

});

// The proof above covers tenants, sites and spaces; this covers every table later migrations
// add: one that carries tenant_id without ENABLE + FORCE ROW LEVEL SECURITY and a policy
// would be readable across tenants by the runtime roles.
t.test('every table with a tenant_id column has RLS enabled, forced and a policy', async (t) => {
  const db = await testDb(t);
  const { rows } = await db.owner.query<{ table: string; enabled: boolean; forced: boolean; policies: number }>(
    `SELECT c.relname AS table, c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced,
            (SELECT count(*)::int FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
      WHERE c.relkind IN ('r', 'p')
        AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
      ORDER BY c.relname`,
  );
  t.ok(rows.length >= 5, `tenant-scoped tables found (${rows.length})`);
  for (const r of rows) t.same({ enabled: r.enabled, forced: r.forced, policy: r.policies > 0 }, { enabled: true, forced: true, policy: true }, r.table);
});

// Issue 19 §6: a SECURITY DEFINER function runs with its owner's rights, so a caller's
// temporary table must never stand in for a table it reads (pg_temp is searched first unless
// the function's search_path lists it, last). Every such function, present and future.
t.test('every SECURITY DEFINER function pins search_path = pg_catalog, public, pg_temp', async (t) => {
  const db = await testDb(t);
  const fns = (
    await db.owner.query(
      `SELECT p.oid::regprocedure::text AS name, p.proconfig AS config
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE p.prosecdef AND n.nspname = 'public' ORDER BY 1`,
    )
  ).rows as { name: string; config: string[] | null }[];
  t.ok(fns.some((f) => f.name.startsWith('baygate_login_lookup(')), `the sweep sees them (${fns.length} found)`);
  t.same(fns.filter((f) => !(f.config ?? []).includes('search_path=pg_catalog, public, pg_temp')).map((f) => f.name), [], 'none without the pinned path');

  // What the pinned path prevents: the API role shadows `users` with a temporary table and asks
  // the login lookup for an email only its fake table holds.
  const c = await db.app.connect();
  t.teardown(() => c.release(true));
  await c.query(`CREATE TEMP TABLE users (id uuid, email text, password_hash text, deleted_at timestamptz)`);
  await c.query(`INSERT INTO users VALUES (gen_random_uuid(), 'intruder@example.org', 'x', NULL)`);
  const r = await c.query(`SELECT * FROM baygate_login_lookup('intruder@example.org')`);
  t.same(r.rows, [], "the function reads the real users table, not the caller's temporary one");
});

// Issue 19 §6: a runtime pool that RLS does not bind (the role switch lost, e.g. behind a
// pooler that drops start-up options) must refuse to serve rather than show every tenant.
t.test('a process refuses to serve from a connection that bypasses RLS', async (t) => {
  const db = await testDb(t);
  await t.resolves(assertRlsBinds(db.app), 'the runtime role is bound');
  await t.resolves(assertRlsBinds(db.ingest), 'so is ingest');
  await t.rejects(assertRlsBinds(db.owner), /bypasses Row-Level Security/, 'a superuser connection is refused');
});
