/**
 * The benchmarks' identity on the embedded broker: authenticated and under an ACL, as
 * npm start's clients are (src/mqtt/acl.ts), so the figures include both. One identity
 * plays ChirpStack and baygate at once (it publishes the uplinks and subscribes to them);
 * the topic filters are the ones the two production identities split between them.
 */
import { randomBytes } from 'node:crypto';
import { templateFilter, type BrokerIdentity } from '../../src/mqtt/acl.js';

export function benchIdentity(eventTemplate: string | null): BrokerIdentity {
  // null: a benchmark of MQTT plumbing with topics of its own.
  const filters = eventTemplate === null ? ['#'] : [templateFilter(eventTemplate)];
  return { username: 'bench', password: randomBytes(16).toString('base64url'), publish: filters, subscribe: filters };
}
