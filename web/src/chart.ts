/**
 * Owns the console's charts: hand-written inline SVG (no chart library, nothing fetched),
 * a bar or a line per series of buckets, with gaps where a bucket has no figure. The SVG
 * is one image to assistive technology (role="img", its title and a one-sentence
 * summary as description); the numbers themselves go in a table beside it
 * (WAI "Complex images": https://www.w3.org/WAI/tutorials/images/complex/).
 */

const SVG = 'http://www.w3.org/2000/svg';

/** The drawing's own coordinates; the SVG scales to its container's width. */
const WIDTH = 960;
const HEIGHT = 260;
const PAD = { top: 12, right: 12, bottom: 36, left: 48 };
/** Horizontal grid lines (and y labels) drawn. */
const Y_TICKS = 4;
/** At most this many x labels, so they never overlap. */
const MAX_X_LABELS = 8;

export interface Point {
  /** The x label, e.g. "11-24 14:00". */
  label: string;
  /** Long label for the bar's tooltip, e.g. "2026-11-24 14:00". */
  title: string;
  /** null: no figure for this bucket (drawn as a gap). */
  value: number | null;
}

export interface ChartSpec {
  kind: 'bar' | 'line';
  title: string;
  /** One sentence for screen readers: what the chart shows at a glance. */
  summary: string;
  points: Point[];
  /** Upper end of the y axis; the data's maximum (rounded up) when not given. */
  max?: number;
  format: (v: number) => string;
  className: string;
}

function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, ...children: Node[]): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) e.appendChild(c);
  return e;
}

function text(s: string): Text {
  return document.createTextNode(s);
}

/** 1, 2 or 5 times a power of ten, at least `v`: axis ends people read easily. */
export function niceCeil(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

let uid = 0;

export function chart(spec: ChartSpec): SVGSVGElement {
  const id = `chart-${++uid}`;
  const values = spec.points.map((p) => p.value).filter((v): v is number => v !== null);
  const max = spec.max ?? niceCeil(Math.max(0, ...values));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const n = Math.max(1, spec.points.length);
  const step = plotW / n;
  const x = (i: number) => PAD.left + i * step;
  const y = (v: number) => PAD.top + plotH - (Math.min(v, max) / max) * plotH;

  const svg = el('svg', {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'img',
    'aria-labelledby': `${id}-title ${id}-desc`,
    class: `chart ${spec.className}`,
    preserveAspectRatio: 'xMidYMid meet',
  });
  svg.appendChild(el('title', { id: `${id}-title` }, text(spec.title)));
  svg.appendChild(el('desc', { id: `${id}-desc` }, text(spec.summary)));

  const axis = el('g', { class: 'axis', 'aria-hidden': 'true' });
  for (let i = 0; i <= Y_TICKS; i++) {
    const v = (max / Y_TICKS) * i;
    axis.appendChild(el('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(v), y2: y(v), class: i === 0 ? 'base' : 'grid' }));
    axis.appendChild(el('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, text(spec.format(v))));
  }
  const every = Math.max(1, Math.ceil(spec.points.length / MAX_X_LABELS));
  spec.points.forEach((p, i) => {
    if (i % every !== 0) return;
    axis.appendChild(el('text', { x: x(i) + step / 2, y: HEIGHT - PAD.bottom + 18, 'text-anchor': 'middle' }, text(p.label)));
  });
  svg.appendChild(axis);

  const marks = el('g', { class: 'marks' });
  if (spec.kind === 'bar') {
    spec.points.forEach((p, i) => {
      if (p.value === null) return;
      const top = y(p.value);
      const bar = el('rect', { x: x(i) + step * 0.1, width: Math.max(1, step * 0.8), y: top, height: PAD.top + plotH - top, 'data-value': p.value });
      bar.appendChild(el('title', {}, text(`${p.title}: ${spec.format(p.value)}`)));
      marks.appendChild(bar);
    });
  } else {
    // A gap (no figure) ends the line; the next figure starts a new piece.
    let d = '';
    let pen = false;
    spec.points.forEach((p, i) => {
      if (p.value === null) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${(x(i) + step / 2).toFixed(1)} ${y(p.value).toFixed(1)}`;
      pen = true;
      const dot = el('circle', { cx: x(i) + step / 2, cy: y(p.value), r: Math.min(4, Math.max(2, step / 3)), 'data-value': p.value });
      dot.appendChild(el('title', {}, text(`${p.title}: ${spec.format(p.value)}`)));
      marks.appendChild(dot);
    });
    marks.insertBefore(el('path', { d, class: 'line' }), marks.firstChild);
  }
  svg.appendChild(marks);
  return svg;
}
