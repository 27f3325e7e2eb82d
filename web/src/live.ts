/**
 * Owns the live event stream: an EventSource on /api/v6/events with the token in the
 * query (EventSource cannot set headers). The browser resumes on its own after a drop,
 * sending Last-Event-ID; when the server refuses the reconnect (the token expired) the
 * stream is reopened here with a refreshed token and `last_event_id`, so no event is lost.
 */
import { accessToken, qs, refresh } from './api.js';
import type { LiveEvent } from './types.js';

/** The `event:` names the server sends (src/storage/space-events.ts EVENT_TYPES). */
const EVENT_TYPES = ['space_state', 'reservation', 'device_health', 'overstay'] as const;
/** Wait before reopening a stream the browser gave up on. */
const REOPEN_DELAY_MS = 2_000;

export interface LiveStream {
  close(): void;
}

export function openLive(
  filter: { site_id?: string; space_id?: string; last_event_id?: number },
  onEvent: (e: LiveEvent) => void,
  onState: (connected: boolean) => void = () => undefined,
): LiveStream {
  let lastId = filter.last_event_id;
  let source: EventSource | null = null;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const open = () => {
    const token = accessToken();
    if (closed || !token) return;
    const es = new EventSource(
      `/api/v6/events${qs({ access_token: token, site_id: filter.site_id, space_id: filter.space_id, last_event_id: lastId })}`,
    );
    source = es;
    es.onopen = () => onState(true);
    const handle = (m: MessageEvent<string>) => {
      const e = JSON.parse(m.data) as LiveEvent;
      lastId = e.id;
      onEvent(e);
    };
    for (const t of EVENT_TYPES) es.addEventListener(t, handle as EventListener);
    es.onerror = () => {
      onState(false);
      // CONNECTING: the browser is retrying itself (with Last-Event-ID). CLOSED: it gave up.
      if (es.readyState !== EventSource.CLOSED || closed) return;
      timer = setTimeout(async () => {
        await refresh().catch(() => false);
        open();
      }, REOPEN_DELAY_MS);
    };
  };
  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      source?.close();
    },
  };
}
