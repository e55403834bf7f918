// Live charts with uPlot, loaded on first use so the first page stays small.
// A chart's container carries data-points (how many x values it holds) so a test,
// or a curious user's devtools, can see it move.

import { useEffect, useRef } from 'preact/hooks';
import { html } from './html.js';

let uplot = null;

function loadUPlot() {
  uplot ??= new Promise((resolve, reject) => {
    const link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = '/ui/vendor/uplot.css';
    document.head.append(link);
    // uPlot's minified build is a classic script that defines window.uPlot.
    const script = document.createElement('script');
    script.src = '/ui/vendor/uplot.js';
    script.onload = () => resolve(window.uPlot);
    script.onerror = () => {
      uplot = null;
      reject(new Error('could not load the chart library'));
    };
    document.head.append(script);
  });
  return uplot;
}

export const COLOURS = { stable: '#2563eb', new: '#ea580c', rollback: '#7c3aed', other: '#6b7280' };

/**
 * series: [{ label, colour, dash? }]; data: [xs (epoch s), ...one array per series].
 * yFormat: how a y value reads on the axis.
 */
export function LiveChart({ title, series, data, yFormat, testid }) {
  const box = useRef(null);
  const chart = useRef(null);
  const latest = useRef(data);
  latest.current = data;
  const shape = series.map((s) => s.label).join('|');

  useEffect(() => {
    let cancelled = false;
    let observer = null;
    const el = box.current;
    void loadUPlot().then((UPlot) => {
      if (cancelled || !el) return;
      const width = Math.max(280, el.clientWidth);
      chart.current = new UPlot({
        width, height: 180, legend: { live: true },
        // From zero, and at least to 1, so a flat line of zeros sits at the bottom, not mid-chart.
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, (max ?? 0) * 1.1)] } },
        axes: [{}, { values: (_u, vals) => vals.map((v) => yFormat(v)), size: 64 }],
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.colour, width: 2, dash: s.dash, points: { show: false }, value: (_u, v) => (v === null || v === undefined ? '—' : yFormat(v)) }))],
      }, latest.current, el);
      observer = new ResizeObserver(() => chart.current?.setSize({ width: Math.max(280, el.clientWidth), height: 180 }));
      observer.observe(el);
    });
    return () => {
      cancelled = true;
      observer?.disconnect();
      chart.current?.destroy();
      chart.current = null;
    };
  }, [shape]);

  useEffect(() => {
    chart.current?.setData(data);
  }, [data]);

  return html`<figure class="chart" data-testid=${testid} data-points=${data[0].length}>
    <figcaption>${title}</figcaption>
    <div ref=${box} class="chart-box"></div>
    ${data[0].length === 0 && html`<p class="muted chart-empty">No traffic yet: points appear every 2 s while requests flow.</p>`}
  </figure>`;
}
