/**
 * Owns the live site view: every space of a site as a tile (state colour and word, how
 * long in that state, who holds it and until when, sensor battery and offline marks),
 * counts and occupancy on top, a state filter, kept current by the event stream; and a
 * map of the spaces above the tiles when spaces carry coordinates (web/src/map.ts).
 */
import { api, qs, type Page } from '../api.js';
import { clock, h, replace, since, status } from '../dom.js';
import { isOffline } from '../health.js';
import { openLive } from '../live.js';
import { coordinates, deviceCoordinates, spaceMap, type SpaceMap } from '../map.js';
import { SPACE_STATES, type Device, type LiveEvent, type Reservation, type Site, type Space, type SpaceState } from '../types.js';

/** How often the "for 5 min" texts are redrawn. */
const DURATION_REFRESH_MS = 15_000;
/** Events arriving close together refetch reservations and devices once. */
const REFETCH_DEBOUNCE_MS = 300;
/** The API's largest page; a site with more spaces is read page by page. */
const PAGE_SIZE = 500;
const LAST_SITE_KEY = 'baygate.site';

export async function listAll<T>(path: string, params: Record<string, string | undefined>): Promise<T[]> {
  const out: T[] = [];
  for (let page = 1; ; page++) {
    const r = await api<Page<T>>('GET', `${path}${qs({ ...params, page, page_size: PAGE_SIZE })}`);
    out.push(...r.items);
    if (out.length >= r.total || r.items.length === 0) return out;
  }
}

/** Occupancy as the API computes it (src/storage/spaces.ts occupancyPercent): occupied of those in service. */
function occupancyPercent(counts: Record<SpaceState, number>, total: number): number {
  const inService = total - counts.maintenance;
  return inService > 0 ? Math.round((counts.occupied / inService) * 1000) / 10 : 0;
}

export function liveView(main: HTMLElement, params: string[]): () => void {
  const spaces = new Map<string, Space>();
  const holds = new Map<string, Reservation>();
  const devices = new Map<string, Device>();
  let filter: SpaceState | '' = '';
  let siteId = params[0] ?? sessionStorage.getItem(LAST_SITE_KEY) ?? '';
  let site: Site | undefined;
  let disposed = false;
  let spacesMap: SpaceMap | undefined;

  const siteSelect = h('select', { id: 'site', name: 'site' });
  const stateSelect = h(
    'select',
    { id: 'state-filter', name: 'state' },
    h('option', { value: '' }, 'All states'),
    ...SPACE_STATES.map((s) => h('option', { value: s }, s)),
  );
  const conn = h('span', { class: 'conn', 'data-testid': 'connection' }, 'connecting…');
  const summary = h('section', { class: 'summary', 'aria-label': 'Counts', 'aria-live': 'polite' });
  const grid = h('ul', { class: 'grid', 'aria-label': 'Spaces' });
  const mapBox = h('div', { class: 'map', role: 'region', 'aria-label': 'Map of the spaces', 'data-testid': 'map', hidden: true });
  const msg = h('p', { class: 'status', role: 'status' });

  replace(
    main,
    h('h1', {}, 'Live site'),
    h(
      'div',
      { class: 'toolbar' },
      h('span', { class: 'field' }, h('label', { for: 'site' }, 'Site'), siteSelect),
      h('span', { class: 'field' }, h('label', { for: 'state-filter' }, 'Show'), stateSelect),
      conn,
    ),
    summary,
    msg,
    mapBox,
    grid,
  );

  siteSelect.addEventListener('change', () => {
    location.hash = `#/live/${siteSelect.value}`;
  });
  stateSelect.addEventListener('change', () => {
    filter = stateSelect.value as SpaceState | '';
    render();
  });

  function tile(s: Space): HTMLLIElement {
    const hold = s.current_state === 'reserved' || s.current_state === 'occupied' ? holds.get(s.id) : undefined;
    const dev = s.sensor_device_id ? devices.get(s.sensor_device_id) : undefined;
    const offline = dev && isOffline(dev);
    const marks: Array<HTMLElement> = [];
    if (dev && offline) marks.push(h('span', { class: 'mark offline' }, dev.last_seen_at ? 'offline' : 'no uplink yet'));
    if (dev?.battery !== null && dev?.battery !== undefined) {
      marks.push(h('span', { class: `mark${dev.low_battery ? ' low' : ''}` }, `battery ${dev.battery}%${dev.low_battery ? ' low' : ''}`));
    } else if (dev?.low_battery) marks.push(h('span', { class: 'mark low' }, 'battery low'));
    return h(
      'li',
      {},
      h(
        'a',
        {
          class: `tile state-${s.current_state}`,
          href: `#/space/${s.id}`,
          'data-space': s.code,
          'data-state': s.current_state,
        },
        h('span', { class: 'code' }, s.code),
        h('span', { class: 'state' }, s.current_state),
        h('span', { class: 'for' }, `for ${since(s.state_changed_at)}`),
        hold && h('span', { class: 'hold' }, `${hold.user_name ?? hold.user_email ?? 'reserved'} until ${clock(hold.end_time)}`),
        marks.length > 0 && h('span', { class: 'marks' }, ...marks),
      ),
    );
  }

  function render(): void {
    const all = [...spaces.values()].sort((a, b) => a.code.localeCompare(b.code, undefined, { numeric: true }));
    const counts = Object.fromEntries(SPACE_STATES.map((s) => [s, 0])) as Record<SpaceState, number>;
    for (const s of all) counts[s.current_state]++;
    replace(
      summary,
      h('span', { class: 'count total' }, h('strong', {}, all.length), ' spaces'),
      h('span', { class: 'count occupancy', 'data-testid': 'occupancy' }, h('strong', {}, `${occupancyPercent(counts, all.length)}%`), ' occupied'),
      ...SPACE_STATES.map((s) => h('span', { class: `count state-${s}`, 'data-testid': `count-${s}` }, h('strong', {}, counts[s]), ` ${s}`)),
    );
    const shown = filter ? all.filter((s) => s.current_state === filter) : all;
    replace(grid, ...shown.map(tile));
    renderMap(all, shown);
    if (all.length === 0) status(msg, 'This site has no spaces yet.');
    else if (shown.length === 0) status(msg, `No ${filter} spaces.`);
    else status(msg, '');
  }

  /**
   * The map shows while any space of the site has coordinates, or any of its sensors a
   * location ChirpStack resolved; the tiles below it stay the full list.
   */
  function renderMap(all: Space[], shown: Space[]): void {
    const located = [...devices.values()].filter((d) => deviceCoordinates(d) !== null);
    if (!all.some((s) => coordinates(s) !== null) && located.length === 0) {
      spacesMap?.destroy();
      spacesMap = undefined;
      mapBox.hidden = true;
      return;
    }
    mapBox.hidden = false; // before Leaflet measures the box
    spacesMap ??= spaceMap(mapBox, site, (id) => (location.hash = `#/space/${id}`));
    spacesMap.update(shown, located);
  }

  async function loadHolds(): Promise<void> {
    const active = await listAll<Reservation>('/api/v6/reservations', { site_id: siteId, status: 'active' });
    holds.clear();
    for (const r of active) holds.set(r.space_id, r);
  }

  async function loadDevice(id: string): Promise<void> {
    devices.set(id, await api<Device>('GET', `/api/v6/devices/${id}`));
  }

  async function loadSpaces(): Promise<void> {
    const list = await listAll<Space>('/api/v6/spaces', { site_id: siteId });
    spaces.clear();
    for (const s of list) spaces.set(s.id, s);
    await Promise.all([loadHolds(), ...list.filter((s) => s.sensor_device_id).map((s) => loadDevice(s.sensor_device_id!).catch(() => undefined))]);
  }

  // Reservation and device facts are not in the event: fetched again, once per burst.
  let pending: { holds: boolean; devices: Set<string>; spaces: boolean } = { holds: false, devices: new Set(), spaces: false };
  let debounce: ReturnType<typeof setTimeout> | undefined;
  function refetchSoon(what: { holds?: boolean; device?: string | null; spaces?: boolean }): void {
    if (what.holds) pending.holds = true;
    if (what.device) pending.devices.add(what.device);
    if (what.spaces) pending.spaces = true;
    clearTimeout(debounce);
    debounce = setTimeout(async () => {
      const p = pending;
      pending = { holds: false, devices: new Set(), spaces: false };
      try {
        if (p.spaces) await loadSpaces();
        else await Promise.all([p.holds ? loadHolds() : undefined, ...[...p.devices].map((d) => loadDevice(d))]);
        if (!disposed) render();
      } catch {
        /* the next event or a reload will catch up */
      }
    }, REFETCH_DEBOUNCE_MS);
  }

  function apply(e: LiveEvent): void {
    const s = spaces.get(e.space_id);
    if (!s) {
      refetchSoon({ spaces: true }); // a space added since the page loaded
      return;
    }
    // Events replayed on resume may be older than the snapshot: those are already in it.
    if (new Date(e.at).getTime() >= new Date(s.state_changed_at).getTime()) {
      s.current_state = e.to as SpaceState;
      s.state_changed_at = e.at;
    }
    refetchSoon({ holds: e.reservation_id !== null || e.from === 'reserved' || e.to === 'reserved', device: e.device_id ?? s.sensor_device_id });
    render();
  }

  // The stream opens before the snapshot is read; events that arrive meanwhile wait, so none falls in between.
  let buffered: LiveEvent[] | null = [];
  const stream = siteId
    ? openLive(
        { site_id: siteId },
        (e) => (buffered ? buffered.push(e) : apply(e)),
        (up) => {
          conn.textContent = up ? 'live' : 'reconnecting…';
          conn.classList.toggle('up', up);
        },
      )
    : null;

  const ticker = setInterval(render, DURATION_REFRESH_MS);

  (async () => {
    try {
      const sites = await listAll<Site>('/api/v6/sites', {});
      if (disposed) return;
      if (!siteId || !sites.some((s) => s.id === siteId)) {
        if (sites[0]) location.replace(`#/live/${sites[0].id}`);
        else status(msg, 'No sites yet.');
        return;
      }
      sessionStorage.setItem(LAST_SITE_KEY, siteId);
      site = sites.find((s) => s.id === siteId);
      replace(siteSelect, ...sites.map((s) => h('option', { value: s.id, selected: s.id === siteId }, s.name)));
      await loadSpaces();
      if (disposed) return;
      const early = buffered ?? [];
      buffered = null;
      for (const e of early) apply(e);
      render();
      main.dataset.ready = 'true';
    } catch (err) {
      status(msg, err instanceof Error ? err.message : String(err), 'error');
    }
  })();

  return () => {
    disposed = true;
    stream?.close();
    clearInterval(ticker);
    clearTimeout(debounce);
    spacesMap?.destroy();
    delete main.dataset.ready;
  };
}
