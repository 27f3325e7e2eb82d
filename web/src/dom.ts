/** Owns building DOM nodes: a tiny `h()` (no framework) and formatting shared by the views. */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

/** Creates an element; `on*` attributes become listeners, booleans toggle the attribute. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, ...children);
  return el;
}

export function append(el: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function replace(el: Node, ...children: Child[]): void {
  while (el.firstChild) el.removeChild(el.firstChild);
  append(el, ...children);
}

/** "3 min", "2 h 5 min", "4 d": how long since `iso`. */
export function since(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours} h ${m % 60} min`;
  return `${Math.floor(hours / 24)} d`;
}

export function time(iso: string | null | undefined): string {
  if (!iso) return '—';
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
}

export function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/** A value for <input type="datetime-local"> in local time. */
export function localInput(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A polite live region's text, for screen readers and the tests alike. */
export function status(el: HTMLElement, text: string, kind: 'info' | 'error' = 'info'): void {
  el.textContent = text;
  el.className = `status ${kind}`;
}

/** "5 min ago", or `never` for a device that has not been heard. */
export function ago(iso: string | null | undefined, never = 'never'): string {
  return iso ? `${since(iso)} ago` : never;
}

export interface Column<T> {
  label: string;
  cell: (row: T) => Child;
}

/**
 * A data table that turns into one card per row on narrow screens (style.css `.table`).
 * The explicit ARIA roles keep it a table for screen readers when CSS makes its parts
 * blocks, which otherwise drops the semantics in Chromium and Safari
 * (https://adrianroselli.com/2018/02/tables-css-display-properties-and-aria.html).
 */
export function table<T>(caption: string, columns: Column<T>[], rows: T[], rowAttrs: (row: T) => Attrs = () => ({})): HTMLTableElement {
  return h(
    'table',
    { class: 'table', role: 'table' },
    h('caption', {}, caption),
    h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' }, ...columns.map((c) => h('th', { scope: 'col', role: 'columnheader' }, c.label)))),
    h(
      'tbody',
      { role: 'rowgroup' },
      ...rows.map((r) => h('tr', { role: 'row', ...rowAttrs(r) }, ...columns.map((c) => h('td', { role: 'cell', 'data-label': c.label }, c.cell(r))))),
    ),
  );
}
