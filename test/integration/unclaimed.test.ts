// Unclaimed devices (src/storage/unclaimed.ts recordUnclaimed): an uplink counts once, however
// often the broker delivers it (a lost PUBACK after commit redelivers the whole batch).
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { testDb } from '../helpers/db.js';
import { recordUnclaimed, UNCLAIMED_RECENT_IDS, type UnclaimedSighting } from '../../src/storage/unclaimed.js';

const EUI = 'A84041000181C0DF';

t.test('unclaimed devices: redelivered uplinks are not counted again', async (t) => {
  const db = await testDb(t);
  const base = new Date('2026-11-24T12:00:00Z');
  const sighting = (seconds: number, ids: string[], rssi: number): UnclaimedSighting => ({
    devEui: EUI,
    applicationId: null,
    at: new Date(base.getTime() + seconds * 1000),
    deduplicationIds: ids,
    rssi,
    snr: 7,
    gatewayEui: '0016C001F153A14C',
    fPort: 1,
    data: Buffer.from([seconds]),
  });
  const record = async (s: UnclaimedSighting) => {
    const c = await db.ingest.connect();
    try {
      await recordUnclaimed(c, [s]);
    } finally {
      c.release();
    }
  };
  const row = async () =>
    (
      await db.owner.query<{ uplink_count: string; last_rssi: number; last_seen_at: Date; recent_deduplication_ids: string[] }>(
        'SELECT uplink_count, last_rssi, last_seen_at, recent_deduplication_ids FROM unclaimed_devices WHERE dev_eui = $1',
        [EUI],
      )
    ).rows[0]!;

  const first = [randomUUID(), randomUUID()];
  await record(sighting(10, first, -90));
  t.equal(Number((await row()).uplink_count), 2, 'a new device counts its batch');

  await record(sighting(10, first, -90));
  t.equal(Number((await row()).uplink_count), 2, 'the same batch delivered again counts nothing');

  const next = randomUUID();
  await record(sighting(20, [first[1]!, next], -80));
  t.match(await row(), { uplink_count: '3', last_rssi: -80 }, 'a batch of one redelivered and one new uplink counts one');
  t.same((await row()).recent_deduplication_ids, [...first, next], 'recent ids in arrival order, each once');

  // Late and redelivered: the newest facts stay.
  await record(sighting(10, first, -90));
  t.match(await row(), { uplink_count: '3', last_rssi: -80, last_seen_at: new Date(base.getTime() + 20_000) });

  const many = Array.from({ length: UNCLAIMED_RECENT_IDS + 8 }, () => randomUUID());
  await record(sighting(30, many, -70));
  t.equal(Number((await row()).uplink_count), 3 + many.length, 'a batch longer than the recent list still counts every uplink');
  t.same((await row()).recent_deduplication_ids, many.slice(-UNCLAIMED_RECENT_IDS), 'only the latest ids are kept');
  await record(sighting(30, many.slice(-4), -70));
  t.equal(Number((await row()).uplink_count), 3 + many.length, 'a redelivery of the latest uplinks counts nothing');
});
