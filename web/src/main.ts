/**
 * Owns the console's shell: the header (tenant, role, navigation, logout) and the hash
 * router (#/live, #/space/:id, #/devices, #/analytics, #/tech). Each view renders into
 * <main> and returns a cleanup function (closing its live stream, timers) run when the
 * route changes.
 */
import { logout, session, whenLoggedOut } from './api.js';
import { h, replace } from './dom.js';
import { loginView } from './views/login.js';
import { liveView } from './views/live.js';
import { spaceView } from './views/space.js';
import { techView } from './views/tech.js';
import { devicesView } from './views/devices.js';
import { analyticsView } from './views/analytics.js';

export type Cleanup = () => void;
export type View = (main: HTMLElement, params: string[]) => Cleanup | void;

const ROUTES: Array<[RegExp, View, string]> = [
  [/^#\/live(?:\/([0-9a-f-]{36}))?$/, liveView, 'Live'],
  [/^#\/space\/([0-9a-f-]{36})$/, spaceView, 'Space'],
  // #/tech/<DevEUI>: the install flow with the DevEUI filled in (the unclaimed list links here).
  [/^#\/tech(?:\/([0-9a-fA-F]{16}))?$/, techView, 'Install'],
  [/^#\/devices$/, devicesView, 'Devices'],
  [/^#\/analytics(?:\/([0-9a-f-]{36}))?$/, analyticsView, 'Analytics'],
];

const NAV: Array<[string, string]> = [
  ['#/live', 'Live sites'],
  ['#/devices', 'Devices'],
  ['#/analytics', 'Analytics'],
  ['#/tech', 'Install a sensor'],
];

let cleanup: Cleanup | void;

function header(): void {
  const top = document.getElementById('top')!;
  const s = session();
  if (!s) {
    replace(top, h('span', { class: 'brand' }, 'baygate'));
    return;
  }
  const here = location.hash.split('/').slice(0, 2).join('/');
  replace(
    top,
    h('span', { class: 'brand' }, 'baygate'),
    h(
      'nav',
      { 'aria-label': 'Main' },
      ...NAV.map(([href, label]) => h('a', { href, 'aria-current': here === href ? 'page' : null }, label)),
    ),
    h(
      'span',
      { class: 'who' },
      h('span', { 'data-testid': 'tenant' }, s.user.tenant_name),
      ' · ',
      h('span', { class: 'role', 'data-testid': 'role' }, s.user.role),
      ' · ',
      h('span', {}, s.user.username),
    ),
    h('button', { type: 'button', class: 'secondary', onclick: () => void logout().then(route) }, 'Log out'),
  );
}

function route(): void {
  cleanup?.();
  cleanup = undefined;
  const main = document.getElementById('main')!;
  if (!session()) {
    header();
    cleanup = loginView(main);
    return;
  }
  const hash = location.hash || '#/live';
  for (const [re, view, title] of ROUTES) {
    const m = re.exec(hash);
    if (!m) continue;
    document.title = `${title} — baygate`;
    header();
    cleanup = view(main, m.slice(1).filter((x): x is string => x !== undefined));
    return;
  }
  location.replace('#/live');
}

whenLoggedOut(route);
window.addEventListener('hashchange', route);
/** After logging in, the login view asks for the route the address names. */
window.addEventListener('baygate:login', route);
route();
