// Ingest decides on an unlocked read of its spaces and locks only those it changes
// (ingest/apply.ts). These are the races that choice must survive: a writer that changes a
// space between ingest's read and its lock, and heartbeats that change nothing.
import t, { type Test } from 'tap';
import { testApi } from '../helpers/api.js';
import { waitFor } from '../helpers/wait.js';
import { applyBatch } from '../../ingest/apply.js';
import { compileTopicTemplate } from '../../ingest/chirpstack.js';
import { eventTopic, upEvent } from '../../src/simulator/events.js';

const OCCUPIED = Buffer.from([0x01]); // nwave-nps405 fPort 1: bit 0 = occupied

/** A tenant with one space and its assigned sensor. */
async function fixture(t: Test) {
  const api = await testApi(t);
  const { token } = await api.register('acme');
  const space = (await api.request('POST', '/api/v6/spaces', { token, json: { code: 'S1' } })).body;
  const devEui = '70B3D5E75F000001';
  const device = (await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: devEui, device_type: 'sensor', decoder: 'nwave-nps405' } })).body;
  await api.request('POST', `/api/v6/devices/${device.id}/assign`, { token, json: { space_id: space.id } });
  return { api, space, device, devEui, topics: compileTopicTemplate(api.config.chirpstackEventTopic) };
}

t.test('a space changed by another writer between read and lock is decided again', async (t) => {
  const { api, space, devEui, topics } = await fixture(t);
  const uplink = (fCnt: number) => ({
    topic: eventTopic(api.config.chirpstackEventTopic, devEui, 'up'),
    payload: Buffer.from(JSON.stringify(upEvent({ devEui, fCnt, fPort: 1, data: OCCUPIED }))),
  });

  // Another writer (as an operator's maintenance change does) holds the space's lock.
  const holder = await api.db.owner.connect();
  t.teardown(() => holder.release());
  await holder.query('BEGIN');
  await holder.query('SELECT 1 FROM spaces WHERE id = $1 FOR NO KEY UPDATE', [space.id]);

  // Ingest reads the space (free, in service), decides "occupied", then waits for the lock.
  const c = await api.db.ingest.connect();
  t.teardown(() => c.release());
  await c.query('BEGIN');
  const applying = applyBatch(c, topics, [uplink(1)]).then(async (r) => {
    await c.query('COMMIT');
    return r;
  });
  await waitFor(
    async () => {
      const r = await api.db.owner.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`);
      return r.rows[0].n > 0;
    },
    10_000,
    'ingest waiting for the space lock',
  );
  // The writer puts the space into maintenance and commits while ingest waits.
  await holder.query(`UPDATE spaces SET maintenance = true, current_state = 'maintenance' WHERE id = $1`, [space.id]);
  await holder.query('COMMIT');

  const result = await applying;
  t.equal(result.uplinks, 1, 'the uplink is stored');
  const row = (await api.db.owner.query('SELECT current_state, sensor_state FROM spaces WHERE id = $1', [space.id])).rows[0];
  t.same(row, { current_state: 'maintenance', sensor_state: 'occupied' }, 'decided on the locked row: maintenance kept, the sensor recorded');
  const events = (await api.db.owner.query('SELECT to_state FROM space_events WHERE space_id = $1', [space.id])).rows;
  t.same(events, [], 'no event claims the space became occupied');
});

t.test('heartbeats that change nothing leave the space row untouched', async (t) => {
  const { api, space, device, devEui, topics } = await fixture(t);
  const apply = async (fCnt: number) => {
    const c = await api.db.ingest.connect();
    try {
      await c.query('BEGIN');
      await applyBatch(c, topics, [
        {
          topic: eventTopic(api.config.chirpstackEventTopic, devEui, 'up'),
          payload: Buffer.from(JSON.stringify(upEvent({ devEui, fCnt, fPort: 1, data: OCCUPIED, time: new Date(Date.now() + fCnt * 10_000) }))),
        },
      ]);
      await c.query('COMMIT');
    } finally {
      c.release();
    }
  };
  const xmin = async () => (await api.db.owner.query('SELECT xmin::text AS v, current_state FROM spaces WHERE id = $1', [space.id])).rows[0];
  await apply(1);
  const first = await xmin();
  t.equal(first.current_state, 'occupied', 'the first uplink changes the space');
  await apply(2);
  await apply(3);
  t.equal((await xmin()).v, first.v, 'two heartbeats later the row is the same version');
  const uplinks = (await api.db.owner.query('SELECT uplink_count::int AS n FROM devices WHERE id = $1', [device.id])).rows[0].n;
  t.equal(uplinks, 3, 'while the device counts every uplink');
});
