import { h } from '../dom.js';

export interface MatrixCell {
  src: string;
  dst: string;
  value: number;
}

/**
 * Who sends to whom: a heat map of source rows x destination columns (suppliers or
 * organisations), each cell shaded by the square root of its share of the largest (so small flows show).
 * A table, so it reads well with a screen reader and scales with the text.
 */
export function matrixChart(cells: MatrixCell[], label: (code: string) => string, format: (v: number) => string): HTMLElement {
  const rows = [...new Set(cells.map((c) => c.src))].sort();
  const cols = [...new Set(cells.map((c) => c.dst))].sort();
  const value = new Map(cells.map((c) => [`${c.src}\u0000${c.dst}`, c.value]));
  const max = Math.max(1, ...cells.map((c) => c.value));
  if (cells.length === 0) return h('p', { class: 'muted' }, 'No traffic in this range.');
  return h(
    'table',
    { class: 'matrix' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', { class: 'corner' }, 'from \\ to'),
        cols.map((c) => h('th', { scope: 'col' }, label(c))),
      ),
    ),
    h(
      'tbody',
      null,
      rows.map((r) =>
        h(
          'tr',
          null,
          h('th', { scope: 'row' }, label(r)),
          cols.map((c) => {
            const v = value.get(`${r}\u0000${c}`) ?? 0;
            // Square root of the share: small pairs stay visible, large ones stand apart.
            const level = v <= 0 ? 0 : Math.max(1, Math.ceil(Math.sqrt(v / max) * 5));
            return h('td', { class: `heat h${level}`, title: `${label(r)} → ${label(c)}: ${format(v)}` }, v > 0 ? format(v) : '');
          }),
        ),
      ),
    ),
  );
}
