// Every batch UPDATE ... FROM unnest in src/storage must reach its rows through an index,
// never a scan of the whole table: ingest runs them for every batch, and a city's table
// holds every tenant's rows (the ingest role sees them all). PostgreSQL does not turn the
// join on unnest into index lookups by itself; the statements repeat the key as
// `id = ANY($1)` (see writeDeviceHealth in src/storage/ingest-devices.ts).
//
// Each statement is captured as it would be sent and EXPLAINed (not run) on a fleet large
// next to its batch, with fresh statistics, as the ingest role with a tenant set. The
// reading insert's same-frame check has its own test, at the end, under stale statistics.
import t, { type Test } from 'tap';
import { testDb, type TestDb } from '../helpers/db.js';
import { seedFleets } from '../helpers/fleet.js';
import type { PoolClient, Queryable } from '../../src/db/pool.js';
import { setTenant } from '../../src/db/tx.js';
import { writeDeviceHealth, writeDeviceStatus } from '../../src/storage/ingest-devices.js';
import { writeSpaceStates } from '../../src/storage/space-state.js';
import { applyDueActions, recordCheckInOut } from '../../src/storage/reservations.js';
import { insertReadings } from '../../src/storage/readings.js';

const TENANT = { id: '00000000-0000-4000-8000-0000000b1a05', name: 'Plan City', slug: 'plan-city' };
const FLEET = 5_000;
const BATCH = 50;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Plans?: PlanNode[];
}

function nodes(n: PlanNode): PlanNode[] {
  return [n, ...(n.Plans ?? []).flatMap(nodes)];
}

/** Runs `write` against a recorder and returns the EXPLAIN plan of the statement it sent. */
async function planOf(c: Queryable, write: (c: Queryable) => Promise<unknown>): Promise<PlanNode[]> {
  let sent: { text: string; values: unknown[] } | null = null;
  const recorder = {
    query: async (text: string, values: unknown[]) => {
      sent = { text, values };
      return { rows: [], rowCount: 0 };
    },
  } as unknown as Queryable;
  await write(recorder);
  const { text, values } = sent!;
  const r = await c.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(`EXPLAIN (FORMAT JSON) ${text}`, values);
  return nodes(r.rows[0]!['QUERY PLAN'][0]!.Plan);
}

/** An ingest-role connection in a transaction with the tenant set, rolled back when the test ends. */
async function ingestTransaction(t: Test, db: TestDb): Promise<PoolClient> {
  const c = await db.ingest.connect();
  t.teardown(() => c.release());
  await c.query('BEGIN');
  t.teardown(() => c.query('ROLLBACK'));
  await setTenant(c, TENANT.id);
  return c;
}

t.test('batch updates reach their rows by index lookups', async (t) => {
  const db = await testDb(t);
  await seedFleets(db.owner, TENANT, [{ first: '70B3D5E7B0000000', devices: FLEET }]);
  // One reservation holding each space now, so reservations (and its active partial indexes) are as large as the fleet.
  await db.owner.query(
    `INSERT INTO reservations (tenant_id, space_id, start_time, end_time, status)
     SELECT tenant_id, id, now() - interval '1 hour', now() + interval '1 hour', 'active' FROM spaces`,
  );
  await db.owner.query('ANALYZE');
  const devices = (await db.owner.query<{ id: string; space: string }>(`SELECT id, assigned_space_id AS space FROM devices ORDER BY random() LIMIT ${BATCH}`)).rows;
  const reservations = (await db.owner.query<{ id: string }>(`SELECT id FROM reservations ORDER BY random() LIMIT ${BATCH}`)).rows;
  const now = new Date();

  const c = await ingestTransaction(t, db);

  const cases: { name: string; table: string; write: (c: Queryable) => Promise<unknown> }[] = [
    {
      name: 'device health',
      table: 'devices',
      write: (q) =>
        writeDeviceHealth(
          q,
          devices.map((d) => ({
            id: d.id, lastSeenAt: now, uplinks: 1, rssi: -80, snr: 5, gatewayEui: null,
            batteryPercent: null, batteryVolts: null, lowBattery: null, lastFCnt: 1, lastFrameAt: now,
          })),
        ),
    },
    {
      name: 'device status',
      table: 'devices',
      write: (q) => writeDeviceStatus(q, devices.map((d) => ({ id: d.id, batteryPercent: 90, margin: 10, externalPower: false, joinedAt: null, devAddr: null }))),
    },
    {
      name: 'space states',
      table: 'spaces',
      write: (q) => writeSpaceStates(q, devices.map((d) => ({ id: d.space, currentState: 'occupied', sensorState: 'occupied', changedAt: now }))),
    },
    {
      name: 'check-ins',
      table: 'reservations',
      write: (q) => recordCheckInOut(q, reservations.map((r) => ({ reservationId: r.id, checkedInAt: now, checkedOutAt: null }))),
    },
    {
      name: 'due actions',
      table: 'reservations',
      write: (q) => applyDueActions(q, reservations.map((r) => ({ id: r.id, action: 'end', from: 'active' }))),
    },
  ];
  for (const k of cases) {
    const plan = await planOf(c, k.write);
    const reads = plan.filter((n) => n['Node Type'] !== 'ModifyTable' && (n['Relation Name'] === k.table || n['Index Name']?.startsWith(`${k.table}_`)));
    const show = (n: PlanNode) => `${n['Node Type']} ${n['Index Name'] ?? ''} ${n['Index Cond']?.slice(0, 80) ?? ''}`.trim();
    // A sequential scan reads the whole table; an index read keyed on neither the batch's ids
    // (`id = ANY`) nor one row of it (`id = x.id`, a nested loop) reads all of a tenant's
    // rows, or all active ones.
    const wrong = reads.filter((n) => n['Node Type'] === 'Seq Scan' || (n['Index Name'] !== undefined && !/\bid = (ANY\b|x\.id\b)/.test(n['Index Cond'] ?? '')));
    t.ok(reads.length > 0, `${k.name}: the plan reads ${k.table}`);
    t.same(
      wrong.map(show),
      [],
      `${k.name}: ${k.table} is read by index lookups (${reads.map(show).join('; ')})`,
    );
  }
});

// The reading insert's same-frame check looks up each new reading's device, frame counter and
// time. Its statistics can be old: taken while the table held a few thousand readings, as on
// a new deployment's first day or after a bulk load. From such statistics PostgreSQL turned
// the NOT EXISTS form into a hash anti-join that read all of sensor_readings per batch
// (bench:ingest, auto_explain); the check must stay one index probe per reading whatever
// the statistics say.
t.test('the same-frame check probes each reading by index, whatever the statistics', async (t) => {
  const db = await testDb(t);
  await seedFleets(db.owner, TENANT, [{ first: '70B3D5E7B1000000', devices: FLEET }]);
  const readingsOf = (count: number) =>
    db.owner.query(
      `INSERT INTO sensor_readings (tenant_id, device_id, space_id, dev_eui, deduplication_id, f_cnt, f_port, received_at, raw, kind)
       SELECT d.tenant_id, d.id, d.assigned_space_id, d.dev_eui, gen_random_uuid(), n, 1, now() - n * interval '1 second', '\\x01', 'status'
         FROM devices d CROSS JOIN generate_series(1, $1) n`,
      [count],
    );
  // Statistics of a table a fifth the size it then grows to.
  await readingsOf(1);
  await db.owner.query('ANALYZE sensor_readings');
  await readingsOf(4);
  const devices = (await db.owner.query<{ id: string; space: string; eui: string }>(
    `SELECT id, assigned_space_id AS space, dev_eui AS eui FROM devices ORDER BY random() LIMIT 500`,
  )).rows;
  const now = new Date();

  const c = await ingestTransaction(t, db);
  const plan = await planOf(c, (q) =>
    insertReadings(
      q,
      TENANT.id,
      devices.map((d, i) => ({
        deviceId: d.id, spaceId: d.space, devEui: d.eui, deduplicationId: crypto.randomUUID(), fCnt: 10 + i, fPort: 1,
        receivedAt: now, timeSource: 'event', eventTime: null, raw: Buffer.from([1]), kind: 'status', occupied: true, decoded: { kind: 'status' }, rssi: -80, snr: 5, gatewayEui: null,
      })),
    ),
  );
  const reads = plan.filter((n) => n['Node Type'] !== 'ModifyTable' && n['Relation Name'] === 'sensor_readings');
  const show = (n: PlanNode) => `${n['Node Type']} ${n['Index Name'] ?? ''} ${n['Index Cond']?.slice(0, 120) ?? ''}`.trim();
  t.ok(reads.length > 0, 'the plan reads sensor_readings');
  t.same(
    reads.filter((n) => !(n['Index Name'] === 'sensor_readings_device_time_idx' && /device_id = x\.device_id/.test(n['Index Cond'] ?? '') && /f_cnt = x\.f_cnt/.test(n['Index Cond'] ?? ''))).map(show),
    [],
    `sensor_readings is probed per reading by device, time and frame counter (${reads.map(show).join('; ')})`,
  );
});
