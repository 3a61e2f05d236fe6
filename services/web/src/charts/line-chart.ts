import { h, s } from '../dom.js';
import { clock } from '../format.js';

export interface LineSeries {
  name: string;
  /** Colour index 0..7 (CSS classes c0..c7, light and dark). */
  colour: number;
  points: { t: number; v: number }[];
}

export interface LineChartOptions {
  series: LineSeries[];
  from: number;
  to: number;
  format: (v: number) => string;
  height?: number;
  /** Label for an empty chart. */
  empty?: string;
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * A multi-series line chart drawn in SVG at the container's width (redrawn when it resizes), with
 * a legend and a hover read-out of every series at the nearest time.
 */
export function lineChart(opts: LineChartOptions): HTMLElement {
  const box = h('div', { class: 'chart' });
  const legend = h(
    'div',
    { class: 'legend' },
    opts.series.map((x) => h('span', { class: 'legend-item' }, h('i', { class: `swatch c${x.colour % 8}` }), x.name)),
  );
  const plot = h('div', { class: 'plot' });
  const tip = h('div', { class: 'tip', hidden: true });
  box.append(plot, tip, legend);
  let width = 0;

  const draw = () => {
    const w = Math.max(240, plot.clientWidth || 600);
    if (w === width) return;
    width = w;
    // Room for the axis labels and the chart's height follow the type size (larger on a wall display).
    const em = Number.parseFloat(getComputedStyle(plot).fontSize) || 15;
    const PAD = { left: Math.round(em * 4.8), right: 12, top: 10, bottom: Math.round(em * 1.8) };
    const height = opts.height ?? Math.round(em * 14.7);
    const iw = w - PAD.left - PAD.right;
    const ih = height - PAD.top - PAD.bottom;
    const max = niceMax(Math.max(0, ...opts.series.flatMap((x) => x.points.map((p) => p.v))));
    const span = Math.max(1, opts.to - opts.from);
    const x = (t: number) => PAD.left + ((t - opts.from) / span) * iw;
    const y = (v: number) => PAD.top + ih - (v / max) * ih;
    const svg = s('svg', {
      width: w,
      height,
      viewBox: `0 0 ${w} ${height}`,
      role: 'img',
      'aria-label': opts.series.map((x) => x.name).join(', '),
    });
    for (let i = 0; i <= 4; i++) {
      const v = (max / 4) * i;
      svg.append(
        s('line', { class: 'grid', x1: PAD.left, x2: w - PAD.right, y1: y(v), y2: y(v) }),
        s('text', { class: 'axis', x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, opts.format(v)),
      );
    }
    const ticks = Math.max(2, Math.min(8, Math.floor(iw / 110)));
    for (let i = 0; i <= ticks; i++) {
      const t = opts.from + (span / ticks) * i;
      svg.append(
        s('text', { class: 'axis', x: x(t), y: height - 8, 'text-anchor': i === 0 ? 'start' : i === ticks ? 'end' : 'middle' }, clock(t)),
      );
    }
    for (const line of opts.series) {
      if (line.points.length === 0) continue;
      const d = line.points.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join('');
      const first = line.points[0] as { t: number };
      const last = line.points[line.points.length - 1] as { t: number };
      svg.append(
        s('path', { class: `area c${line.colour % 8}`, d: `${d}L${x(last.t).toFixed(1)},${y(0)}L${x(first.t).toFixed(1)},${y(0)}Z` }),
        s('path', { class: `line c${line.colour % 8}`, d }),
      );
    }
    if (opts.series.every((l) => l.points.every((p) => p.v === 0))) {
      svg.append(
        s(
          'text',
          { class: 'empty-label', x: PAD.left + iw / 2, y: PAD.top + ih / 2, 'text-anchor': 'middle' },
          opts.empty ?? 'No traffic in this range',
        ),
      );
    }
    const cursor = s('line', { class: 'cursor', x1: 0, x2: 0, y1: PAD.top, y2: PAD.top + ih, visibility: 'hidden' });
    const overlay = s('rect', { class: 'overlay', x: PAD.left, y: PAD.top, width: iw, height: ih });
    overlay.addEventListener('mousemove', (e) => {
      const rect = svg.getBoundingClientRect();
      const t = opts.from + ((e.clientX - rect.left - PAD.left) / iw) * span;
      const times = opts.series[0]?.points.map((p) => p.t) ?? [];
      if (times.length === 0) return;
      const nearest = times.reduce((a, b) => (Math.abs(b - t) < Math.abs(a - t) ? b : a));
      cursor.setAttribute('x1', String(x(nearest)));
      cursor.setAttribute('x2', String(x(nearest)));
      cursor.setAttribute('visibility', 'visible');
      tip.replaceChildren(
        h('strong', null, clock(nearest)),
        ...opts.series.map((l) =>
          h(
            'div',
            null,
            h('i', { class: `swatch c${l.colour % 8}` }),
            `${l.name}: ${opts.format(l.points.find((p) => p.t === nearest)?.v ?? 0)}`,
          ),
        ),
      );
      tip.hidden = false;
      tip.style.left = `${Math.min(x(nearest) + 12, w - 200)}px`;
    });
    overlay.addEventListener('mouseleave', () => {
      cursor.setAttribute('visibility', 'hidden');
      tip.hidden = true;
    });
    svg.append(cursor, overlay);
    plot.replaceChildren(svg);
  };
  new ResizeObserver(draw).observe(plot);
  queueMicrotask(draw);
  return box;
}
