/**
 * Owns the analytics page: a site's occupancy % and turnover per hour over a chosen range
 * of days, drawn as charts (web/src/chart.ts) with the figures in a table beside them.
 * Days are the site's own calendar days (its time zone), as the API's buckets are.
 */
import { api, qs } from '../api.js';
import { chart, type Point } from '../chart.js';
import { h, replace, status, table, type Column } from '../dom.js';
import { listAll } from './live.js';
import type { OccupancyBucket, Site } from '../types.js';

/** The API answers hourly buckets for at most 31 days per request (api/routes/analytics.ts MAX_RANGE_MS). */
const MAX_DAYS = 31;
/** The range first shown: the last week, today included. */
const DEFAULT_DAYS = 7;
const DAY_MS = 86_400_000;
const LAST_SITE_KEY = 'baygate.site';

interface OccupancyAnswer {
  sites: Array<{ site_id: string; buckets: OccupancyBucket[] }>;
}

/** Milliseconds `tz` is ahead of UTC at instant `at` (read from Intl: no time-zone table of our own). */
function tzOffsetMs(at: number, tz: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(at));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) - Math.floor(at / 1000) * 1000;
}

/** The instant a calendar day (YYYY-MM-DD) begins in time zone `tz`. */
export function zonedMidnight(date: string, tz: string): Date {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const wall = Date.UTC(y, m - 1, d);
  // The offset at the guess may differ from the offset at the answer across a DST change: ask twice.
  const guess = wall - tzOffsetMs(wall, tz);
  return new Date(wall - tzOffsetMs(guess, tz));
}

/** The calendar day (YYYY-MM-DD) of instant `d` in time zone `tz` (en-CA writes dates that way). */
function dayOf(d: Date, tz: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);
}

const hourLabel = (b: OccupancyBucket) => `${String(b.hour ?? 0).padStart(2, '0')}:00`;
/** −1 (unknown most of the hour) and null (not observed) have no figure to draw. */
const occupancy = (b: OccupancyBucket) => (b.occupancy_percent === null || b.occupancy_percent < 0 ? null : b.occupancy_percent);
const percent = (v: number) => `${Math.round(v * 10) / 10}%`;
const decimal = (v: number) => String(Math.round(v * 100) / 100);

export function analyticsView(main: HTMLElement, params: string[]): () => void {
  let disposed = false;
  let sites: Site[] = [];
  const siteSelect = h('select', { id: 'an-site', name: 'site', required: true });
  const from = h('input', { id: 'an-from', type: 'date', name: 'from', required: true });
  const to = h('input', { id: 'an-to', type: 'date', name: 'to', required: true });
  const msg = h('p', { class: 'status', role: 'status', 'data-testid': 'analytics-message' });
  const figures = h('section', { class: 'summary', 'aria-label': 'Figures', 'aria-live': 'polite' });
  const charts = h('div', { class: 'charts' });
  const form = h(
    'form',
    { class: 'toolbar', 'aria-label': 'Site and range' },
    h('span', { class: 'field' }, h('label', { for: 'an-site' }, 'Site'), siteSelect),
    h('span', { class: 'field' }, h('label', { for: 'an-from' }, 'From'), from),
    h('span', { class: 'field' }, h('label', { for: 'an-to' }, 'To (inclusive)'), to),
    h('button', { type: 'submit' }, 'Show'),
  );
  replace(main, h('h1', {}, 'Analytics'), form, msg, figures, charts);

  const site = () => sites.find((s) => s.id === siteSelect.value);

  function render(buckets: OccupancyBucket[], oneDay: boolean): void {
    const label = (b: OccupancyBucket) => (oneDay ? hourLabel(b) : `${b.date.slice(5)} ${hourLabel(b)}`);
    const points = (value: (b: OccupancyBucket) => number | null): Point[] =>
      buckets.map((b) => ({ label: label(b), title: `${b.date} ${hourLabel(b)}`, value: value(b) }));
    const known = buckets.filter((b) => occupancy(b) !== null);
    const avg = known.length ? known.reduce((s, b) => s + occupancy(b)!, 0) / known.length : null;
    const peak = known.reduce<OccupancyBucket | null>((p, b) => (p === null || occupancy(b)! > occupancy(p)! ? b : p), null);
    const sessions = buckets.reduce((s, b) => s + b.total_sessions, 0);
    const turnovers = buckets.map((b) => b.turnover).filter((v): v is number => v !== null);
    const avgTurnover = turnovers.length ? turnovers.reduce((s, v) => s + v, 0) / turnovers.length : null;
    const range = `${from.value} to ${to.value}`;

    replace(
      figures,
      h('span', { class: 'count', 'data-testid': 'avg-occupancy' }, h('strong', {}, avg === null ? '—' : percent(avg)), ' average occupancy'),
      h('span', { class: 'count', 'data-testid': 'peak-occupancy' }, h('strong', {}, peak ? percent(occupancy(peak)!) : '—'), peak ? ` peak, ${peak.date} ${hourLabel(peak)}` : ' peak'),
      h('span', { class: 'count', 'data-testid': 'sessions' }, h('strong', {}, sessions), ' parking sessions'),
      h('span', { class: 'count', 'data-testid': 'avg-turnover' }, h('strong', {}, avgTurnover === null ? '—' : decimal(avgTurnover)), ' sessions per space per hour'),
    );
    const occSummary =
      avg === null
        ? `No occupancy figures for ${range}.`
        : `Hourly occupancy, ${range}: average ${percent(avg)}, peak ${percent(occupancy(peak!)!)} on ${peak!.date} at ${hourLabel(peak!)}.`;
    const turnSummary =
      avgTurnover === null
        ? `No turnover figures for ${range}.`
        : `Hourly turnover, ${range}: ${sessions} sessions, on average ${decimal(avgTurnover)} per space per hour, at most ${decimal(Math.max(...turnovers))}.`;
    const columns: Column<OccupancyBucket>[] = [
      { label: 'Hour', cell: (b) => `${b.date} ${hourLabel(b)}` },
      { label: 'Occupancy', cell: (b) => (b.occupancy_percent === null ? '—' : b.occupancy_percent < 0 ? 'unknown' : percent(b.occupancy_percent)) },
      { label: 'Turnover', cell: (b) => (b.turnover === null ? '—' : decimal(b.turnover)) },
      { label: 'Sessions', cell: (b) => b.total_sessions },
      { label: 'Unknown', cell: (b) => (b.unknown_percent === null ? '—' : percent(b.unknown_percent)) },
    ];
    replace(
      charts,
      h('figure', { class: 'card' }, h('figcaption', {}, h('h2', {}, 'Occupancy per hour')),
        chart({ kind: 'line', title: 'Occupancy per hour (%)', summary: occSummary, points: points(occupancy), max: 100, format: (v) => `${Math.round(v)}%`, className: 'occupancy' })),
      h('figure', { class: 'card' }, h('figcaption', {}, h('h2', {}, 'Turnover per hour')),
        chart({ kind: 'bar', title: 'Turnover per hour (sessions per space)', summary: turnSummary, points: points((b) => b.turnover), format: decimal, className: 'turnover' })),
      h('details', { class: 'card' }, h('summary', {}, 'The figures as a table'),
        table(`Hourly figures, ${range} (${site()?.timezone ?? 'site'} time)`, columns, buckets, (b) => ({ 'data-hour': `${b.date}T${hourLabel(b)}` }))),
    );
  }

  async function show(): Promise<void> {
    const s = site();
    if (!s) return;
    const days = from.value && to.value
      ? Math.round((zonedMidnight(to.value, s.timezone).getTime() - zonedMidnight(from.value, s.timezone).getTime()) / DAY_MS) + 1
      : 0;
    if (days < 1) {
      status(msg, '"From" must be a day before or equal to "To".', 'error');
      return;
    }
    if (days > MAX_DAYS) {
      status(msg, `Choose at most ${MAX_DAYS} days (this is ${days}).`, 'error');
      return;
    }
    sessionStorage.setItem(LAST_SITE_KEY, s.id);
    status(msg, 'Loading…');
    delete main.dataset.ready;
    // [from's midnight, the midnight after `to`) in the site's time zone: whole local days.
    const end = zonedMidnight(to.value, s.timezone);
    const next = new Date(end.getTime() + DAY_MS + 2 * 3_600_000); // any instant of the next day, DST or not
    const range = { from: zonedMidnight(from.value, s.timezone).toISOString(), to: zonedMidnight(dayOf(next, s.timezone), s.timezone).toISOString() };
    try {
      const r = await api<OccupancyAnswer>('GET', `/api/v6/analytics/occupancy${qs({ site_id: s.id, interval: 'hour', ...range })}`);
      if (disposed) return;
      render(r.sites.find((x) => x.site_id === s.id)?.buckets ?? [], days === 1);
      status(msg, '');
      main.dataset.ready = 'true';
    } catch (err) {
      status(msg, err instanceof Error ? err.message : String(err), 'error');
    }
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void show();
  });
  siteSelect.addEventListener('change', () => void show());

  (async () => {
    try {
      sites = await listAll<Site>('/api/v6/sites', {});
      if (disposed) return;
      if (sites.length === 0) {
        status(msg, 'No sites yet.');
        return;
      }
      const want = params[0] ?? sessionStorage.getItem(LAST_SITE_KEY);
      const chosen = sites.find((s) => s.id === want) ?? sites[0]!;
      replace(siteSelect, ...sites.map((s) => h('option', { value: s.id, selected: s.id === chosen.id }, s.name)));
      to.value = dayOf(new Date(), chosen.timezone);
      from.value = dayOf(new Date(Date.now() - (DEFAULT_DAYS - 1) * DAY_MS), chosen.timezone);
      await show();
    } catch (err) {
      status(msg, err instanceof Error ? err.message : String(err), 'error');
    }
  })();

  return () => {
    disposed = true;
    delete main.dataset.ready;
  };
}
