import { h, s } from '../dom.js';

/** Observed against expected (or the threshold), as two bars on one scale. */
export function observedVsExpected(observed: number, expected: number, format: (v: number) => string): HTMLElement {
  const max = Math.max(observed, expected, 1e-9);
  const w = 100;
  const bar = (v: number, cls: string, y: number) => [
    s('rect', { class: `bar ${cls}`, x: 0, y, width: Math.max(0.5, (v / max) * w), height: 14, rx: 2 }),
  ];
  const ratio = expected > 0 ? observed / expected : Number.POSITIVE_INFINITY;
  return h(
    'div',
    { class: 'ove' },
    h(
      'div',
      { class: 'ove-row' },
      h('span', { class: 'ove-label' }, 'Observed'),
      s('svg', { viewBox: '0 0 100 14', preserveAspectRatio: 'none', class: 'ove-bar' }, bar(observed, 'observed', 0)),
      h('strong', null, format(observed)),
    ),
    h(
      'div',
      { class: 'ove-row' },
      h('span', { class: 'ove-label' }, 'Expected'),
      s('svg', { viewBox: '0 0 100 14', preserveAspectRatio: 'none', class: 'ove-bar' }, bar(expected, 'expected', 0)),
      h('span', null, format(expected)),
    ),
    h(
      'p',
      { class: 'muted' },
      Number.isFinite(ratio) ? `${ratio >= 10 ? ratio.toFixed(0) : ratio.toFixed(1)}× expected` : 'nothing expected',
    ),
  );
}
