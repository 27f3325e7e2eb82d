/**
 * Owns the space detail: its state and sensor, maintenance on/off (operators), the
 * reservations for the space (list, create with the 409 conflict shown, cancel) and its
 * recent state history, read from the event stream's replay (`last_event_id=0` sends the
 * events of the last LIVE_REPLAY_MAX_HOURS, then keeps the list live).
 */
import { api, ApiError, session, type Page } from '../api.js';
import { h, localInput, replace, since, status, time } from '../dom.js';
import { openLive } from '../live.js';
import type { Device, LiveEvent, Reservation, Space } from '../types.js';

/** The history list keeps this many most recent events. */
const HISTORY_MAX = 50;
/** A new reservation's window defaults to now … now + this. */
const DEFAULT_RESERVATION_MS = 60 * 60_000;
/** Reservation statuses that can still be cancelled. */
const CANCELLABLE = new Set(['pending', 'active']);
/**
 * datetime-local has minute precision, so the pre-filled "now" is up to a minute old by
 * the time it is sent, and the API refuses starts more than RESERVATION_PAST_SKEW_SECONDS
 * in the past. A start within this much before now is taken to mean "now".
 */
const NOW_TOLERANCE_MS = 2 * 60_000;
function startTime(picked: Date): Date {
  const ago = Date.now() - picked.getTime();
  return ago >= 0 && ago < NOW_TOLERANCE_MS ? new Date() : picked;
}
const OPERATOR_ROLES = new Set(['operator', 'admin', 'owner']);

export function spaceView(main: HTMLElement, params: string[]): () => void {
  const id = params[0]!;
  const canOperate = OPERATOR_ROLES.has(session()?.user.role ?? '');
  const title = h('h1', {}, 'Space');
  const facts = h('dl', { class: 'facts' });
  const maintMsg = h('p', { class: 'status', role: 'status' });
  const maintButton = h('button', { type: 'button', class: 'secondary' }, '…');
  const list = h('ul', { class: 'list', 'aria-label': 'Reservations' });
  const history = h('ol', { class: 'list history', 'aria-label': 'State history' });
  const resMsg = h('p', { class: 'status', role: 'alert', 'data-testid': 'reservation-message' });
  const now = new Date();
  const start = h('input', { id: 'res-start', type: 'datetime-local', required: true, value: localInput(now) });
  const end = h('input', { id: 'res-end', type: 'datetime-local', required: true, value: localInput(new Date(now.getTime() + DEFAULT_RESERVATION_MS)) });
  const name = h('input', { id: 'res-name', type: 'text', maxlength: 200, autocomplete: 'name' });
  const email = h('input', { id: 'res-email', type: 'email', maxlength: 320, autocomplete: 'email' });
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'res-title' },
    h('h2', { id: 'res-title' }, 'New reservation'),
    h('div', { class: 'row' },
      h('span', { class: 'field' }, h('label', { for: 'res-start' }, 'From'), start),
      h('span', { class: 'field' }, h('label', { for: 'res-end' }, 'Until'), end)),
    h('div', { class: 'row' },
      h('span', { class: 'field' }, h('label', { for: 'res-name' }, 'Name'), name),
      h('span', { class: 'field' }, h('label', { for: 'res-email' }, 'Email'), email)),
    h('button', { type: 'submit' }, 'Reserve'),
    resMsg,
  );
  let space: Space | null = null;

  replace(
    main,
    h('p', {}, h('a', { href: '#/live', id: 'back' }, '← Live site')),
    title,
    h('section', { class: 'card', 'aria-label': 'State' }, facts, canOperate && maintButton, maintMsg),
    h('section', { 'aria-labelledby': 'res-list-title' }, h('h2', { id: 'res-list-title' }, 'Reservations'), list, canOperate && form),
    h('section', { 'aria-labelledby': 'history-title' }, h('h2', { id: 'history-title' }, 'History (last 24 h)'), history),
  );

  async function loadSpace(): Promise<void> {
    space = await api<Space>('GET', `/api/v6/spaces/${id}`);
    const dev = space.sensor_device_id ? await api<Device>('GET', `/api/v6/devices/${space.sensor_device_id}`).catch(() => null) : null;
    title.textContent = `Space ${space.code}`;
    (document.getElementById('back') as HTMLAnchorElement | null)?.setAttribute('href', `#/live/${space.site_id}`);
    const row = (k: string, v: Node | string) => [h('dt', {}, k), h('dd', {}, v)];
    replace(
      facts,
      ...row('State', h('span', { class: `badge state-${space.current_state}`, 'data-testid': 'space-state' }, space.current_state)),
      ...row('Since', `${time(space.state_changed_at)} (${since(space.state_changed_at)})`),
      ...row('Sensor says', space.sensor_state),
      ...row('Sensor', dev ? `${dev.dev_eui} · ${dev.lifecycle_state} · last seen ${dev.last_seen_at ? `${since(dev.last_seen_at)} ago` : 'never'}${dev.battery !== null ? ` · battery ${dev.battery}%` : ''}${dev.rssi !== null ? ` · RSSI ${dev.rssi} dBm` : ''}` : 'none assigned'),
    );
    const inMaint = space.current_state === 'maintenance';
    maintButton.textContent = inMaint ? 'Take out of maintenance' : 'Put in maintenance';
  }

  async function loadReservations(): Promise<void> {
    const r = await api<Page<Reservation>>('GET', `/api/v6/reservations?space_id=${id}&page_size=100`);
    const items = r.items.sort((a, b) => b.start_time.localeCompare(a.start_time));
    if (items.length === 0) {
      replace(list, h('li', {}, 'No reservations.'));
      return;
    }
    replace(
      list,
      ...items.map((res) =>
        h(
          'li',
          { 'data-reservation': res.id },
          h('span', {}, `${time(res.start_time)} – ${time(res.end_time)}`),
          h('span', {}, res.user_name ?? res.user_email ?? '—'),
          h('span', { class: `badge res-${res.status}` }, res.status),
          canOperate && CANCELLABLE.has(res.status) &&
            h('button', { type: 'button', class: 'secondary', 'aria-label': `Cancel reservation from ${time(res.start_time)}`, onclick: () => void cancel(res.id) }, 'Cancel'),
        ),
      ),
    );
  }

  async function cancel(resId: string): Promise<void> {
    try {
      await api('PUT', `/api/v6/reservations/${resId}/cancel`, { cancellation_reason: 'cancelled in the console' });
      status(resMsg, 'Reservation cancelled.');
      await Promise.all([loadReservations(), loadSpace()]);
    } catch (err) {
      status(resMsg, err instanceof Error ? err.message : String(err), 'error');
    }
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status(resMsg, 'Reserving…');
    try {
      await api('POST', '/api/v6/reservations', {
        space_id: id,
        start_time: startTime(new Date(start.value)).toISOString(),
        end_time: new Date(end.value).toISOString(),
        user_name: name.value.trim() || null,
        user_email: email.value.trim() || null,
      });
      status(resMsg, 'Reserved.');
      await Promise.all([loadReservations(), loadSpace()]);
    } catch (err) {
      if (err instanceof ApiError) {
        // A 409 names the reservations in the way; show them, not only the headline.
        const more = err.details.map((d) => d.message).filter(Boolean);
        status(resMsg, [err.message, ...more].join(' — '), 'error');
      } else status(resMsg, String(err), 'error');
    }
  });

  maintButton.addEventListener('click', async () => {
    if (!space) return;
    const entering = space.current_state !== 'maintenance';
    try {
      // Only `maintenance` can be set; any other state ends it and the sensor decides again.
      await api('PATCH', `/api/v6/spaces/${id}`, { current_state: entering ? 'maintenance' : 'free' });
      status(maintMsg, entering ? 'In maintenance.' : 'Out of maintenance.');
      await loadSpace();
    } catch (err) {
      status(maintMsg, err instanceof Error ? err.message : String(err), 'error');
    }
  });

  const seen: LiveEvent[] = [];
  function renderHistory(): void {
    if (seen.length === 0) replace(history, h('li', {}, 'No changes in the last 24 hours.'));
    else replace(history, ...seen.map((e) => h('li', {}, h('time', { datetime: e.at }, time(e.at)), ` ${e.from} → ${e.to}`, h('span', { class: 'cause' }, ` (${e.cause.replace(/_/g, ' ')})`))));
  }
  renderHistory();
  const stream = openLive({ space_id: id, last_event_id: 0 }, (e) => {
    seen.unshift(e);
    seen.length = Math.min(seen.length, HISTORY_MAX);
    renderHistory();
    void loadSpace().catch(() => undefined);
  });

  Promise.all([loadSpace(), loadReservations()]).then(
    () => (main.dataset.ready = 'true'),
    (err) => status(maintMsg, err instanceof Error ? err.message : String(err), 'error'),
  );

  return () => {
    stream.close();
    delete main.dataset.ready;
  };
}
