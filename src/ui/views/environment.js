// One environment: its rollout as a timeline with the current step, live charts of
// the stable and new releases on the same axes, the analysis with its figures, the
// rollout's events, its instances, and the buttons the token's role allows.

import { useEffect, useMemo, useState } from 'preact/hooks';
import * as api from '../api.js';
import { COLOURS, LiveChart } from '../charts.js';
import { analysisVerdict, checkName, checkVerdict, clock, duration, may, ms, readableDurations, recordedCounts, recordedSample } from '../format.js';
import { html } from '../html.js';
import { Certificates } from './certificates.js';
import { Confirm } from './confirm.js';
import { RolloutLine, StableLine } from './overview.js';
import { TrafficSplit, releaseRoles } from './traffic.js';
import { Watch } from './watch.js';

const KEEP_MS = 15 * 60_000;
// Before a rollout's start, the charts show a tenth of its length more (at least 5 s) of
// the stable release alone, for comparison.
const LEAD_SHARE = 0.1;
const MIN_LEAD_MS = 5000;
// A chart spans at least this long, so its time labels differ.
const MIN_SPAN_MS = 20_000;
// With no rollout under way, the charts span the last few minutes.
const QUIET_SPAN_MS = 5 * 60_000;
const FINISHED = new Set(['succeeded', 'failed', 'rolled_back']);

/** The environment's name, and the service it belongs to when known (from a key `shop/production` or the caller). */
export function EnvTabs({ env, active, service = null }) {
  const base = `#/env/${encodeURIComponent(env)}`;
  const [fromKey, name] = env.includes('/') ? env.split('/') : [null, env];
  const owner = service ?? fromKey;
  return html`<nav class="tabs">
    <h1>${owner && html`<span class="service-tag muted" data-testid="service-name">${owner} /</span> `}${name}</h1>
    <a href=${base} class=${active === 'rollout' ? 'active' : ''}>Rollout</a>
    <a href=${`${base}/releases`} class=${active === 'releases' ? 'active' : ''}>Releases</a>
    <a href=${`${base}/logs`} class=${active === 'logs' ? 'active' : ''}>Logs</a>
  </nav>`;
}

/** Live points of the environment since the view opened (plus what the server still holds). */
function usePoints(env) {
  const [points, setPoints] = useState([]);
  useEffect(() => {
    let kept = [];
    return api.watchLiveMetrics(env, (fresh, answer) => {
      if (fresh.length === 0 && kept.length > 0) return;
      kept = [...kept, ...fresh].filter((p) => p.ts > answer.now - KEEP_MS);
      setPoints(kept);
    }, () => undefined, { after: Date.now() - KEEP_MS });
  }, [env]);
  return points;
}

/** The environment's status, the events of the rollout it shows, and the last error of the status poll. */
function useEnvironment(env) {
  const [status, setStatus] = useState(null);
  const [events, setEvents] = useState([]);
  const [error, setError] = useState(null);
  useEffect(() => api.watchEnvironmentAndEvents(env, {
    onStatus: (s) => {
      setStatus(s);
      setError(null);
    },
    onEvents: setEvents,
    onError: setError,
  }), [env]);
  return { status, events, error };
}

export function EnvironmentView({ env, identity }) {
  const { status, events, error } = useEnvironment(env);
  const points = usePoints(env);
  // The rollout and the traffic weights come from one status answer, so they always agree.
  const rollout = status?.rollout ?? status?.lastRollout ?? null;

  if (!status) {
    return html`<${EnvTabs} env=${env} active="rollout" />${error ? html`<p class="error" data-testid="env-error">${error.message}</p>` : html`<p class="muted">Loading…</p>`}`;
  }
  const active = rollout && !FINISHED.has(rollout.phase) ? rollout : null;
  return html`<${EnvTabs} env=${env} active="rollout" service=${status.service} />
    ${error && error.kind !== 'unreachable' && html`<p class="error">${error.message}</p>`}
    <section class="card">
      <p>Stable: <${StableLine} release=${status.stable} /> <span class="muted">${status.listen ? `· listening on ${status.listen}` : ''}</span></p>
      ${status.preview && html`<p class="preview" data-testid="preview">Preview of #${status.preview.release}: <a href=${previewUrl(status.preview.listen)} target="_blank" rel="noopener noreferrer" data-testid="preview-address">${previewUrl(status.preview.listen)}</a> <span class="muted">(the new colour answers here before it gets the traffic)</span></p>`}
      ${status.tls && html`<${Certificates} tls=${status.tls} />`}
      ${status.recorded && html`<${Recorded} recorded=${status.recorded} />`}
      ${rollout ? html`<${RolloutPanel} env=${env} rollout=${rollout} isActive=${Boolean(active)} />` : html`<p class="muted">No rollout yet.</p>`}
      ${active && may(identity, 'deploy', env) && html`<${Actions} env=${env} rollout=${active} />`}
    </section>
    <section class="card">
      <h2>Traffic</h2>
      <${TrafficSplit} status=${{ ...status, rollout: active }} points=${points} />
    </section>
    <${Charts} status=${status} rollout=${rollout} points=${points} />
    ${status.analysis && html`<${Analysis} analysis=${status.analysis} />`}
    ${status.watch && !active && html`<${Watch} watch=${status.watch} />`}
    ${events.length > 0 && html`<${Events} events=${events} />`}
    ${status.cluster ? html`<${Cluster} cluster=${status.cluster} />` : html`<${Instances} instances=${status.instances} />`}`;
}

/**
 * What became of the requests the router picked for replay's sample (record:) since it
 * started, in `slipway status`'s words, then every count as /metrics names them. The
 * status has them once the environment records (null: it has not since the router started).
 */
function Recorded({ recorded }) {
  const { head, drops } = recordedSample(recorded);
  return html`<div class="recorded" data-testid="recorded">
    <p>Recorded: <span data-testid="recorded-line">${head}${drops.map((d, i) => html`${i > 0 ? ', ' : ''}<span class=${d.outcome === 'dropped_write_failed' ? 'error' : ''}>${d.text}</span>`)}</span></p>
    <p class="muted" data-testid="recorded-counts">${recordedCounts(recorded).map(([outcome, n], i) => html`${i > 0 ? ' · ' : ''}<code>${outcome}</code> ${n}`)}</p>
  </div>`;
}

/** The preview listener as an address to open: `127.0.0.1:9080` → http://127.0.0.1:9080/ (a wildcard host as this page's host). */
export function previewUrl(listen) {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at);
  const shown = host === '0.0.0.0' || host === '::' || host === '[::]' || host === '' ? location.hostname : host;
  return `http://${shown}:${listen.slice(at + 1)}/`;
}

function Cluster({ cluster }) {
  const kept = cluster.releases.filter((r) => r.replicas === 0);
  return html`<section class="card" data-testid="cluster">
    <h2>Cluster</h2>
    <p>Namespace <code>${cluster.namespace}</code>${cluster.context ? html` in context <code>${cluster.context}</code>` : ''}; traffic split by ${cluster.traffic === 'gateway' ? 'an HTTPRoute' : 'slipway\'s router'}.</p>
    <table>
      <thead><tr><th>release</th><th>replicas</th><th>ready and serving</th><th>pods Ready now</th><th>restarts</th></tr></thead>
      <tbody>${cluster.releases.filter((r) => r.replicas > 0 || r.serving > 0).map((r) => html`<tr><td>#${r.release}</td><td class="num">${r.replicas}</td><td class="num">${r.serving}</td>
        <td class="num">${r.live ? `${r.live.ready}/${r.live.pods}` : '—'}</td><td class="num">${r.live ? r.live.restarts : '—'}</td></tr>`)}</tbody>
    </table>
    ${kept.length > 0 && html`<p class="muted">Kept at zero replicas for a fast rollback: ${kept.map((r) => `#${r.release}`).join(', ')}.</p>`}
  </section>`;
}

function RolloutPanel({ env, rollout, isActive }) {
  const aborting = rollout.phase === 'aborting' || rollout.phase === 'rolled_back';
  const steps = aborting && rollout.abortSteps ? rollout.abortSteps : rollout.steps;
  const done = (i) => rollout.phase === 'succeeded' || i < rollout.step;
  return html`<div class="rollout" data-testid="rollout" data-phase=${rollout.phase}>
    <h2>Rollout #${rollout.id} ${!isActive && html`<span class="muted">(the last one)</span>`}</h2>
    <${RolloutLine} env=${env} rollout=${rollout} />
    <p class="muted">started by ${rollout.createdBy} at ${clock(rollout.createdAt)}${rollout.finishedAt ? `, finished at ${clock(rollout.finishedAt)} (took ${duration(rollout.finishedAt - rollout.createdAt)})` : ''}</p>
    ${rollout.reason && html`<p class=${rollout.phase === 'succeeded' ? 'muted' : 'notice'} data-testid="rollout-reason">${readableDurations(rollout.reason)}</p>`}
    ${aborting && html`<p class="muted">Abort plan:</p>`}
    <ol class="timeline" data-testid="timeline">
      ${steps.map((s, i) => {
        const state = done(i) ? 'done' : i === rollout.step && !FINISHED.has(rollout.phase) ? 'current' : 'todo';
        return html`<li class=${`step step-${state}`} aria-current=${state === 'current' ? 'step' : undefined}>
          <span class="marker">${state === 'done' ? '✓' : i + 1}</span><span>${readableDurations(s)}</span>
          ${state === 'current' && html` <span class=${`phase phase-${rollout.phase}`}>${rollout.phase}</span>`}
        </li>`;
      })}
    </ol>
  </div>`;
}

function Actions({ env, rollout }) {
  const [busy, setBusy] = useState(null);
  const [message, setMessage] = useState(null);
  const [confirming, setConfirming] = useState(false);
  const act = async (action, body = {}) => {
    setBusy(action);
    setMessage(null);
    try {
      const a = await api.rolloutAction(env, action, body);
      setMessage({ kind: 'ok', text: `${action}: rollout #${a.rollout.id} is ${a.rollout.phase}` });
    } catch (e) {
      setMessage({ kind: 'error', text: `${action} refused: ${e.message}` });
    } finally {
      setBusy(null);
    }
  };
  const paused = rollout.phase === 'paused';
  const stoppable = rollout.phase !== 'aborting';
  return html`<div class="actions" data-testid="actions">
    ${stoppable && html`<button class="primary" disabled=${busy} onClick=${() => act('promote')} title="go on to the next step now">Promote</button>
    <button disabled=${busy} onClick=${() => act('promote', { full: true })} title="skip every remaining step">Promote fully</button>
    ${paused ? html`<button disabled=${busy} onClick=${() => act('resume')}>Resume</button>` : html`<button disabled=${busy} onClick=${() => act('pause')}>Pause</button>`}
    <button class="danger" disabled=${busy} onClick=${() => setConfirming(true)}>Abort…</button>`}
    ${message && html`<span class=${message.kind === 'ok' ? 'ok' : 'error'} data-testid="action-message">${message.text}</span>`}
    ${confirming && html`<${Confirm} title=${`Abort rollout #${rollout.id}?`} confirmLabel="Abort rollout" danger=${true}
      onCancel=${() => setConfirming(false)}
      onConfirm=${() => { setConfirming(false); void act('abort'); }}>
      All traffic goes back to the stable release #${rollout.from ?? '—'} first, then the instances of #${rollout.to} stop.
    </${Confirm}>`}
  </div>`;
}

/** The chart data: one x axis (epoch ms) and, per release shown, its figure in each point. */
function chartData(points, releases, pick) {
  const xs = [...new Set(points.map((p) => p.ts))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const columns = releases.map(() => new Array(xs.length).fill(null));
  for (const p of points) {
    const r = releases.indexOf(p.release);
    if (r >= 0) columns[r][index.get(p.ts)] = pick(p);
  }
  return [xs, ...columns];
}

function Charts({ status, rollout, points }) {
  // Colours by side of the rollout shown, finished or not: the stable release, and the other one.
  const roles = releaseRoles(status);
  for (const n of [rollout?.from, rollout?.to]) {
    if (n === null || n === undefined || roles[n]) continue;
    // The release the rollout moved to, else the one it left (a finished rollout's, or a failed one's).
    roles[n] = n === rollout.to ? (rollout.kind === 'rollback' ? 'rollback' : 'new') : 'other';
  }
  const releases = [...new Set([rollout?.from, rollout?.to, status.stable?.number].filter((n) => n !== null && n !== undefined))].sort((a, b) => a - b);
  const label = (n) => `#${n} ${roles[n] === 'other' ? 'previous' : roles[n] ?? ''}`.trim();
  const colour = (n) => COLOURS[roles[n] ?? 'other'];
  // The x axis spans the rollout shown (from a little before it started to its end, or now):
  // the new release fills the chart rather than a sliver at the right edge of 15 minutes.
  const now = points.length ? Math.max(Date.now(), points[points.length - 1].ts) : Date.now();
  const isRecent = rollout && (rollout.finishedAt === null || now - rollout.finishedAt < QUIET_SPAN_MS);
  const end = isRecent && rollout.finishedAt !== null ? Math.min(now, rollout.finishedAt + QUIET_SPAN_MS) : now;
  const lead = isRecent ? Math.max(MIN_LEAD_MS, (end - rollout.createdAt) * LEAD_SHARE) : 0;
  const from = isRecent ? rollout.createdAt - lead : now - QUIET_SPAN_MS;
  const to = Math.max(end, from + lead);
  const xRange = [Math.min(from, to - MIN_SPAN_MS), to];
  const shown = points.filter((p) => p.ts >= xRange[0] && p.ts <= xRange[1]);
  const data = useMemo(() => {
    const points = shown;
    const p50 = chartData(points, releases, (p) => p.p50Ms);
    const p99 = chartData(points, releases, (p) => p.p99Ms);
    return {
      errors: chartData(points, releases, (p) => (p.requests ? (100 * p.errors) / p.requests : null)),
      // Two lines per release on the same axes: p50 dashed, p99 solid.
      latency: [p50[0], ...p50.slice(1), ...p99.slice(1)],
      rps: chartData(points, releases, (p) => (p.requests * 1000) / p.intervalMs),
    };
  }, [points, releases.join(), xRange[0]]);
  return html`<section class="card charts">
    <h2>Live <span class="muted">(a point every 2 s, ${isRecent ? `since rollout #${rollout.id} started` : 'the last 5 minutes'})</span></h2>
    <div class="chart-grid">
      <${LiveChart} testid="chart-errors" title="Error rate (5xx, %)" data=${data.errors} xRange=${xRange} yFormat=${(v) => `${v.toFixed(1)}%`}
        series=${releases.map((n) => ({ label: label(n), colour: colour(n) }))} />
      <${LiveChart} testid="chart-latency" title="Latency p50 (dashed) and p99" data=${data.latency} xRange=${xRange} yFormat=${(v) => ms(v)}
        series=${[...releases.map((n) => ({ label: `${label(n)} p50`, colour: colour(n), dash: [4, 4] })), ...releases.map((n) => ({ label: `${label(n)} p99`, colour: colour(n) }))]} />
      <${LiveChart} testid="chart-rps" title="Requests per second" data=${data.rps} xRange=${xRange} yFormat=${(v) => v.toFixed(v >= 10 ? 0 : 1)}
        series=${releases.map((n) => ({ label: label(n), colour: colour(n) }))} />
    </div>
  </section>`;
}

const DECISION_LABELS = { pass: 'healthy', fail: 'worse', inconclusive: 'undecided' };

function Analysis({ analysis }) {
  return html`<section class="card" data-testid="analysis">
    <h2>Analysis <span class=${`decision decision-${analysis.decision}`}>${DECISION_LABELS[analysis.decision] ?? analysis.decision}</span></h2>
    <p data-testid="analysis-verdict">${analysis.verdict ?? analysisVerdict(analysis)}</p>
    <ul class="checks" data-testid="analysis-checks">
      ${analysis.checks.map((c) => html`<li title=${`${c.check} (${c.method})`}>
        <span class=${`decision decision-${c.decision}`}>${DECISION_LABELS[c.decision] ?? c.decision}</span>
        <strong>${checkName(c.check)}</strong> <span>${checkVerdict(c)}</span>
      </li>`)}
    </ul>
    ${analysis.longRequests && html`<p class="muted" data-testid="analysis-long">${longRequestsLine(analysis.longRequests)}</p>`}
  </section>`;
}

/** Requests past proxy.long_request: judged in the error rate, left out of latency (docs/config.md#proxy). */
function longRequestsLine({ new: n, stable: s }) {
  const one = (c) => `${c.requests}${c.errors > 0 ? ` (${c.errors} failed)` : ''}`;
  return `Long requests, left out of latency: new ${one(n)}, stable ${one(s)}.`;
}

function Events({ events }) {
  return html`<section class="card">
    <h2>Events</h2>
    <ul class="events" data-testid="events">
      ${[...events].reverse().slice(0, 100).map((e) => html`<li class=${`level-${e.level}`}><span class="muted">${clock(e.ts)}</span> ${e.message}</li>`)}
    </ul>
  </section>`;
}

function Instances({ instances }) {
  return html`<section class="card">
    <h2>Instances</h2>
    ${instances.length === 0 ? html`<p class="muted">None running.</p>` : html`<table>
      <thead><tr><th>instance</th><th>release</th><th>state</th><th>port</th><th>pid</th><th>ready since</th><th>last error</th></tr></thead>
      <tbody>${instances.map((i) => html`<tr>
        <td><code>${i.id}</code></td><td>#${i.release}</td><td><span class=${`badge state-${i.state}`}>${i.state}</span></td>
        <td class="num">${i.port}</td><td class="num">${i.pid ?? '—'}</td><td>${clock(i.readyAt)}</td><td class="error">${i.lastError ?? ''}</td>
      </tr>`)}</tbody>
    </table>`}
  </section>`;
}
