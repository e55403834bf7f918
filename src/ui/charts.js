// Live line charts drawn as SVG by hand: no chart library, and every label is an
// element a test (or a curious user's devtools) can find and measure. The x axis
// spans the range the caller gives (the current rollout), so a release that just
// started fills the chart instead of a sliver at its right edge. A chart's figure
// carries data-points (how many x values it holds) so a test can see it move.

import { useEffect, useRef, useState } from 'preact/hooks';
import { clock } from './format.js';
import { html } from './html.js';

export const COLOURS = { stable: '#2563eb', new: '#ea580c', rollback: '#7c3aed', other: '#6b7280' };

const HEIGHT = 180;
const PAD = { top: 10, right: 12, bottom: 22 };
// An upper bound of a label character's width at the axis font (11px): the left margin
// is made from the longest label, so no label is cut off whatever its unit.
const CHAR_PX = 7;

/** Round tick values from 0 to at least max: 0, 0.5, 1, 1.5 … or 0, 20, 40 … */
export function yTicks(max, count = 4) {
  // At least 0 to 1, so a flat line of zeros sits at the bottom, not mid-chart.
  const top = Number.isFinite(max) ? Math.max(max, 1) : 1;
  const raw = top / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks = [];
  for (let v = 0; v < top + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function useWidth(ref) {
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const el = ref.current;
    if (!el) return undefined;
    setWidth(el.clientWidth);
    const observer = new ResizeObserver(() => setWidth(el.clientWidth));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  return width;
}

// Points come every 2 s while requests flow: a longer gap had no traffic, and is left blank.
const GAP_MS = 6000;

/** One path per series, broken where a value is missing or no point came for a while. */
function pathOf(xs, ys, sx, sy) {
  let d = '';
  let previous = null;
  for (let i = 0; i < xs.length; i++) {
    if (ys[i] === null || ys[i] === undefined) {
      previous = null;
      continue;
    }
    const isJoined = previous !== null && xs[i] - previous <= GAP_MS;
    d += `${isJoined ? 'L' : 'M'}${sx(xs[i]).toFixed(1)},${sy(ys[i]).toFixed(1)}`;
    previous = xs[i];
  }
  return d;
}

const lastValue = (ys) => {
  for (let i = ys.length - 1; i >= 0; i--) if (ys[i] !== null && ys[i] !== undefined) return ys[i];
  return null;
};

/**
 * series: [{ label, colour, dash? }]; data: [xs (epoch ms), ...one array per series];
 * xRange: [from, to] in epoch ms; yFormat: how a y value reads on the axis and in the legend.
 */
export function LiveChart({ title, series, data, xRange, yFormat, testid }) {
  const box = useRef(null);
  const width = useWidth(box);
  const [xs, ...columns] = data;
  const max = Math.max(0, ...columns.flat().filter((v) => v !== null && v !== undefined));
  const ticks = yTicks(max);
  const top = ticks[ticks.length - 1] || 1;
  const labels = ticks.map((t) => yFormat(t));
  const left = 8 + CHAR_PX * Math.max(...labels.map((l) => l.length));
  const [from, to] = xRange;
  const plotW = Math.max(40, width - left - PAD.right);
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const sx = (x) => left + ((x - from) / Math.max(1, to - from)) * plotW;
  const sy = (y) => PAD.top + plotH - (y / top) * plotH;
  // A time label is about 55 px wide: as many as fit with room between them, at most five.
  const xTickCount = Math.max(1, Math.min(4, Math.floor(plotW / 90)));
  const xTicks = Array.from({ length: xTickCount + 1 }, (_v, i) => from + ((to - from) * i) / xTickCount);
  const anchor = (i) => (i === 0 ? 'start' : i === xTickCount ? 'end' : 'middle');

  return html`<figure class="chart" data-testid=${testid} data-points=${xs.length} data-x-from=${Math.round(from)} data-x-to=${Math.round(to)}>
    <figcaption>${title}</figcaption>
    <div ref=${box} class="chart-box">
      ${width > 0 && html`<svg width=${width} height=${HEIGHT} viewBox=${`0 0 ${width} ${HEIGHT}`} role="img" aria-label=${title}>
        <g class="grid">${ticks.map((t) => html`<line x1=${left} x2=${left + plotW} y1=${sy(t)} y2=${sy(t)} />`)}</g>
        <g class="y-labels">${ticks.map((t, i) => html`<text class="axis-label" x=${left - 6} y=${sy(t)} text-anchor="end" dominant-baseline="middle">${labels[i]}</text>`)}</g>
        <g class="x-labels">${xTicks.map((t, i) => html`<text class="axis-label" x=${sx(t)} y=${HEIGHT - 6} text-anchor=${anchor(i)}>${clock(t)}</text>`)}</g>
        ${columns.map((ys, i) => html`<path class="line" d=${pathOf(xs, ys, sx, sy)} stroke=${series[i]?.colour} stroke-dasharray=${series[i]?.dash ? series[i].dash.join(' ') : undefined} />`)}
      </svg>`}
    </div>
    ${xs.length === 0 && html`<p class="muted chart-empty">No traffic yet: points appear every 2 s while requests flow.</p>`}
    <ul class="legend" data-testid=${`${testid}-legend`}>
      ${series.map((s, i) => html`<li><span class="swatch" style=${`border-color:${s.colour};border-style:${s.dash ? 'dashed' : 'solid'}`}></span>${s.label} <strong>${lastValue(columns[i] ?? []) === null ? 'no data' : yFormat(lastValue(columns[i]))}</strong></li>`)}
    </ul>
  </figure>`;
}
