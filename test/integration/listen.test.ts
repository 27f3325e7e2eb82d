// src/db/listen.ts: a LISTEN connection whose first connect fails keeps trying in the
// background and hears its channels once the database can be reached. (It used to give up:
// a CI run's ingest lost its webhook wake-ups for good when that connect timed out under load.)
import t from 'tap';
import net from 'node:net';
import { listen } from '../../src/db/listen.js';
import { createLogger } from '../../src/log.js';
import { freePort } from '../../src/net.js';
import { testDb } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

t.test('a database unreachable at first: listen() returns, retries, and LISTENs once it is reachable', async (t) => {
  const db = await testDb(t);
  const real = new URL(db.url);
  // The listener is pointed at a port where nothing listens yet.
  const port = await freePort();
  const url = new URL(db.url);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  let connects = 0;
  const heard: unknown[] = [];
  const l = await listen({
    databaseUrl: url.toString(),
    role: 'baygate_ingest',
    applicationName: 'baygate-test-listen',
    log: createLogger('silent'),
    channels: { bgt_test_listen: (payload) => heard.push(payload) },
    onConnected: () => connects++,
  });
  t.equal(l.connected(), false, 'not connected while nothing listens on the port');
  t.equal(connects, 0);

  // Then the database becomes reachable there: a TCP relay to the real one.
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((client) => {
    const server = net.connect(Number(real.port), real.hostname);
    for (const s of [client, server]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => (client.destroy(), server.destroy()));
    }
    client.pipe(server).pipe(client);
  });
  await new Promise<void>((resolve) => relay.listen(port, '127.0.0.1', resolve));
  t.teardown(async () => {
    await l.stop();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => relay.close(() => resolve()));
  });

  await waitFor(() => l.connected(), 30_000, 'the background reconnect');
  t.ok(connects >= 1, 'onConnected runs after the late connect, for the caller to catch up');
  await db.owner.query(`SELECT pg_notify('bgt_test_listen', '{"n":1}')`);
  await waitFor(() => heard.length === 1, 10_000, 'the notification');
  t.same(heard, [{ n: 1 }], 'the channel was LISTENed by the reconnect');
});
