// Pieces shared by the overview and the environment view: the traffic split per
// release with its live figures, instance health, and the live figures hook.

import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import { latestFigures, ms, pct, rate } from '../format.js';
import { html } from '../html.js';

/** The live points of an environment over the last `keepMs`, refreshed every 2 s. */
export function useLivePoints(env, keepMs = 15_000) {
  const [points, setPoints] = useState([]);
  useEffect(() => {
    let kept = [];
    return api.watchLiveMetrics(env, (fresh, answer) => {
      kept = [...kept, ...fresh].filter((p) => p.ts > answer.now - keepMs);
      setPoints(kept);
    }, () => undefined, { after: Date.now() - keepMs });
  }, [env]);
  return points;
}

/** Release number → its role in the environment right now. */
export function releaseRoles(status) {
  const roles = {};
  if (status.stable) roles[status.stable.number] = 'stable';
  const r = status.rollout;
  // A finished rollout says nothing about now: the stable release is status.stable.
  if (r && !['succeeded', 'failed', 'rolled_back'].includes(r.phase)) {
    if (r.from !== null) roles[r.from] = 'stable';
    roles[r.to] = r.kind === 'rollback' ? 'rollback' : 'new';
  }
  return roles;
}

export function TrafficSplit({ status, points }) {
  const roles = releaseRoles(status);
  const figures = latestFigures(points, Date.now());
  const onCluster = (status.cluster?.releases ?? []).filter((r) => r.replicas > 0 || r.serving > 0);
  const releases = [...new Set([...Object.keys(status.weights), ...status.instances.map((i) => String(i.release)), ...onCluster.map((r) => String(r.release)), ...Object.keys(roles)])]
    .map(Number).sort((a, b) => a - b);
  if (releases.length === 0) return html`<p class="muted">Nothing runs here.</p>`;
  const weightOf = (n) => status.weights[String(n)] ?? 0;
  return html`<div class="traffic" data-testid="traffic">
    <div class="split-bar" aria-label="traffic split">
      ${releases.filter((n) => weightOf(n) > 0).map((n) => html`<span class=${`seg seg-${roles[n] ?? 'other'}`} style=${`width:${weightOf(n)}%`} title=${`#${n}: ${weightOf(n)}%`}>#${n} ${weightOf(n)}%</span>`)}
    </div>
    <table class="figures">
      <thead><tr><th>release</th><th>traffic</th><th>req/s</th><th>errors</th><th>p50</th><th>p99</th><th>${status.cluster ? 'pods' : 'instances'}</th></tr></thead>
      <tbody>
        ${releases.map((n) => {
          const f = figures[n];
          const inst = status.instances.filter((i) => i.release === n);
          const ready = inst.filter((i) => i.state === 'ready').length;
          return html`<tr data-release=${n} data-testid=${`release-row-${n}`}>
            <td><span class=${`dot dot-${roles[n] ?? 'other'}`}></span>#${n} <span class="muted">${roles[n] ?? ''}</span></td>
            <td class="num" data-testid="weight">${weightOf(n)}%</td>
            <td class="num" data-testid="rps">${rate(f?.rps ?? 0)}</td>
            <td class=${`num ${f?.errorRate > 0.01 ? 'bad' : ''}`} data-testid="error-rate">${pct(f?.errorRate ?? null)}</td>
            <td class="num">${ms(f?.p50Ms)}</td>
            <td class="num" data-testid="p99">${ms(f?.p99Ms)}</td>
            <td>${status.cluster ? html`<${PodHealth} release=${onCluster.find((r) => r.release === n)} />` : html`<${Health} instances=${inst} ready=${ready} />`}</td>
          </tr>`;
        })}
      </tbody>
    </table>
  </div>`;
}

/** On a cluster: the replicas slipway asked for, and how many are Ready and given traffic. */
function PodHealth({ release }) {
  if (!release) return html`<span class="muted">none</span>`;
  // What the cluster reports now when known, else what slipway counted when it scaled.
  const ready = release.live ? release.live.ready : release.serving;
  return html`<span class=${`health ${ready >= release.replicas ? 'ok' : 'warn'}`} data-testid="pods">${ready}/${release.replicas} ready</span>
    ${release.live?.restarts > 0 && html` <span class="badge state-failed">${release.live.restarts} restarts</span>`}`;
}

function Health({ instances, ready }) {
  if (instances.length === 0) return html`<span class="muted">none</span>`;
  const other = instances.filter((i) => i.state !== 'ready');
  return html`<span class=${`health ${ready === instances.length ? 'ok' : 'warn'}`}>${ready}/${instances.length} healthy</span>
    ${other.map((i) => html` <span class=${`badge state-${i.state}`} title=${i.lastError ?? ''}>${i.state}</span>`)}`;
}
