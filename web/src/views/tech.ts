/**
 * Owns the technician's install flow, made for a phone at the curb: DevEUI → register
 * with a decoder → pick site and space → assign → watch for the first uplink, which turns
 * the device `operational` and shows what it decoded (the space's sensor state, battery,
 * radio). The decoder list is the one the API validates against, read from /openapi.json.
 */
import { api, ApiError } from '../api.js';
import { h, replace, since, status } from '../dom.js';
import { listAll } from './live.js';
import type { Device, Site, Space } from '../types.js';

/** How often the device is polled while waiting for its first uplink. */
const POLL_MS = 1_500;
/** "70-b3-d5 …", "70:B3:D5…" and spaces are all accepted: only the hex digits count. */
const normalizeEui = (s: string) => s.replace(/[^0-9a-fA-F]/g, '').toLowerCase();

async function decoderNames(): Promise<string[]> {
  const doc = (await fetch('/openapi.json').then((r) => r.json())) as {
    paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, { enum?: unknown[] }> } }> } }>>;
  };
  const props = doc.paths['/api/v6/devices']?.post?.requestBody?.content?.['application/json']?.schema?.properties;
  return (props?.decoder?.enum ?? []).filter((x): x is string => typeof x === 'string');
}

export function techView(main: HTMLElement): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let disposed = false;
  let device: Device | null = null;

  const eui = h('input', {
    id: 'dev-eui', name: 'dev_eui', inputmode: 'text', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false',
    required: true, placeholder: '70B3D57ED0001234', 'aria-describedby': 'dev-eui-help',
  });
  const decoder = h('select', { id: 'decoder', name: 'decoder', required: true });
  const regMsg = h('p', { class: 'status', role: 'alert' });
  const register = h(
    'form',
    { class: 'card', 'aria-labelledby': 'step1' },
    h('h2', { id: 'step1' }, '1. Register the sensor'),
    h('label', { for: 'dev-eui' }, 'DevEUI'),
    eui,
    h('small', { id: 'dev-eui-help' }, '16 hex digits, from the label; spaces, dashes and colons are ignored.'),
    h('label', { for: 'decoder' }, 'Decoder'),
    decoder,
    h('button', { type: 'submit' }, 'Register'),
    regMsg,
  );

  const site = h('select', { id: 'tech-site', name: 'site', required: true });
  const space = h('select', { id: 'tech-space', name: 'space', required: true });
  const assignMsg = h('p', { class: 'status', role: 'alert' });
  const assign = h(
    'form',
    { class: 'card', 'aria-labelledby': 'step2', hidden: true },
    h('h2', { id: 'step2' }, '2. Assign it to a space'),
    h('label', { for: 'tech-site' }, 'Site'),
    site,
    h('label', { for: 'tech-space' }, 'Space'),
    space,
    h('button', { type: 'submit' }, 'Assign'),
    assignMsg,
  );

  const watchMsg = h('p', { class: 'status big', role: 'status', 'aria-live': 'polite', 'data-testid': 'uplink-status' });
  const reading = h('dl', { class: 'facts' });
  const watch = h('section', { class: 'card', 'aria-labelledby': 'step3', hidden: true }, h('h2', { id: 'step3' }, '3. First uplink'), watchMsg, reading);

  replace(main, h('h1', {}, 'Install a sensor'), register, assign, watch);

  async function loadSpaces(): Promise<void> {
    const spaces = await listAll<Space>('/api/v6/spaces', { site_id: site.value });
    spaces.sort((a, b) => a.code.localeCompare(b.code, undefined, { numeric: true }));
    // Keep the technician's pick across a reload of the list; otherwise offer the first space without a sensor.
    const keep = spaces.find((s) => s.id === space.value) ?? spaces.find((s) => !s.sensor_device_id);
    replace(space, ...spaces.map((s) =>
      h('option', { value: s.id, selected: s.id === keep?.id }, `${s.code}${s.sensor_device_id ? ' (has a sensor)' : ''}`)));
  }

  async function poll(): Promise<void> {
    if (disposed || !device) return;
    try {
      device = await api<Device>('GET', `/api/v6/devices/${device.id}`);
      if (device.lifecycle_state !== 'operational' || !device.assigned_space_id) {
        status(watchMsg, 'Waiting for first uplink…');
        timer = setTimeout(poll, POLL_MS);
        return;
      }
      const s = await api<Space>('GET', `/api/v6/spaces/${device.assigned_space_id}`);
      status(watchMsg, `Operational: space ${s.code} is ${s.sensor_state === 'unknown' ? s.current_state : s.sensor_state}.`);
      watchMsg.dataset.state = device.lifecycle_state;
      const row = (k: string, v: string) => [h('dt', {}, k), h('dd', {}, v)];
      replace(
        reading,
        ...row('Lifecycle', device.lifecycle_state),
        ...row('Sensor says', s.sensor_state),
        ...row('Space state', s.current_state),
        ...row('Last uplink', device.last_seen_at ? `${since(device.last_seen_at)} ago` : '—'),
        ...row('Battery', device.battery !== null ? `${device.battery}%${device.low_battery ? ' (low)' : ''}` : '—'),
        ...row('Radio', device.rssi !== null ? `RSSI ${device.rssi} dBm, SNR ${device.snr ?? '—'} dB` : '—'),
      );
    } catch (err) {
      status(watchMsg, err instanceof Error ? err.message : String(err), 'error');
      timer = setTimeout(poll, POLL_MS);
    }
  }

  register.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const devEui = normalizeEui(eui.value);
    if (devEui.length !== 16) {
      status(regMsg, `A DevEUI has 16 hex digits; this has ${devEui.length}.`, 'error');
      eui.focus();
      return;
    }
    status(regMsg, 'Registering…');
    try {
      device = await api<Device>('POST', '/api/v6/devices', { dev_eui: devEui, device_type: 'sensor', decoder: decoder.value || null });
      status(regMsg, `Registered ${device.dev_eui.toUpperCase()}.`);
      for (const el of register.querySelectorAll<HTMLInputElement | HTMLSelectElement | HTMLButtonElement>('input, select, button')) el.disabled = true;
      assign.hidden = false;
      const sites = await listAll<Site>('/api/v6/sites', {});
      replace(site, ...sites.map((s) => h('option', { value: s.id }, s.name)));
      await loadSpaces();
      site.focus();
    } catch (err) {
      status(regMsg, err instanceof ApiError ? err.message : String(err), 'error');
    }
  });

  site.addEventListener('change', () => void loadSpaces());

  assign.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!device) return;
    status(assignMsg, 'Assigning…');
    try {
      device = await api<Device>('POST', `/api/v6/devices/${device.id}/assign`, { space_id: space.value });
      status(assignMsg, `Assigned to ${space.selectedOptions[0]?.textContent ?? 'the space'}.`);
      watch.hidden = false;
      status(watchMsg, 'Waiting for first uplink…');
      watchMsg.focus();
      void poll();
    } catch (err) {
      status(assignMsg, err instanceof ApiError ? err.message : String(err), 'error');
    }
  });

  decoderNames().then(
    (names) => {
      replace(decoder, ...names.map((n) => h('option', { value: n }, n)));
      main.dataset.ready = 'true';
    },
    () => status(regMsg, 'Could not read the decoder list.', 'error'),
  );
  eui.focus();

  return () => {
    disposed = true;
    clearTimeout(timer);
    delete main.dataset.ready;
  };
}
