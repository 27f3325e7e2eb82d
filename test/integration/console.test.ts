/**
 * The web console in a real browser: Debian's chromium driven by playwright-core (no
 * browser download), against the real API and a real broker + ingest. Logs in, watches a
 * tile change colour when an uplink arrives (no reload), reserves a space through the UI
 * (and sees the 409 for an overlapping one), and runs the technician flow on a phone-sized
 * screen until the sensor is operational. Screenshots of each view go to test/artifacts/.
 */
import t, { type Test } from 'tap';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { testApi } from '../helpers/api.js';
import { testIngest } from '../helpers/ingest.js';
import { ensureConsoleBuilt } from '../../web/build.js';
import { ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, FREE, OCCUPIED, UI_TIMEOUT_MS } from '../helpers/browser.js';


if (existsSync(CHROMIUM)) {
  t.test('the console in a real browser', run);
} else {
  // The name carries the reason: tap prints it beside the SKIP.
  t.skip(`the console in a real browser: ${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`, run);
}

async function run(t: Test): Promise<void> {
  const api = await testApi(t);
  const ingest = await testIngest(t, api.db);
  await ensureConsoleBuilt();
  await mkdir(ARTIFACTS, { recursive: true });
  const owner = await api.register('console');
  const token = owner.token;

  const sites = await api.request('GET', '/api/v6/sites', { token });
  const site = sites.body.items[0];
  const spaces: Record<string, any> = {};
  for (const code of ['A1', 'A2', 'A3', 'A4', 'A5', 'A6']) {
    const r = await api.request('POST', '/api/v6/spaces', { token, json: { code, site_id: site.id } });
    t.equal(r.status, 201, `space ${code} created`);
    spaces[code] = r.body;
  }
  const devEui = '70b3d57ed0000a01';
  const device = await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: devEui, device_type: 'sensor', decoder: 'nwave-nps405' } });
  await api.request('POST', `/api/v6/devices/${device.body.id}/assign`, { token, json: { space_id: spaces.A1.id } });
  let fCnt = 0;
  const uplink = (eui: string, data: Buffer) => ingest.up({ devEui: eui, fCnt: ++fCnt, fPort: 1, data, rssi: -87, snr: 7.5 });
  // A sensor that never reported: its tile carries a mark.
  const silent = await api.request('POST', '/api/v6/devices', { token, json: { dev_eui: '70b3d57ed0000a05', device_type: 'sensor', decoder: 'nwave-nps405' } });
  await api.request('POST', `/api/v6/devices/${silent.body.id}/assign`, { token, json: { space_id: spaces.A5.id } });
  // A sensor that has reported once, so the live view has a free tile with device data.
  await uplink(devEui, FREE);

  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.teardown(() => browser.close());

  // Views other than the login form start from a session made over the API and put in
  // sessionStorage before the page loads (the login form has its own test): a new tab in
  // one shared context is much cheaper than a new context and a login each time.
  const login = await api.request('POST', '/api/auth/login', { json: { email: owner.email, password: owner.password } });
  t.equal(login.status, 200);
  const context = await browser.newContext();
  await context.addInitScript((s) => sessionStorage.setItem('baygate.session', s), JSON.stringify(login.body));
  async function loggedIn(viewport: { width: number; height: number }, hash = '#/live'): Promise<Page> {
    const page = await context.newPage();
    await page.setViewportSize(viewport);
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    await page.goto(`${api.url}/${hash}`);
    await page.getByTestId('role').waitFor();
    return page;
  }

  const tileState = (page: Page, code: string) => page.locator(`[data-space="${code}"]`).getAttribute('data-state');
  const tileColour = (page: Page, code: string) =>
    page.locator(`[data-space="${code}"]`).evaluate((el) => getComputedStyle(el).backgroundColor);

  await t.test('the console is served at / without a token, and only its own files', async (t) => {
    const index = await fetch(api.url + '/');
    t.equal(index.status, 200);
    t.match(index.headers.get('content-type'), /text\/html/);
    t.match(await index.text(), /\/console\/app\.js/);
    const js = await fetch(api.url + '/console/app.js');
    t.equal(js.status, 200);
    t.match(js.headers.get('content-type'), /javascript/);
    t.equal((await fetch(api.url + '/console/build.ts')).status, 404);
    t.equal((await fetch(api.url + '/console/..%2Fbuild.ts')).status, 404);
  });

  await t.test('login shows tenant and role; a wrong password says so', async (t) => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    t.teardown(() => page.close());
    await page.goto(api.url + '/');
    await page.screenshot({ path: join(ARTIFACTS, 'console-login.png') });
    await page.getByLabel('Email').fill(owner.email);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('Incorrect email or password').waitFor();
    await page.getByLabel('Password').fill(owner.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    t.equal(await page.getByTestId('tenant').textContent(), 'Tenant console');
    t.equal(await page.getByTestId('role').textContent(), 'owner');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    t.equal(await page.evaluate(() => sessionStorage.getItem('baygate.session')), null, 'the token is gone');
  });

  await t.test('live view: an uplink over MQTT changes the tile without a reload', async (t) => {
    const page = await loggedIn({ width: 1440, height: 900 });
    t.teardown(() => page.close());
    await page.waitForSelector('main[data-ready="true"]');
    await page.getByTestId('connection').getByText('live').waitFor();
    t.equal(await tileState(page, 'A1'), 'free');
    t.match(await page.locator('[data-space="A5"]').textContent(), /no uplink yet/, 'a sensor that never reported is marked');
    const before = await tileColour(page, 'A1');
    await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));

    await uplink(devEui, OCCUPIED);
    await page.waitForSelector('[data-space="A1"][data-state="occupied"]');
    t.not(await tileColour(page, 'A1'), before, 'the colour changed');
    t.ok(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument), 'no page reload');
    t.match(await page.getByTestId('count-occupied').textContent(), /^1 occupied/);
    t.match(await page.getByTestId('occupancy').textContent(), /^16\.7% occupied/);

    await page.getByLabel('Show').selectOption('occupied');
    t.equal(await page.locator('[data-space]').count(), 1, 'the filter shows occupied spaces only');
    await page.getByLabel('Show').selectOption('');
    await page.screenshot({ path: join(ARTIFACTS, 'console-live-1440.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(ARTIFACTS, 'console-live-390.png'), fullPage: true });
  });

  await t.test('reservations: created in the UI, the tile turns reserved; an overlap shows the 409', async (t) => {
    const page = await loggedIn({ width: 1440, height: 900 });
    t.teardown(() => page.close());
    await page.waitForSelector('main[data-ready="true"]');
    await page.locator('[data-space="A2"]').click();
    await page.getByRole('heading', { name: 'Space A2' }).waitFor();
    await page.waitForSelector('main[data-ready="true"]');
    await page.getByLabel('Name').fill('Dana Driver');
    await page.getByRole('button', { name: 'Reserve' }).click();
    await page.getByTestId('reservation-message').getByText('Reserved.').waitFor();
    await page.getByTestId('space-state').getByText('reserved').waitFor();

    // The same window again: the API answers 409 and the page says why.
    await page.getByRole('button', { name: 'Reserve' }).click();
    await page.getByTestId('reservation-message').getByText(/overlaps reservation/).waitFor();
    t.match(await page.getByTestId('reservation-message').getAttribute('class'), /error/);
    await page.locator('.history li').getByText(/→ reserved/).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'console-space.png'), fullPage: true });

    await page.getByRole('link', { name: '← Live site' }).click();
    await page.waitForSelector('[data-space="A2"][data-state="reserved"]');
    t.match(await page.locator('[data-space="A2"]').textContent(), /Dana Driver until/);
    await page.screenshot({ path: join(ARTIFACTS, 'console-live-reserved-1440.png'), fullPage: true });

    // Cancelling frees it again, live.
    const live = page;
    const detail = await loggedIn({ width: 1440, height: 900 }, `#/space/${spaces.A2.id}`);
    t.teardown(() => detail.close());
    await detail.waitForSelector('main[data-ready="true"]');
    await detail.getByRole('button', { name: /Cancel reservation/ }).click();
    await detail.getByText('Reservation cancelled.').waitFor();
    await live.waitForSelector('[data-space="A2"]:not([data-state="reserved"])');
    t.pass('the live view saw the cancellation');
  });

  await t.test('maintenance: put in and taken out from the space view', async (t) => {
    const page = await loggedIn({ width: 1440, height: 900 }, `#/space/${spaces.A4.id}`);
    t.teardown(() => page.close());
    await page.waitForSelector('main[data-ready="true"]');
    await page.getByRole('button', { name: 'Put in maintenance' }).click();
    await page.getByTestId('space-state').getByText('maintenance').waitFor();
    await page.getByRole('button', { name: 'Take out of maintenance' }).click();
    await page.getByRole('button', { name: 'Put in maintenance' }).waitFor();
    t.not(await page.getByTestId('space-state').textContent(), 'maintenance');
  });

  await t.test('technician flow at 390×844: register, assign, first uplink → operational', async (t) => {
    const page = await loggedIn({ width: 390, height: 844 });
    t.teardown(async () => {
      if (!t.passing()) await page.screenshot({ path: join(ARTIFACTS, 'console-tech-FAILED.png'), fullPage: true });
      await page.close();
    });
    await page.getByRole('link', { name: 'Install a sensor' }).click();
    await page.waitForSelector('main[data-ready="true"]');
    const techEui = '70B3D57ED0000B02';
    await page.getByLabel('DevEUI').fill('70-B3-D5-7E-D0-00-0B-02'); // as printed on a label
    await page.getByLabel('Decoder').selectOption('nwave-nps405');
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByText(`Registered ${techEui}.`).waitFor();
    await page.getByLabel('Site', { exact: true }).selectOption(site.id);
    await page.getByLabel('Space', { exact: true }).selectOption(spaces.A3.id);
    await page.getByRole('button', { name: 'Assign' }).click();
    await page.getByTestId('uplink-status').getByText('Waiting for first uplink…').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'console-tech-waiting-390.png'), fullPage: true });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    t.ok(width <= 390, `no sideways scrolling at 390 px (scrollWidth ${width})`);

    await uplink(techEui, OCCUPIED);
    await page.waitForSelector('[data-testid="uplink-status"][data-state="operational"]');
    t.match(await page.getByTestId('uplink-status').textContent(), /Operational: space A3 is occupied/);
    t.match(await page.locator('main').textContent(), /RSSI -87 dBm/);
    await page.screenshot({ path: join(ARTIFACTS, 'console-tech-operational-390.png'), fullPage: true });
    const d = await api.request('GET', `/api/v6/devices/${(await api.request('GET', `/api/v6/spaces/${spaces.A3.id}`, { token })).body.sensor_device_id}`, { token });
    t.equal(d.body.lifecycle_state, 'operational');
  });
}
