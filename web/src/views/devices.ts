/**
 * Owns the devices and gateways page: the tenant's health at a glance (offline sensors,
 * low batteries, gateways, dead letters of the last hour), every device with its last
 * uplink, battery and radio, filtered by type and offline; the gateways; and, for
 * technicians, the devices heard or known to ChirpStack that nobody registered yet, each
 * one click away from the install flow with its DevEUI filled in; and, for operators,
 * the newest dead letters (what ingest kept because it could not process it, and why).
 */
import { api, ApiError, qs, session, type Page } from '../api.js';
import { ago, h, replace, status, table, type Column } from '../dom.js';
import { isOffline } from '../health.js';
import { listAll } from './live.js';
import type { DeadLetter, Device, Gateway, Space, UnclaimedDevice } from '../types.js';

/** The page reads everything again this often, so "5 min ago" and offline marks stay true. */
const REFRESH_MS = 30_000;
/** Unclaimed devices shown at once; the heading says how many more there are. */
const UNCLAIMED_PAGE_SIZE = 100;
/** Dead letters listed; the heading gives the total. */
const DEAD_LETTER_PAGE_SIZE = 20;
/** GET /api/v6/devices/unclaimed needs technician or above (api/routes/unclaimed-devices.ts). */
const UNCLAIMED_ROLES = new Set(['technician', 'operator', 'admin', 'owner']);
/** GET /api/v6/dead-letters needs operator or above (api/routes/dead-letters.ts). */
const DEAD_LETTER_ROLES = new Set(['operator', 'admin', 'owner']);

/** The parts of GET /api/v6/dashboard/data this page shows. */
interface Dashboard {
  devices: { total: number; offline: number; never_seen: number; low_battery: number };
  gateways: { total: number; online: number; offline: number };
  system_health: { last_uplink_at: string | null; dead_letters_last_hour: number };
}

const plural = (n: number, word: string) => (n === 1 ? word : `${word}s`);
const radio = (rssi: number | null, snr: number | null) => (rssi === null ? '—' : `${rssi} dBm / ${snr ?? '—'} dB`);
const battery = (pct: number | null, low = false) => (pct === null ? (low ? 'low' : '—') : `${pct}%${low ? ' (low)' : ''}`);

export function devicesView(main: HTMLElement): () => void {
  const canClaim = UNCLAIMED_ROLES.has(session()?.user.role ?? '');
  const canSeeDead = DEAD_LETTER_ROLES.has(session()?.user.role ?? '');
  let devices: Device[] = [];
  let spaceCodes = new Map<string, string>();
  let disposed = false;

  const typeSelect = h(
    'select',
    { id: 'device-type', name: 'device_type' },
    h('option', { value: '' }, 'All types'),
    h('option', { value: 'sensor' }, 'Sensors'),
    h('option', { value: 'display' }, 'Displays'),
  );
  const offlineOnly = h('input', { id: 'offline-only', type: 'checkbox', name: 'offline' });
  const summary = h('section', { class: 'summary', 'aria-label': 'Health' });
  const msg = h('p', { class: 'status', role: 'status' });
  const deviceList = h('div', { 'data-testid': 'devices' });
  const gatewayList = h('div', { 'data-testid': 'gateways' });
  const unclaimedList = h('div', { 'data-testid': 'unclaimed' });
  const deadList = h('div', { 'data-testid': 'dead-letter-list' });

  replace(
    main,
    h('h1', {}, 'Devices and gateways'),
    summary,
    msg,
    h(
      'section',
      { 'aria-labelledby': 'devices-title' },
      h('h2', { id: 'devices-title' }, 'Devices'),
      h(
        'div',
        { class: 'toolbar' },
        h('span', { class: 'field' }, h('label', { for: 'device-type' }, 'Type'), typeSelect),
        h('span', { class: 'check' }, offlineOnly, h('label', { for: 'offline-only' }, 'Offline only')),
      ),
      deviceList,
    ),
    h('section', { 'aria-labelledby': 'gateways-title' }, h('h2', { id: 'gateways-title' }, 'Gateways'), gatewayList),
    canClaim &&
      h(
        'section',
        { 'aria-labelledby': 'unclaimed-title' },
        h('h2', { id: 'unclaimed-title' }, 'Unclaimed devices'),
        h('p', {}, h('small', {}, 'Heard on a ChirpStack application of this tenant, or listed by ChirpStack, but not registered here.')),
        unclaimedList,
      ),
    canSeeDead && h('section', { 'aria-labelledby': 'dead-title' }, h('h2', { id: 'dead-title' }, 'Dead letters'), deadList),
  );

  const deviceColumns: Column<Device>[] = [
    { label: 'DevEUI', cell: (d) => h('code', {}, d.dev_eui.toUpperCase()) },
    { label: 'Name', cell: (d) => d.name ?? '—' },
    { label: 'Type', cell: (d) => d.device_type },
    { label: 'Status', cell: (d) => `${d.status} · ${d.lifecycle_state}` },
    { label: 'Space', cell: (d) => (d.assigned_space_id ? h('a', { href: `#/space/${d.assigned_space_id}` }, spaceCodes.get(d.assigned_space_id) ?? 'space') : '—') },
    {
      label: 'Last seen',
      cell: (d) =>
        h('span', {}, ago(d.last_seen_at), isOffline(d) && h('span', { class: 'flag offline', 'data-testid': 'offline' }, d.last_seen_at ? 'offline' : 'no uplink yet')),
    },
    { label: 'Battery', cell: (d) => h('span', { class: d.low_battery ? 'flag-text low' : '' }, battery(d.battery, d.low_battery)) },
    { label: 'RSSI / SNR', cell: (d) => radio(d.rssi, d.snr) },
    { label: 'Uplinks', cell: (d) => d.uplink_count },
  ];

  function renderDevices(): void {
    const shown = offlineOnly.checked ? devices.filter((d) => isOffline(d)) : devices;
    const what = (n: number) => plural(n, typeSelect.value || 'device');
    replace(
      deviceList,
      shown.length === 0
        ? h('p', {}, devices.length === 0 ? `No ${what(0)} registered.` : `No offline ${what(0)}.`)
        : table(`${shown.length} ${offlineOnly.checked ? 'offline ' : ''}${what(shown.length)}`, deviceColumns, shown, (d) => ({ 'data-dev-eui': d.dev_eui.toLowerCase() })),
    );
  }

  async function loadDevices(): Promise<void> {
    const [list, spaces] = await Promise.all([
      listAll<Device>('/api/v6/devices', { device_type: typeSelect.value || undefined }),
      listAll<Space>('/api/v6/spaces', {}),
    ]);
    devices = list.sort((a, b) => a.dev_eui.localeCompare(b.dev_eui));
    spaceCodes = new Map(spaces.map((s) => [s.id, s.code]));
  }

  async function loadSummary(): Promise<void> {
    const d = await api<Dashboard>('GET', '/api/v6/dashboard/data');
    const count = (n: number, label: string, testid: string, warn = false) =>
      h('span', { class: `count${warn && n > 0 ? ' warn' : ''}`, 'data-testid': testid }, h('strong', {}, n), ` ${label}`);
    replace(
      summary,
      count(d.devices.total, plural(d.devices.total, 'device'), 'devices-total'),
      count(d.devices.offline, 'offline', 'devices-offline', true),
      count(d.devices.never_seen, 'never heard', 'devices-never-seen', true),
      count(d.devices.low_battery, 'low battery', 'devices-low-battery', true),
      count(d.gateways.online, `of ${d.gateways.total} ${plural(d.gateways.total, 'gateway')} online`, 'gateways-online'),
      count(d.system_health.dead_letters_last_hour, `dead ${plural(d.system_health.dead_letters_last_hour, 'letter')} in the last hour`, 'dead-letters', true),
      h('span', { class: 'count' }, 'last uplink ', h('strong', {}, ago(d.system_health.last_uplink_at))),
    );
  }

  async function loadGateways(): Promise<void> {
    const list = await listAll<Gateway>('/api/v6/gateways', {});
    const columns: Column<Gateway>[] = [
      { label: 'Gateway EUI', cell: (g) => h('code', {}, g.gateway_eui) },
      { label: 'Name', cell: (g) => g.name ?? '—' },
      { label: 'Status', cell: (g) => h('span', { class: g.status === 'offline' ? 'flag offline' : 'flag online' }, g.status) },
      { label: 'Last seen', cell: (g) => ago(g.last_seen_at) },
    ];
    replace(gatewayList, list.length === 0 ? h('p', {}, 'No gateways yet: ingest records each one that carries an uplink.') : table(`${list.length} ${plural(list.length, 'gateway')}`, columns, list));
  }

  async function loadUnclaimed(): Promise<void> {
    let page: Page<UnclaimedDevice>;
    try {
      page = await api<Page<UnclaimedDevice>>('GET', `/api/v6/devices/unclaimed${qs({ page_size: UNCLAIMED_PAGE_SIZE })}`);
    } catch (err) {
      // A server from before the unclaimed list: say so rather than fail the whole page.
      if (err instanceof ApiError && err.status === 404) {
        replace(unclaimedList, h('p', {}, 'This server does not list unclaimed devices.'));
        return;
      }
      throw err;
    }
    const columns: Column<UnclaimedDevice>[] = [
      { label: 'DevEUI', cell: (u) => h('code', {}, u.dev_eui.toUpperCase()) },
      { label: 'Source', cell: (u) => (u.source === 'uplink' ? 'heard' : 'ChirpStack') },
      { label: 'Name', cell: (u) => [u.name, u.device_profile_name].filter(Boolean).join(' · ') || '—' },
      { label: 'Last seen', cell: (u) => ago(u.last_seen_at) },
      { label: 'Uplinks', cell: (u) => u.uplink_count ?? '—' },
      { label: 'RSSI / SNR', cell: (u) => radio(u.last_rssi, u.last_snr) },
      { label: 'Battery', cell: (u) => battery(u.battery) },
      {
        label: 'Action',
        cell: (u) =>
          h('a', { class: 'button', href: `#/tech/${u.dev_eui.toLowerCase()}`, 'aria-label': `Register ${u.dev_eui.toUpperCase()}` }, 'Register'),
      },
    ];
    const more = page.total > page.items.length ? ` (showing ${page.items.length})` : '';
    replace(
      unclaimedList,
      page.items.length === 0
        ? h('p', { 'data-testid': 'unclaimed-empty' }, 'No unclaimed devices.')
        : table(`${page.total} unclaimed ${plural(page.total, 'device')}${more}`, columns, page.items, (u) => ({ 'data-unclaimed': u.dev_eui.toLowerCase() })),
    );
  }

  async function loadDeadLetters(): Promise<void> {
    const page = await api<Page<DeadLetter>>('GET', `/api/v6/dead-letters${qs({ page_size: DEAD_LETTER_PAGE_SIZE })}`);
    const columns: Column<DeadLetter>[] = [
      { label: 'Received', cell: (d) => h('time', { datetime: d.received_at }, ago(d.received_at)) },
      { label: 'Reason', cell: (d) => d.reason.replace(/_/g, ' ') },
      { label: 'DevEUI', cell: (d) => (d.dev_eui ? h('code', {}, d.dev_eui.toUpperCase()) : '—') },
      { label: 'Error', cell: (d) => d.error },
    ];
    const shown = page.total > page.items.length ? `the newest ${page.items.length} of ${page.total} dead letters` : `${page.total} ${plural(page.total, 'dead letter')}`;
    replace(deadList, page.items.length === 0 ? h('p', {}, 'No dead letters.') : table(shown, columns, page.items, (d) => ({ 'data-dead-letter': d.id })));
  }

  async function load(): Promise<void> {
    try {
      await Promise.all([loadSummary(), loadDevices(), loadGateways(), canClaim ? loadUnclaimed() : undefined, canSeeDead ? loadDeadLetters() : undefined]);
      if (disposed) return;
      renderDevices();
      status(msg, '');
      main.dataset.ready = 'true';
    } catch (err) {
      if (!disposed) status(msg, err instanceof Error ? err.message : String(err), 'error');
    }
  }

  typeSelect.addEventListener('change', () => {
    void loadDevices().then(renderDevices, (err: unknown) => status(msg, err instanceof Error ? err.message : String(err), 'error'));
  });
  offlineOnly.addEventListener('change', renderDevices);

  const timer = setInterval(() => void load(), REFRESH_MS);
  void load();

  return () => {
    disposed = true;
    clearInterval(timer);
    delete main.dataset.ready;
  };
}
