// Time-series charts drawn as SVG: one line per series, minute buckets on the x axis, with a
// text table alternative for screen readers.

import { h, svg, formatCount } from './dom.js';

const WIDTH = 560;
const HEIGHT = 180;
const PAD = { left: 56, right: 12, top: 12, bottom: 28 };

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function shortNumber(value) {
  if (value >= 1e9) return `${(value / 1e9).toFixed(1)}G`;
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

/// `series`: [{ name, cssClass, points: Map(minuteMillis -> value) }]; `minutes`: the window.
export function lineChart(titleText, series, minutes, format = formatCount) {
  const end = Math.floor(Date.now() / 60000) * 60000;
  const start = end - (minutes - 1) * 60000;
  const max = niceMax(Math.max(0, ...series.flatMap((s) => [...s.points.values()])));
  const x = (t) => PAD.left + ((t - start) / Math.max(1, end - start)) * (WIDTH - PAD.left - PAD.right);
  const y = (v) => HEIGHT - PAD.bottom - (v / max) * (HEIGHT - PAD.top - PAD.bottom);
  const grid = [0, 0.5, 1].map((share) => [
    svg('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(max * share), y2: y(max * share), class: 'grid' }),
    svg('text', { x: PAD.left - 6, y: y(max * share) + 4, class: 'axis', 'text-anchor': 'end' }, shortNumber(max * share)),
  ]);
  const labels = [start, start + (end - start) / 2, end].map((t, i) =>
    svg('text', { x: x(t), y: HEIGHT - 8, class: 'axis', 'text-anchor': ['start', 'middle', 'end'][i] },
      new Date(t).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' })));
  const lines = series.map((s) => {
    const points = [];
    for (let t = start; t <= end; t += 60000) points.push(`${x(t).toFixed(1)},${y(s.points.get(t) || 0).toFixed(1)}`);
    return svg('polyline', { points: points.join(' '), class: `series ${s.cssClass}`, fill: 'none' });
  });
  const total = (s) => [...s.points.values()].reduce((a, b) => a + b, 0);
  const described = series.map((s) => `${s.name}: ${format(total(s))} in the last ${minutes} minutes`).join('; ');
  return h('figure', { class: 'chart' },
    h('figcaption', {}, titleText,
      h('span', { class: 'legend' }, series.map((s) =>
        h('span', { class: `key ${s.cssClass}` }, `${s.name} ${format(total(s))}`)))),
    svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': `${titleText}. ${described}` },
      ...grid.flat(), ...labels, ...lines));
}
