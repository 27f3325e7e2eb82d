/**
 * Owns who may do what on the embedded broker: the two identities (ChirpStack's and
 * baygate's own), their topic filters derived from the same templates that configure
 * ChirpStack and ingest, the timing-safe password check, and MQTT topic matching.
 *
 * The filters come from CHIRPSTACK_EVENT_TOPIC and CHIRPSTACK_COMMAND_TOPIC, the topics
 * ChirpStack is told to use (`event_topic`, `command_topic` in [integration.mqtt]). A topic
 * prefix set there is therefore part of the ACL, exactly as it is part of ingest's
 * subscription filter (ingest/main.ts), and nothing outside those two shapes is allowed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export const CHIRPSTACK_USERNAME = 'chirpstack';
export const BAYGATE_USERNAME = 'baygate';

export interface BrokerIdentity {
  readonly username: string;
  readonly password: string;
  /** Topic filters this identity may publish to (a PUBLISH topic must match one). */
  readonly publish: readonly string[];
  /** Topic filters this identity may subscribe to (a SUBSCRIBE filter must lie within one). */
  readonly subscribe: readonly string[];
}

/** `{name}` or ChirpStack's Handlebars `{{name}}` filling a whole level (as ingest/chirpstack.ts and ingest/displays.ts). */
const PLACEHOLDER_LEVEL = /^(?:\{\{\s*[A-Za-z_]+\s*\}\}|\{[A-Za-z_]+\})$/;

/**
 * The MQTT filter a topic template covers: each placeholder level becomes `+`. For the
 * default event template this is `application/+/device/+/event/+`, the filter ingest
 * subscribes to (ingest/chirpstack.ts compileTopicTemplate). The templates themselves are
 * validated where they are compiled; a level with braces or wildcards here is refused.
 */
export function templateFilter(template: string): string {
  return template
    .split('/')
    .map((level) => {
      if (PLACEHOLDER_LEVEL.test(level)) return '+';
      if (/[{}+#]/.test(level)) throw new Error(`topic template "${template}": "${level}" must be a literal level or one whole placeholder`);
      return level;
    })
    .join('/');
}

export interface BrokerPasswords {
  readonly chirpstack: string;
  readonly baygate: string;
}

/**
 * The two identities with least privilege: ChirpStack publishes events and subscribes to
 * commands (what its MQTT integration does, chirpstack/src/integration/mqtt.rs); baygate
 * subscribes to events (ingest) and publishes commands (the display sender).
 */
export function embeddedBrokerIdentities(p: BrokerPasswords & { eventTopic: string; commandTopic: string }): BrokerIdentity[] {
  const events = templateFilter(p.eventTopic);
  const commands = templateFilter(p.commandTopic);
  return [
    { username: CHIRPSTACK_USERNAME, password: p.chirpstack, publish: [events], subscribe: [commands] },
    { username: BAYGATE_USERNAME, password: p.baygate, publish: [commands], subscribe: [events] },
  ];
}

/** `mqtt://user:password@host:port` for a broker URL without credentials. */
export function urlWithCredentials(url: string, username: string, password: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(username);
  u.password = encodeURIComponent(password);
  return u.toString().replace(/\/$/, '');
}

/**
 * Looks up an identity by username and checks its password in constant time. Both sides
 * are hashed first, so timingSafeEqual always compares equal lengths and the time taken
 * says nothing about the password's length either.
 */
export function checkPassword(identities: readonly BrokerIdentity[], username: string | undefined, password: Buffer | undefined): BrokerIdentity | null {
  if (username === undefined || password === undefined) return null;
  const identity = identities.find((i) => i.username === username);
  // Hash something even for an unknown user, so its time matches a wrong password's.
  const expected = sha256(Buffer.from(identity?.password ?? ''));
  const ok = timingSafeEqual(expected, sha256(password));
  return identity && ok ? identity : null;
}

function sha256(b: Buffer): Buffer {
  return createHash('sha256').update(b).digest();
}

/** MQTT 3.1.1 §4.7: does `topic` (no wildcards) match `filter`? Topics starting with `$` never match a leading wildcard [MQTT-4.7.2-1]. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * Does every topic `filter` can match also match `allowed`? A subscription is granted only
 * then: `+` in allowed admits a literal or `+` at that level, `#` in allowed admits the
 * rest, and a `#` in the filter needs a `#` in allowed at or before it. A shared
 * subscription (`$share/<group>/<filter>`, MQTT 5 §4.8.2) is judged by its filter.
 */
export function filterWithin(allowed: string, filter: string): boolean {
  const shared = /^\$share\/[^/#+]+\/(.+)$/.exec(filter);
  if (shared) filter = shared[1]!;
  const a = allowed.split('/');
  const f = filter.split('/');
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '#') return !(filter.startsWith('$') && i === 0);
    if (i >= f.length) return false;
    if (f[i] === '#') return false;
    if (a[i] === '+') {
      if (i === 0 && f[i]!.startsWith('$')) return false;
      continue;
    }
    if (f[i] !== a[i]) return false;
  }
  return f.length === a.length;
}
