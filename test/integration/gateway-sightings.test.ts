// Gateways seen in uplinks (src/storage/gateways.ts touchGateways): the row moves forward
// with the uplinks, to within GATEWAY_SEEN_RESOLUTION_SECONDS, and a sighting inside that
// resolution takes no row lock, so a second ingest lane (or replica) never waits on another
// lane's open batch for the gateways they share.
import t from 'tap';
import { testDb } from '../helpers/db.js';
import { setTenant } from '../../src/db/tx.js';
import { GATEWAY_SEEN_RESOLUTION_SECONDS, touchGateways } from '../../src/storage/gateways.js';

const TENANT = '00000000-0000-4000-8000-000000000a7e';
const EUI = 'AA555A0000000001';

t.test('gateway sightings: forward to within the resolution, without waiting on another batch', async (t) => {
  const db = await testDb(t);
  await db.owner.query(`INSERT INTO tenants (id, name, slug) VALUES ($1, 'Gateway City', 'gateway-city')`, [TENANT]);
  const base = new Date('2026-11-24T12:00:00Z');
  const at = (seconds: number) => new Date(base.getTime() + seconds * 1000);
  const lastSeen = async () =>
    (await db.owner.query<{ last_seen_at: Date; lat: number | null }>('SELECT last_seen_at, lat FROM gateways WHERE gateway_eui = $1', [EUI])).rows[0];
  const batch = async () => {
    const c = await db.ingest.connect();
    await c.query('BEGIN');
    await setTenant(c, TENANT);
    return c;
  };
  const sight = (seconds: number, lat: number | null = null) => [{ gatewayEui: EUI, at: at(seconds), lat, lon: lat }];

  const first = await batch();
  await touchGateways(first, TENANT, sight(0));
  await first.query('COMMIT');
  first.release();
  t.same((await lastSeen())?.last_seen_at, at(0), 'a new gateway is recorded with its first uplink');

  // Lane A's batch moves the gateway forward and keeps its row locked until it commits.
  const a = await batch();
  await touchGateways(a, TENANT, sight(GATEWAY_SEEN_RESOLUTION_SECONDS + 5));
  // Lane B's sighting is within the resolution of what it can see: it must not wait for A.
  const b = await batch();
  await b.query(`SET LOCAL lock_timeout = '1s'`);
  await t.resolves(touchGateways(b, TENANT, sight(GATEWAY_SEEN_RESOLUTION_SECONDS - 5)), 'a recent sighting takes no lock held by another batch');
  await b.query('COMMIT');
  b.release();
  await a.query('COMMIT');
  a.release();
  t.same((await lastSeen())?.last_seen_at, at(GATEWAY_SEEN_RESOLUTION_SECONDS + 5), 'the later sighting is kept');

  const e = await batch();
  await touchGateways(e, TENANT, sight(GATEWAY_SEEN_RESOLUTION_SECONDS + 8));
  await e.query('COMMIT');
  e.release();
  t.same((await lastSeen())?.last_seen_at, at(GATEWAY_SEEN_RESOLUTION_SECONDS + 5), 'a sighting within the resolution leaves the row as it was');

  const c = await batch();
  await touchGateways(c, TENANT, sight(GATEWAY_SEEN_RESOLUTION_SECONDS + 10, 48.85));
  await c.query('COMMIT');
  c.release();
  t.same(await lastSeen(), { last_seen_at: at(GATEWAY_SEEN_RESOLUTION_SECONDS + 10), lat: 48.85 }, 'a location still unknown is filled in even within the resolution');

  const d = await batch();
  await touchGateways(d, TENANT, sight(2 * GATEWAY_SEEN_RESOLUTION_SECONDS + 20));
  await d.query('COMMIT');
  d.release();
  t.same((await lastSeen())?.last_seen_at, at(2 * GATEWAY_SEEN_RESOLUTION_SECONDS + 20), 'a sighting past the resolution moves the gateway forward');
});
