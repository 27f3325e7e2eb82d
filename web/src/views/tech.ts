/**
 * Owns the technician's install flow, made for a phone at the curb: DevEUI → register
 * with a decoder → pick site and space → assign → watch for the first uplink, which turns
 * the device `operational` and shows what it decoded (the space's sensor state, battery,
 * radio). The decoder list is the one the API validates against, read from /openapi.json.
 * The DevEUI is typed, pasted, read from the label's QR code (camera or photo, web/src/qr.ts)
 * or comes filled in from the devices page's unclaimed list (#/tech/<DevEUI>).
 */
import { api, ApiError } from '../api.js';
import { h, replace, since, status } from '../dom.js';
import { listAll } from './live.js';
import { cameraAvailable, devEuiFromQr, readQrFromFile, scanQr, type Scan } from '../qr.js';
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

/** "70B3 D57E D000 1234": the DevEUI in groups a technician can compare with the label. */
const grouped = (eui: string) => eui.toUpperCase().replace(/(.{4})(?=.)/g, '$1 ');

export function techView(main: HTMLElement, params: string[]): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let disposed = false;
  let device: Device | null = null;
  let scan: Scan | null = null;

  const eui = h('input', {
    id: 'dev-eui', name: 'dev_eui', inputmode: 'text', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false',
    required: true, placeholder: '70B3D57ED0001234', 'aria-describedby': 'dev-eui-help', value: params[0]?.toUpperCase(),
  });
  const qrMsg = h('p', { class: 'status', role: 'status', 'data-testid': 'qr-status' });
  const video = h('video', { class: 'scanner', hidden: true, 'aria-label': 'Camera view: hold the QR code in front of the camera' });
  const scanButton = h('button', { type: 'button', class: 'secondary' }, 'Scan QR code');
  const stopButton = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Stop camera');
  // capture="environment": phones offer to take a photo with the back camera, which works where live video does not.
  const photo = h('input', { id: 'qr-photo', type: 'file', accept: 'image/*', capture: 'environment' });
  const qr = h(
    'fieldset',
    { class: 'qr' },
    h('legend', {}, 'Or read the QR code on the label'),
    cameraAvailable() && h('div', { class: 'buttons' }, scanButton, stopButton),
    video,
    h('label', { for: 'qr-photo' }, 'From a photo'),
    photo,
    qrMsg,
  );
  const decoder = h('select', { id: 'decoder', name: 'decoder', required: true });
  const regMsg = h('p', { class: 'status', role: 'alert' });
  const register = h(
    'form',
    { class: 'card', 'aria-labelledby': 'step1' },
    h('h2', { id: 'step1' }, '1. Register the sensor'),
    h('label', { for: 'dev-eui' }, 'DevEUI'),
    eui,
    h('small', { id: 'dev-eui-help' }, '16 hex digits, from the label; spaces, dashes and colons are ignored.'),
    qr,
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

  /** Fills the DevEUI from a QR code's text; false when the code names none. */
  function fromQr(text: string, where: string): boolean {
    const found = devEuiFromQr(text);
    if (!found) {
      status(qrMsg, `The QR code ${where} holds no DevEUI (it reads "${text.slice(0, 60)}").`, 'error');
      return false;
    }
    eui.value = found.toUpperCase();
    status(qrMsg, `Read DevEUI ${grouped(found)} ${where}.`);
    return true;
  }

  function stopScan(): void {
    scan?.stop();
    scan = null;
    video.hidden = true;
    stopButton.hidden = true;
    scanButton.hidden = false;
  }

  scanButton.addEventListener('click', async () => {
    status(qrMsg, 'Opening the camera…');
    video.hidden = false;
    scanButton.disabled = true; // one camera at a time, however often it is tapped
    try {
      scan = await scanQr(video, (text) => {
        if (!fromQr(text, 'from the camera')) return false;
        stopScan();
        eui.focus();
        return true;
      });
      if (disposed) return stopScan();
      if (scan) {
        scanButton.hidden = true;
        stopButton.hidden = false;
        stopButton.focus();
        status(qrMsg, 'Looking for a QR code…');
      }
    } catch (err) {
      stopScan();
      const refused = err instanceof DOMException && err.name === 'NotAllowedError';
      status(qrMsg, refused ? 'The camera was not allowed; take a photo instead.' : `The camera could not be opened (${err instanceof Error ? err.message : String(err)}); take a photo instead.`, 'error');
    } finally {
      scanButton.disabled = false;
    }
  });
  stopButton.addEventListener('click', () => {
    stopScan();
    status(qrMsg, '');
    scanButton.focus();
  });
  photo.addEventListener('change', async () => {
    const file = photo.files?.[0];
    if (!file) return;
    status(qrMsg, 'Reading the photo…');
    try {
      const text = await readQrFromFile(file);
      if (text === null) status(qrMsg, 'No QR code found in the photo; try closer, with the code flat and sharp.', 'error');
      else if (fromQr(text, 'from the photo')) eui.focus();
    } catch {
      status(qrMsg, 'That file could not be read as an image.', 'error');
    }
    photo.value = '';
  });

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
      stopScan();
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
    stopScan();
    clearTimeout(timer);
    delete main.dataset.ready;
  };
}
