/**
 * Owns the ChirpStack v4 MQTT integration's event topics: the `event_topic` template, compiled
 * once into a subscription filter and a matcher that reads the application, DevEUI and event
 * kind of a received topic. Pure: no I/O, no clock, no logging. What a payload on such a
 * topic says is read by its kind's module (ingest/events/index.ts).
 *
 * Sources: `chirpstack/src/integration/mqtt.rs` and `chirpstack/src/config.rs` (the template,
 * rendered with Handlebars), the docs' `src/chirpstack/integrations/mqtt.md`.
 */

/** What the event topic says; `devEui` is 16 uppercase hex digits. */
export interface TopicMatch {
  /** Application UUID from the topic; '' when the template has no {application_id}. */
  applicationId: string;
  devEui: string;
  /** `up`, `status`, `join`, `ack`, `txack`, `log`, `location`, … (events.md "Event types"). */
  event: string;
}

export interface CompiledTopicTemplate {
  /** MQTT subscription filter, every placeholder replaced by `+`. */
  filter: string;
  /** Parses a received topic; null when it is not an event topic of this template. */
  match(topic: string): TopicMatch | null;
}

type Placeholder = 'application_id' | 'dev_eui' | 'event';
const PLACEHOLDERS: readonly Placeholder[] = ['application_id', 'dev_eui', 'event'];

/**
 * `{{name}}` is ChirpStack's own Handlebars form (`event_topic` default in `chirpstack/src/config.rs`:
 * `application/{{application_id}}/device/{{dev_eui}}/event/{{event}}`); `{name}` is the form the
 * docs use in prose and our config default.
 */
const PLACEHOLDER_LEVEL = /^(?:\{\{\s*([A-Za-z_]+)\s*\}\}|\{([A-Za-z_]+)\})$/;
const EUI64 = /^[0-9A-Fa-f]{16}$/;

/**
 * Compiles the ChirpStack `event_topic` template once at start-up. Throws an Error naming the
 * problem for a template ingest could not use: each placeholder must fill a whole topic level
 * (MQTT's `+` matches exactly one level, MQTT v5 §4.7.1.3), and {dev_eui} and {event} are required.
 */
export function compileTopicTemplate(template: string): CompiledTopicTemplate {
  const levels = template.split('/');
  const slots: (Placeholder | { literal: string })[] = [];
  const seen = new Set<Placeholder>();

  for (const level of levels) {
    const m = PLACEHOLDER_LEVEL.exec(level);
    if (m) {
      const name = (m[1] ?? m[2] ?? '') as Placeholder;
      if (!PLACEHOLDERS.includes(name)) {
        throw new Error(
          `ChirpStack event topic template "${template}": unknown placeholder {${name}}; ` +
            `allowed: ${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`,
        );
      }
      if (seen.has(name)) {
        throw new Error(`ChirpStack event topic template "${template}": {${name}} appears twice`);
      }
      seen.add(name);
      slots.push(name);
      continue;
    }
    if (level.includes('{') || level.includes('}')) {
      throw new Error(
        `ChirpStack event topic template "${template}": a placeholder must fill a whole topic level, got "${level}"`,
      );
    }
    if (level.includes('+') || level.includes('#')) {
      throw new Error(
        `ChirpStack event topic template "${template}": wildcards (+, #) are not allowed; write placeholders instead`,
      );
    }
    slots.push({ literal: level });
  }

  if (levels[0] === '$share') {
    // ChirpStack publishes to the plain topic; a shared-subscription prefix belongs to the
    // subscriber (MQTT v5 §4.8.2), which adds it to `filter` itself.
    throw new Error(
      `ChirpStack event topic template "${template}": remove the $share/<group>/ prefix; ` +
        `shared subscriptions are configured separately (MQTT_SHARE_GROUP)`,
    );
  }
  for (const required of ['dev_eui', 'event'] as const) {
    if (!seen.has(required)) {
      throw new Error(
        `ChirpStack event topic template "${template}" has no {${required}} placeholder; ` +
          `ChirpStack's default is application/{application_id}/device/{dev_eui}/event/{event}`,
      );
    }
  }

  const filter = slots.map((s) => (typeof s === 'string' ? '+' : s.literal)).join('/');

  function match(topic: string): TopicMatch | null {
    const parts = topic.split('/');
    if (parts.length !== slots.length) return null;
    const found: TopicMatch = { applicationId: '', devEui: '', event: '' };
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i];
      const part = parts[i] ?? '';
      if (slot === undefined) return null;
      if (typeof slot !== 'string') {
        // "MQTT topics are case-sensitive" (docs `src/chirpstack/integrations/mqtt.md`).
        if (part !== slot.literal) return null;
        continue;
      }
      // `+` also matches an empty level; none of our placeholders may be empty.
      if (part === '') return null;
      if (slot === 'dev_eui') {
        // ChirpStack writes the DevEUI as lowercase hex (`lrwn/src/eui64.rs` Display); we keep
        // DevEUIs uppercase everywhere.
        if (!EUI64.test(part)) return null;
        found.devEui = part.toUpperCase();
      } else if (slot === 'application_id') {
        found.applicationId = part;
      } else {
        found.event = part;
      }
    }
    return found;
  }

  return { filter, match };
}
