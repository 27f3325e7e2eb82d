// The embedded broker's ACL and packet-size guard, table-tested: topic matching (MQTT 3.1.1
// §4.7), which subscription filters lie within an allowed one, the identities' filters
// from the topic templates, the password check, and packet boundaries across chunks.
import t from 'tap';
import {
  BAYGATE_USERNAME, CHIRPSTACK_USERNAME, checkPassword, embeddedBrokerIdentities, filterWithin, templateFilter, topicMatches, urlWithCredentials,
} from '../../src/mqtt/acl.js';
import { PacketSizeGuard } from '../../src/mqtt/packet-size.js';

const EVENTS = 'application/+/device/+/event/+';
const COMMANDS = 'application/+/device/+/command/+';
const APP = '6c0a2b8e-2c4a-4d2e-9a51-0f6c7e3d1a11';

t.test('topicMatches', async (t) => {
  const cases: [string, string, boolean][] = [
    [EVENTS, `application/${APP}/device/0102030405060708/event/up`, true],
    [EVENTS, `application/${APP}/device/0102030405060708/event`, false],
    [EVENTS, `application/${APP}/device/0102030405060708/event/up/extra`, false],
    [EVENTS, `application/${APP}/device/0102030405060708/command/down`, false],
    [EVENTS, `pfx/application/${APP}/device/0102030405060708/event/up`, false],
    ['#', 'anything/at/all', true],
    ['#', '$SYS/broker/uptime', false],
    ['+/x', '$SYS/x', false],
    ['a/#', 'a', true],
    ['a/+', 'a/', true],
  ];
  for (const [filter, topic, want] of cases) t.equal(topicMatches(filter, topic), want, `${filter} ~ ${topic}`);
});

t.test('filterWithin', async (t) => {
  const cases: [string, string, boolean][] = [
    [COMMANDS, COMMANDS, true],
    [COMMANDS, `application/${APP}/device/+/command/+`, true],
    [COMMANDS, `application/${APP}/device/0102030405060708/command/down`, true],
    [COMMANDS, '#', false],
    [COMMANDS, 'application/#', false],
    [COMMANDS, 'application/+/device/+/command/#', false],
    [COMMANDS, '+/+/+/+/+/+', false],
    [COMMANDS, EVENTS, false],
    [COMMANDS, `application/+/device/+/command`, false],
    [EVENTS, `$share/g/${EVENTS}`, true],
    [EVENTS, `$share/g/#`, false],
    ['#', '$SYS/#', false],
    ['#', 'a/+/b', true],
  ];
  for (const [allowed, filter, want] of cases) t.equal(filterWithin(allowed, filter), want, `${filter} within ${allowed}`);
});

t.test('identities: filters from the templates, least privilege', async (t) => {
  t.equal(templateFilter('application/{application_id}/device/{dev_eui}/event/{event}'), EVENTS);
  t.equal(templateFilter('pfx/application/{{ application_id }}/device/{{dev_eui}}/command/{{command}}'), `pfx/${COMMANDS}`);
  t.throws(() => templateFilter('application/#'), /literal level/);
  const ids = embeddedBrokerIdentities({
    chirpstack: 'cs',
    baygate: 'bg',
    eventTopic: 'application/{application_id}/device/{dev_eui}/event/{event}',
    commandTopic: 'application/{application_id}/device/{dev_eui}/command/{command}',
  });
  t.same(
    ids.map((i) => [i.username, i.publish, i.subscribe]),
    [
      [CHIRPSTACK_USERNAME, [EVENTS], [COMMANDS]],
      [BAYGATE_USERNAME, [COMMANDS], [EVENTS]],
    ],
  );
  t.equal(checkPassword(ids, 'chirpstack', Buffer.from('cs'))?.username, 'chirpstack');
  t.equal(checkPassword(ids, 'chirpstack', Buffer.from('bg')), null, "another identity's password");
  t.equal(checkPassword(ids, 'chirpstack', Buffer.from('c')), null, 'a prefix of the password');
  t.equal(checkPassword(ids, 'nobody', Buffer.from('')), null, 'unknown user');
  t.equal(checkPassword(ids, undefined, undefined), null, 'anonymous');
  t.equal(checkPassword(ids, 'chirpstack', undefined), null, 'no password');
  t.equal(urlWithCredentials('mqtt://h:1883', 'chirpstack', 'a/b@c'), 'mqtt://chirpstack:a%2Fb%40c@h:1883');
});

/** A PUBLISH packet's bytes with a body of n bytes (fixed header + Remaining Length). */
function packet(n: number): Buffer {
  const len: number[] = [];
  let x = n;
  do {
    let b = x % 128;
    x = Math.floor(x / 128);
    if (x > 0) b |= 0x80;
    len.push(b);
  } while (x > 0);
  return Buffer.concat([Buffer.from([0x30, ...len]), Buffer.alloc(n)]);
}

t.test('PacketSizeGuard follows packet boundaries across chunks', async (t) => {
  const stream = Buffer.concat([packet(0), packet(10), packet(200), packet(1000), packet(127), packet(128)]);
  for (const size of [1, 2, 3, 7, 64, stream.length]) {
    const g = new PacketSizeGuard(1003); // 1 + 2 + 1000: the largest packet exactly
    let refused: number | null = null;
    for (let i = 0; i < stream.length && refused === null; i += size) refused = g.check(stream.subarray(i, i + size));
    t.equal(refused, null, `chunks of ${size}: nothing over the limit`);
  }
  const big = new PacketSizeGuard(1002);
  t.equal(big.check(Buffer.concat([packet(5), packet(1000)])), 1003, 'the first packet over the limit is named by its size');
  const header = new PacketSizeGuard(256 * 1024);
  t.equal(header.check(packet(300 * 1024).subarray(0, 4)), 1 + 3 + 300 * 1024, 'refused from its header alone, before the body arrives');
  t.equal(new PacketSizeGuard(10).check(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff])), Infinity, 'a Remaining Length over 4 bytes is malformed');
});
