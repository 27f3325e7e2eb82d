// Webhook signatures, the inbound bearer credential and the SSRF address check: pure functions, table-driven.
import t from 'tap';
import { createHmac } from 'node:crypto';
import { signatureHeader, verifySignature, newSecret } from '../../src/webhooks/signature.js';
import { isRefusedAddress } from '../../src/webhooks/target.js';
import { bearerToken, verifyBearer } from '../../src/webhooks/bearer.js';
import { SPOOL_EVENTS } from '../../src/storage/webhook-spool.js';
import { EVENT_KINDS, isAppliedKind } from '../../ingest/events/index.js';
import { retryDelaySeconds } from '../../ingest/jobs/deliver-webhooks.js';

const secret = newSecret();
const body = Buffer.from('{"deviceInfo":{"devEui":"70b3d5e75e000001"},"note":"Café"}');
const now = new Date('2026-11-24T10:00:00Z');
const ts = Math.floor(now.getTime() / 1000);
const v1 = (s: string, t: number, b: Buffer = body) => createHmac('sha256', s).update(`${t}.`).update(b).digest('hex');

t.test('verifySignature', async (t) => {
  const cases: [string, string | undefined, string[], { ok: boolean; reason?: string }][] = [
    ['valid', `t=${ts},v1=${v1(secret, ts)}`, [secret], { ok: true }],
    ['valid with spaces and a second v1', `t=${ts}, v1=${'0'.repeat(64)}, v1=${v1(secret, ts)}`, [secret], { ok: true }],
    ['the previous secret during rotation', `t=${ts},v1=${v1(secret, ts)}`, [newSecret(), secret], { ok: true }],
    ['missing', undefined, [secret], { ok: false, reason: 'missing' }],
    ['no timestamp', `v1=${v1(secret, ts)}`, [secret], { ok: false, reason: 'malformed' }],
    ['short hex', `t=${ts},v1=abcd`, [secret], { ok: false, reason: 'malformed' }],
    ['301 s old', `t=${ts - 301},v1=${v1(secret, ts - 301)}`, [secret], { ok: false, reason: 'stale' }],
    ['299 s old', `t=${ts - 299},v1=${v1(secret, ts - 299)}`, [secret], { ok: true }],
    ['wrong secret', `t=${ts},v1=${v1(newSecret(), ts)}`, [secret], { ok: false, reason: 'mismatch' }],
    ['timestamp swapped', `t=${ts + 1},v1=${v1(secret, ts)}`, [secret], { ok: false, reason: 'mismatch' }],
    ['no secrets', `t=${ts},v1=${v1(secret, ts)}`, [], { ok: false, reason: 'mismatch' }],
  ];
  for (const [name, header, secrets, want] of cases) t.same(verifySignature(header, body, secrets, now), want, name);
  t.same(verifySignature(signatureHeader(secret, body, now), body, [secret], now), { ok: true }, 'signatureHeader round-trips');
  t.match(newSecret(), /^whsec_[A-Za-z0-9_-]{43}$/);
});

t.test('bearerToken and verifyBearer: the static header ChirpStack can send', async (t) => {
  const cases: [string, string | undefined, string | undefined][] = [
    ['Bearer', `Bearer ${secret}`, secret],
    ['scheme in any case (RFC 9110 §11.1)', `bEARER ${secret}`, secret],
    ['several spaces, trailing space', `Bearer   ${secret} `, secret],
    ['no header', undefined, undefined],
    ['empty', '', undefined],
    ['no scheme', secret, undefined],
    ['Basic', `Basic ${Buffer.from(`u:${secret}`).toString('base64')}`, undefined],
    ['two tokens', `Bearer ${secret} ${secret}`, undefined],
    ['no token', 'Bearer ', undefined],
  ];
  for (const [name, header, want] of cases) t.equal(bearerToken(header), want, name);
  t.equal(verifyBearer(secret, [secret]), true, 'the current secret');
  t.equal(verifyBearer(secret, [newSecret(), secret]), true, 'the previous secret during rotation');
  t.equal(verifyBearer(secret, [newSecret()]), false, 'another secret');
  t.equal(verifyBearer(secret.slice(0, -1), [secret]), false, 'a prefix');
  t.equal(verifyBearer(`${secret}x`, [secret]), false, 'longer');
  t.equal(verifyBearer(secret, []), false, 'no secrets');
});

t.test('the HTTP integration spools exactly the kinds ingest applies', async (t) => {
  // SPOOL_EVENTS (and migration 0021's CHECK) must follow the event table: a kind added there
  // but not here would be answered "ignored" over HTTP while MQTT applies it.
  const applied = Object.keys(EVENT_KINDS).filter(isAppliedKind).sort();
  t.same([...SPOOL_EVENTS].sort(), applied);
  t.notOk(isAppliedKind('integration'), 'integration is counted, not spooled');
});

t.test('isRefusedAddress', async (t) => {
  const refused = ['127.0.0.1', '10.0.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1',
    '::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '::ffff:7f00:1', '64:ff9b::7f00:1', '64:ff9b:1::a00:1',
    '2001:db8::1', 'fec0::1', 'not-an-ip',
    // Issue 19 §7: transition forms that embed an IPv4 address a relay would reach.
    '2002:7f00:1::1', '2002:c0a8:101::', '2001:0:4136:e378:8000:63bf:3fff:fdd2', '::7f00:1', '::10.0.0.1'];
  const allowed = ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:2800:220:1:248:1893:25c8:1946', '::ffff:8.8.8.8', '2001:4860:4860::8888', '2003::1'];
  for (const a of refused) t.equal(isRefusedAddress(a), true, `${a} refused`);
  for (const a of allowed) t.equal(isRefusedAddress(a), false, `${a} allowed`);
});

t.test('retryDelaySeconds: the schedule, its last step repeating, ±20 % jitter', async (t) => {
  const schedule = [60, 300, 900, 3600, 21600];
  t.equal(retryDelaySeconds(schedule, 1, () => 0.5), 60);
  t.equal(retryDelaySeconds(schedule, 5, () => 0.5), 21600);
  t.equal(retryDelaySeconds(schedule, 9, () => 0.5), 21600);
  t.ok(Math.abs(retryDelaySeconds(schedule, 2, () => 0) - 240) < 1e-9, 'at least -20 %');
  t.ok(Math.abs(retryDelaySeconds(schedule, 2, () => 1) - 360) < 1e-9, 'at most +20 %');
});
