/**
 * The console's devices, analytics, map and QR pages in a real browser (Debian's chromium
 * driven by playwright-core, as test/integration/console.test.ts), against the real API, a
 * real broker and ingest. The camera is Chromium's fake capture device playing a Y4M video
 * of a QR code made here; the map's tile server, an outside system, is a real local HTTP
 * server. Each view is checked at 390 px (no sideways scrolling) and 1440 px, and
 * screenshots go to test/artifacts/.
 */
import t, { type Test } from 'tap';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import QRCode from 'qrcode';
import { testApi } from '../helpers/api.js';
import { testIngest } from '../helpers/ingest.js';
import { waitFor } from '../helpers/wait.js';
import { DEFAULT_APPLICATION_ID, DEFAULT_GATEWAY_ID } from '../../src/simulator/events.js';
import { ensureConsoleBuilt } from '../../web/build.js';
import { withTx } from '../../src/db/tx.js';
import { writeDeviceLocations } from '../../src/storage/device-locations.js';
import { ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, FREE, OCCUPIED, UI_TIMEOUT_MS } from '../helpers/browser.js';

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1440, height: 900 };
/** WCAG 2.1 AA: normal text needs 4.5:1 against its background (SC 1.4.3). */
const AA_CONTRAST = 4.5;

if (existsSync(CHROMIUM)) {
  t.test('the console pages in a real browser', run);
} else {
  t.skip(`the console pages in a real browser: ${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`, run);
}

/**
 * A Y4M video (YUV 4:2:0, the format Chromium's --use-file-for-fake-video-capture plays
 * in a loop) whose frames show `text` as a QR code on white: luma 0 for dark modules,
 * 255 elsewhere, chroma neutral (128).
 */
function qrVideo(text: string, width = 640, height = 480, frames = 5): Buffer {
  const qr = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const n = qr.modules.size;
  const quiet = 4; // modules of white around the code (ISO/IEC 18004 quiet zone)
  const scale = Math.floor((Math.min(width, height) * 0.9) / (n + 2 * quiet));
  const side = scale * (n + 2 * quiet);
  const ox = Math.floor((width - side) / 2) + quiet * scale;
  const oy = Math.floor((height - side) / 2) + quiet * scale;
  const y = Buffer.alloc(width * height, 255);
  for (let py = 0; py < height; py++) {
    for (let px = 0; px < width; px++) {
      const r = Math.floor((py - oy) / scale);
      const c = Math.floor((px - ox) / scale);
      if (py >= oy && px >= ox && r < n && c < n && qr.modules.get(r, c)) y[py * width + px] = 0;
    }
  }
  const chroma = Buffer.alloc((width / 2) * (height / 2), 128);
  const frame = Buffer.concat([Buffer.from('FRAME\n'), y, chroma, chroma]);
  return Buffer.concat([Buffer.from(`YUV4MPEG2 W${width} H${height} F5:1 Ip A1:1 C420jpeg\n`), ...Array.from({ length: frames }, () => frame)]);
}

/** A tile server: answers every /tiles/{z}/{x}/{y}.png with one grey PNG and counts the requests. */
async function tileServer(t: Test): Promise<{ url: string; requests: string[] }> {
  const png = await QRCode.toBuffer('tile', { type: 'png', width: 256, margin: 0, color: { dark: '#c8ccd2ff', light: '#dde1e6ff' } });
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (!/^\/tiles\/\d+\/\d+\/\d+\.png$/.test(req.url ?? '')) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'image/png', 'access-control-allow-origin': '*' }).end(png);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const addr = server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, requests };
}

async function run(t: Test): Promise<void> {
  const api = await testApi(t);
  const ingest = await testIngest(t, api.db);
  await ensureConsoleBuilt();
  await mkdir(ARTIFACTS, { recursive: true });
  const owner = await api.register('pages');
  const token = owner.token;
  const tiles = await tileServer(t);

  const site = (await api.request('GET', '/api/v6/sites', { token })).body.items[0];
  // Spaces with coordinates (config.lat/lon) 5 m apart along a street.
  const spaces: Record<string, any> = {};
  for (const [i, code] of ['M1', 'M2', 'M3'].entries()) {
    const r = await api.request('POST', '/api/v6/spaces', { token, json: { code, site_id: site.id, config: { lat: 48.137 + i * 0.00005, lon: 11.575 } } });
    t.equal(r.status, 201, `space ${code} created`);
    spaces[code] = r.body;
  }
  const gridSite = await api.request('POST', '/api/v6/sites', { token, json: { name: 'Garage without map' } });
  t.equal(gridSite.status, 201);
  const g1 = await api.request('POST', '/api/v6/spaces', { token, json: { code: 'G1', site_id: gridSite.body.id } });
  t.equal(g1.status, 201);

  let fCnt = 0;
  const uplink = (eui: string, data: Buffer, fPort = 1) => ingest.up({ devEui: eui, fCnt: ++fCnt, fPort, data, rssi: -91, snr: 6.25 });
  const register = async (devEui: string, device_type = 'sensor', space?: string) => {
    const d = await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: devEui, device_type, decoder: device_type === 'sensor' ? 'nwave-nps405' : null } });
    t.equal(d.status, 201, `device ${devEui} registered`);
    if (space) t.equal((await api.request('POST', `/api/v6/devices/${d.body.id}/assign`, { token, json: { space_id: space } })).status, 200);
    return d.body;
  };
  const heard = '70b3d57ed0000d01';
  const silent = '70b3d57ed0000d02';
  const display = '70b3d57ed0000d03';
  await register(heard, 'sensor', spaces.M1.id);
  await register(silent, 'sensor', spaces.M2.id);
  await register(display, 'display');
  // Two parking sessions on M1, for the analytics; the last uplink leaves it occupied.
  for (const data of [FREE, OCCUPIED, FREE, OCCUPIED]) await uplink(heard, data);
  // A frame on a port the decoder does not know: a dead letter of this tenant.
  await uplink(heard, FREE, 99);
  await waitFor(async () => (await api.request('GET', '/api/v6/dashboard/data', { token })).body.system_health.dead_letters_last_hour === 1, UI_TIMEOUT_MS, 'the dead letter');
  await waitFor(async () => (await api.request('GET', `/api/v6/spaces/${spaces.M1.id}`, { token })).body.current_state === 'occupied', UI_TIMEOUT_MS, 'M1 occupied');

  // The QR code the fake camera shows: a LoRa Alliance TR005 label.
  const cameraEui = '70B3D57ED0000C03';
  const dir = await mkdtemp(join(tmpdir(), 'bgt-console-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const video = join(dir, 'qr.y4m');
  await writeFile(video, qrVideo(`LW:D0:1122334455667788:${cameraEui}:AABB1122`));

  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS, '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${video}`],
  });
  t.teardown(() => browser.close());
  const login = await api.request('POST', '/api/auth/login', { json: { email: owner.email, password: owner.password } });
  t.equal(login.status, 200);
  const context = await browser.newContext({ permissions: ['camera'] });
  await context.addInitScript((s) => sessionStorage.setItem('baygate.session', s), JSON.stringify(login.body));
  // tsx compiles this file with esbuild's keepNames, which wraps named functions in a
  // `__name(fn, "name")` call; functions sent to page.evaluate carry that call into a page
  // that has no such helper. Defined as the identity, it changes nothing.
  await context.addInitScript('globalThis.__name = (fn) => fn;');
  /** Uncaught errors of the console's pages: every test ends by checking there were none. */
  const pageErrors: string[] = [];
  async function open(viewport: { width: number; height: number }, hash: string): Promise<Page> {
    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(`${hash}: ${err.message}`));
    await page.setViewportSize(viewport);
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    await page.goto(`${api.url}/${hash}`);
    await page.getByTestId('role').waitFor();
    return page;
  }
  const ready = (page: Page) => page.waitForSelector('main[data-ready="true"]');
  const scrollWidth = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth);
  const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  /** Every form control in <main> has an accessible name from a label or aria-label. */
  const unlabelled = (page: Page) =>
    page.evaluate(() =>
      [...document.querySelectorAll('main input, main select, main textarea')]
        .filter((el) => (el as HTMLInputElement).labels?.length === 0 && !el.getAttribute('aria-label'))
        .map((el) => el.outerHTML),
    );
  /** The contrast ratio of each selector's text against the first opaque background behind it (WCAG 2.1 relative luminance). */
  const contrasts = (page: Page, selectors: string[]) =>
    page.evaluate((sels) => {
      const rgb = (c: string) => (c.match(/[\d.]+/g) ?? []).map(Number);
      const lum = (c: number[]) => {
        const [r, g, b] = c.slice(0, 3).map((v) => {
          const s = v / 255;
          return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
      };
      return sels.map((sel) => {
        const el = document.querySelector(sel);
        if (!el) return [sel, 0] as const;
        let bg: Element | null = el;
        while (bg && (rgb(getComputedStyle(bg).backgroundColor)[3] === 0 || getComputedStyle(bg).backgroundColor === 'transparent')) bg = bg.parentElement;
        const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(rgb(bg ? getComputedStyle(bg).backgroundColor : 'rgb(255,255,255)'))];
        return [sel, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)] as const;
      });
    }, selectors);

  await t.test('GET /api/v6/dead-letters: only the tenant’s own, operators and up', async (t) => {
    const r = await api.request('GET', '/api/v6/dead-letters', { token });
    t.equal(r.status, 200);
    t.match(r.body, { total: 1, page: 1, page_size: 100 });
    t.match(r.body.items[0], { reason: 'decode_failed', decoder: 'nwave-nps405', error: /fPort 99/ });
    t.equal(r.body.items[0].dev_eui.toLowerCase(), heard);
    t.equal((await api.request('GET', `/api/v6/dead-letters?reason=foreign_device`, { token })).body.total, 0, 'filtered by reason');
    t.equal((await api.request('GET', `/api/v6/dead-letters?dev_eui=${heard.toUpperCase()}`, { token })).body.total, 1, 'by DevEUI, any case');
    const other = await api.register('pages-other');
    t.same((await api.request('GET', '/api/v6/dead-letters', { token: other.token })).body.items, [], 'another tenant sees none of them');
    const viewer = await api.request('POST', '/api/v6/users', { token, json: { email: 'viewer@pages.example', password: owner.password, username: 'viewer', role: 'viewer' } });
    t.equal(viewer.status, 201);
    const vLogin = await api.request('POST', '/api/auth/login', { json: { email: 'viewer@pages.example', password: owner.password } });
    t.equal((await api.request('GET', '/api/v6/dead-letters', { token: vLogin.body.access_token })).status, 403, 'a viewer may not read them');
  });

  await t.test('devices page: health, filters, gateways, dead letters, at 1440 and 390 px', async (t) => {
    const page = await open(DESKTOP, '#/devices');
    t.teardown(() => page.close());
    await ready(page);
    t.match(await page.getByTestId('dead-letters').textContent(), /^1 dead letter in the last hour/);
    t.match(await page.getByTestId('devices-never-seen').textContent(), /^2 never heard/);
    t.match(await page.getByTestId('devices-total').textContent(), /^3 devices/);
    const row = (eui: string) => page.locator(`[data-dev-eui="${eui}"]`);
    t.match(await row(heard).textContent(), /\d+ (s|min) ago/, 'last seen, as time ago');
    t.match(await row(heard).textContent(), /-91 dBm \/ 6\.25 dB/, 'RSSI / SNR');
    t.notOk(await row(heard).getByTestId('offline').count(), 'a sensor just heard is not offline');
    t.match(await row(silent).getByTestId('offline').textContent(), 'no uplink yet');
    t.match(await row(heard).textContent(), /M1/, 'the space it is assigned to');
    const dead = page.getByTestId('dead-letter-list').locator('[data-dead-letter]');
    t.equal(await dead.count(), 1, 'the dead letter is listed');
    t.match(await dead.textContent(), new RegExp(`decode failed.*${heard.toUpperCase()}.*fPort 99`));
    t.match(await page.getByTestId('gateways').textContent(), new RegExp(`${DEFAULT_GATEWAY_ID.toUpperCase()}.*online`, 'i'));

    await page.getByLabel('Type').selectOption('display');
    await page.locator(`[data-dev-eui="${heard}"]`).waitFor({ state: 'detached' });
    t.same(await page.locator('[data-dev-eui]').evaluateAll((els) => els.map((e) => e.getAttribute('data-dev-eui'))), [display]);
    await page.getByLabel('Type').selectOption('');
    await row(heard).waitFor();
    await page.getByLabel('Offline only').check();
    t.same((await page.locator('[data-dev-eui]').evaluateAll((els) => els.map((e) => e.getAttribute('data-dev-eui')))).sort(), [silent, display].sort(), 'only the devices never heard');
    await page.getByLabel('Offline only').uncheck();

    t.same(await unlabelled(page), [], 'every control has a label');
    for (const [sel, ratio] of await contrasts(page, ['.flag.offline', '.flag.online', '.table th', '.table td', '.count', 'caption'])) {
      t.ok(ratio >= AA_CONTRAST, `${sel} contrast ${ratio.toFixed(2)}:1 ≥ ${AA_CONTRAST}:1`);
    }
    await shot(page, 'console-devices-1440');
    await page.setViewportSize(PHONE);
    t.ok((await scrollWidth(page)) <= PHONE.width, 'no sideways scrolling at 390 px');
    await shot(page, 'console-devices-390');
  });

  await t.test('unclaimed devices: one heard on a mapped application is listed; Register fills the install flow', async (t) => {
    const mapped = await api.request('PUT', '/api/v6/tenants/current/chirpstack', { token, json: { application_ids: [DEFAULT_APPLICATION_ID] } });
    t.equal(mapped.status, 200, 'the application is mapped to the tenant');
    const stranger = '70b3d57ed0000e01';
    await uplink(stranger, OCCUPIED);
    await waitFor(async () => {
      const r = await api.request('GET', '/api/v6/devices/unclaimed', { token });
      return r.status === 200 && r.body.items.some((u: any) => u.dev_eui.toLowerCase() === stranger);
    }, UI_TIMEOUT_MS, 'the unclaimed device listed');

    const page = await open(PHONE, '#/devices');
    t.teardown(() => page.close());
    await ready(page);
    const row = page.locator(`[data-unclaimed="${stranger}"]`);
    t.match(await row.textContent(), /heard/);
    t.match(await row.textContent(), /-91 dBm/);
    t.ok((await scrollWidth(page)) <= PHONE.width, 'no sideways scrolling at 390 px');
    await shot(page, 'console-unclaimed-390');
    // By keyboard: the Register link takes focus and Enter follows it.
    await row.getByRole('link', { name: `Register ${stranger.toUpperCase()}` }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Install a sensor' }).waitFor();
    await ready(page);
    t.equal(await page.getByLabel('DevEUI').inputValue(), stranger.toUpperCase(), 'the DevEUI is filled in');
    await page.getByLabel('Decoder').selectOption('nwave-nps405');
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByText(`Registered ${stranger.toUpperCase()}.`).waitFor();

    await page.goto(`${api.url}/#/devices`);
    await ready(page);
    t.equal(await page.locator(`[data-unclaimed="${stranger}"]`).count(), 0, 'registered: no longer unclaimed');
    t.equal(await page.locator(`[data-dev-eui="${stranger}"]`).count(), 1, 'and listed with the devices');
  });

  await t.test('analytics: occupancy and turnover per hour as charts with a table, at 1440 and 390 px', async (t) => {
    const from = new Date(Date.now() - 3 * 3_600_000).toISOString();
    const r = await api.request('GET', `/api/v6/analytics/occupancy?site_id=${site.id}&interval=hour&from=${encodeURIComponent(from)}`, { token });
    t.equal(r.status, 200);
    const busy = r.body.sites[0].buckets.find((b: any) => b.total_sessions > 0);
    t.ok(busy, 'the API has a bucket with sessions');

    const page = await open(DESKTOP, `#/analytics/${site.id}`);
    t.teardown(() => page.close());
    await ready(page);
    const occupancy = page.locator('svg.chart.occupancy');
    const turnover = page.locator('svg.chart.turnover');
    t.ok((await occupancy.locator('circle').count()) > 0, 'occupancy points drawn');
    t.ok((await turnover.locator('rect').count()) > 0, 'turnover bars drawn');
    t.match(await occupancy.getAttribute('role'), 'img');
    const desc = await occupancy.evaluate((svg) => svg.querySelector('desc')?.textContent ?? '');
    t.match(desc, /^Hourly occupancy, .*: average \d/, 'the chart describes itself to screen readers');
    t.match(await turnover.evaluate((svg) => svg.querySelector('desc')?.textContent ?? ''), new RegExp(`^Hourly turnover, .*: ${busy.total_sessions} sessions`));

    await shot(page, 'console-analytics-1440');
    const hour = `${busy.date}T${String(busy.hour).padStart(2, '0')}:00`;
    const row = page.locator(`[data-hour="${hour}"]`);
    await page.getByText('The figures as a table').click();
    const cells = await row.locator('td').allTextContents();
    t.equal(cells[2], String(Math.round(busy.turnover * 100) / 100), 'the table shows the API’s turnover');
    t.equal(cells[3], String(busy.total_sessions), 'and its sessions');
    t.match(await page.getByTestId('sessions').textContent(), new RegExp(`^${busy.total_sessions} parking sessions`));
    t.same(await unlabelled(page), [], 'every control has a label');

    // Keyboard only: choose a range beyond the API's 31 days and submit with Enter.
    await page.getByLabel('From').fill('2026-01-01');
    await page.getByLabel('To (inclusive)').focus();
    await page.getByLabel('To (inclusive)').fill('2026-03-01');
    await page.keyboard.press('Enter');
    await page.getByTestId('analytics-message').getByText(/at most 31 days/).waitFor();

    await page.setViewportSize(PHONE);
    t.ok((await scrollWidth(page)) <= PHONE.width, 'no sideways scrolling at 390 px');
    await shot(page, 'console-analytics-390');

    // Days are the site's calendar days: New York's, with the 23-hour day of the spring DST change.
    const ny = await api.request('POST', '/api/v6/sites', { token, json: { name: 'New York lot', timezone: 'America/New_York' } });
    t.equal(ny.status, 201);
    await page.reload();
    await ready(page);
    await page.getByLabel('Site', { exact: true }).selectOption(ny.body.id);
    await ready(page);
    for (const [day, from, to] of [
      ['2026-01-15', '2026-01-15T05:00:00.000Z', '2026-01-16T05:00:00.000Z'],
      ['2026-07-01', '2026-07-01T04:00:00.000Z', '2026-07-02T04:00:00.000Z'],
      ['2026-03-08', '2026-03-08T05:00:00.000Z', '2026-03-09T04:00:00.000Z'],
    ] as const) {
      await page.getByLabel('From').fill(day);
      await page.getByLabel('To (inclusive)').fill(day);
      const asked = page.waitForRequest((r) => r.url().includes('/api/v6/analytics/occupancy'));
      await page.getByRole('button', { name: 'Show' }).click();
      const q = new URL((await asked).url()).searchParams;
      t.same([q.get('from'), q.get('to')], [from, to], `${day} in New York is [${from}, ${to})`);
    }
  });

  await t.test('live map: markers coloured by state, updated live; blank without tiles, tiles from the site setting', async (t) => {
    // A code with markup in it: shown as text on the map, never as HTML.
    const odd = await api.request('POST', '/api/v6/spaces', { token, json: { code: '<i>M4</i>', site_id: site.id, config: { lat: 48.13715, lon: 11.575 } } });
    t.equal(odd.status, 201);
    // M1's sensor was located by ChirpStack (a `location` event, as ingest stores it).
    const located = (await api.request('GET', `/api/v6/devices/by-eui/${heard}`, { token })).body;
    await withTx(api.db.ingest, { tenantId: located.tenant_id }, (c) =>
      writeDeviceLocations(c, [{ deviceId: located.id, latitude: 48.13702, longitude: 11.57505, altitude: 520, source: 'GEO_RESOLVER_TDOA', accuracy: 12, at: new Date() }]));
    const page = await open(DESKTOP, `#/live/${site.id}`);
    t.teardown(() => page.close());
    await ready(page);
    await page.getByTestId('connection').getByText('live').waitFor();
    const map = page.getByTestId('map');
    t.equal(await map.getAttribute('data-tiles'), 'off', 'no tile server configured');
    t.equal(await page.locator('.leaflet-tile').count(), 0, 'so no tiles are asked for');
    const marker = (code: string) => page.locator(`[data-space-marker="${code}"]`);
    t.equal(await marker('M1').getAttribute('data-state'), 'occupied');
    const fill = (code: string) => marker(code).getAttribute('fill');
    const before = await fill('M1');
    t.equal(before, await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--occupied').trim()), 'occupied colour');
    t.ok(await page.locator('.space-label').getByText('<i>M4</i>').isVisible(), 'a space code is shown as text');
    t.equal(await page.locator('.space-label i').count(), 0, 'not as markup');
    const deviceMarker = page.locator(`[data-device-marker="${located.dev_eui}"]`);
    t.equal(await deviceMarker.count(), 1, 'a located device has a marker');
    t.equal(await deviceMarker.getAttribute('data-source'), 'GEO_RESOLVER_TDOA');
    t.match(await deviceMarker.getAttribute('aria-label'), /located by GEO_RESOLVER_TDOA \(±12 m\)/);
    t.equal(await page.locator('[data-device-marker]').count(), 1, 'devices without a location have none');

    await uplink(heard, FREE);
    await page.waitForSelector('[data-space-marker="M1"][data-state="free"]');
    t.not(await fill('M1'), before, 'the marker changed colour without a reload');
    t.equal(await page.locator('[data-space="M1"]').getAttribute('data-state'), 'free', 'the tile too');
    await shot(page, 'console-map-blank-1440');

    // Keyboard: a marker is a link to its space.
    await marker('M3').focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Space M3' }).waitFor();

    // A site whose spaces carry no coordinates: the grid alone.
    await page.goto(`${api.url}/#/live/${gridSite.body.id}`);
    await page.waitForSelector('[data-space="G1"]');
    t.ok(await map.isHidden(), 'no map without coordinates');

    const set = await api.request('PATCH', `/api/v6/sites/${site.id}`, { token, json: { config: { map_tiles_url: `${tiles.url}/tiles/{z}/{x}/{y}.png`, map_tiles_attribution: 'Test tiles <img src=x onerror="window.injected=1">' } } });
    t.equal(set.status, 200);
    const phone = await open(PHONE, `#/live/${site.id}`);
    t.teardown(() => phone.close());
    await ready(phone);
    await phone.waitForSelector('.leaflet-tile-loaded');
    t.equal(await phone.getByTestId('map').getAttribute('data-tiles'), 'on');
    t.ok(tiles.requests.some((u) => /^\/tiles\/\d+\/\d+\/\d+\.png$/.test(u)), 'tiles come from the configured server');
    t.match(await phone.locator('.leaflet-control-attribution').textContent(), /Test tiles <img/, 'the attribution is shown as text');
    t.equal(await phone.locator('.leaflet-control-attribution img').count(), 0, 'never as markup');
    t.ok((await scrollWidth(phone)) <= PHONE.width, 'no sideways scrolling at 390 px');
    await shot(phone, 'console-map-tiles-390');
  });

  await t.test('QR code: the camera reads a LoRa Alliance label; a photo of a printed EUI works too', async (t) => {
    const page = await open(PHONE, '#/tech');
    t.teardown(async () => {
      if (!t.passing()) await shot(page, 'console-qr-FAILED');
      await page.close();
    });
    await ready(page);
    t.ok(await page.evaluate(() => window.isSecureContext), 'the console runs in a secure context, so the camera is offered');
    await page.getByRole('button', { name: 'Scan QR code' }).click();
    await page.getByTestId('qr-status').getByText('Read DevEUI 70B3 D57E D000 0C03 from the camera.').waitFor();
    t.equal(await page.getByLabel('DevEUI').inputValue(), cameraEui);
    t.ok(await page.locator('video.scanner').isHidden(), 'the camera is closed after the read');
    t.ok(await page.getByRole('button', { name: 'Scan QR code' }).isVisible(), 'and can be opened again');

    const photo = await QRCode.toBuffer('70-B3-D5-7E-D0-00-0C-04', { type: 'png', width: 600 });
    await page.getByLabel('From a photo').setInputFiles({ name: 'label.png', mimeType: 'image/png', buffer: photo });
    await page.getByTestId('qr-status').getByText('Read DevEUI 70B3 D57E D000 0C04 from the photo.').waitFor();
    t.equal(await page.getByLabel('DevEUI').inputValue(), '70B3D57ED0000C04');

    const noEui = await QRCode.toBuffer('https://example.com/not-a-sensor', { type: 'png', width: 400 });
    await page.getByLabel('From a photo').setInputFiles({ name: 'other.png', mimeType: 'image/png', buffer: noEui });
    await page.getByTestId('qr-status').getByText(/holds no DevEUI/).waitFor();
    t.equal(await page.getByLabel('DevEUI').inputValue(), '70B3D57ED0000C04', 'a code without an EUI changes nothing');
    t.same(await unlabelled(page), [], 'every control has a label');
    t.ok((await scrollWidth(page)) <= PHONE.width, 'no sideways scrolling at 390 px');
    await shot(page, 'console-qr-390');
  });

  t.same(pageErrors, [], 'no page threw an uncaught error');
}
