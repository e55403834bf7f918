// Release pipeline runs: the recent ones, and one run with its stages (build, test,
// package, staging deploy, acceptance, approval, production deploy, watch), its approvals and its
// deployment checklist with the evidence of each item. Updated from the event stream.

import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import { age, clock, dateTime, duration, runOrigin, shortDigest } from '../format.js';
import { html } from '../html.js';
import { Confirm } from './confirm.js';
import { ApprovalButtons } from './overview.js';

const STATUS_CLASS = { succeeded: 'pass', proven: 'pass', attested: 'inconclusive', running: 'running', waiting: 'inconclusive', pending: 'todo', skipped: 'todo', missing: 'todo', failed: 'fail' };
const ITEM_MARK = { proven: '✓', attested: '≈', missing: '·', failed: '✗' };

function Status({ status, testid }) {
  return html`<span class=${`decision decision-${STATUS_CLASS[status] ?? 'todo'}`} data-testid=${testid}>${status}</span>`;
}

export function RunsView() {
  const [answer, setAnswer] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => api.watchPipelineRuns((a) => {
    setAnswer(a);
    setError(null);
  }, setError), []);
  const runs = answer?.runs ?? null;
  return html`<h1>Pipeline runs</h1>
    ${error && html`<p class="error">${error.message}</p>`}
    ${runs === null ? !error && html`<p class="muted">Loading…</p>`
      : runs.length === 0 ? html`<div class="card empty"><p>No pipeline run yet: <code>slipway release</code> starts one (see docs/pipeline.md).</p></div>`
      : html`<section class="card"><table data-testid="runs">
        <thead><tr><th>run</th><th>service</th><th>version</th><th>commit</th><th>status</th><th>stage</th><th>started by</th><th>when</th></tr></thead>
        <tbody>${runs.map((r) => html`<tr data-testid=${`runs-row-${r.id}`}>
          <td><a href=${`#/runs/${r.id}`}>#${r.id}</a></td><td>${r.service}</td><td>${r.version}</td><td><code>${r.commit.slice(0, 8)}</code></td>
          <td><${Status} status=${r.status} /></td><td>${r.stage}</td><td>${r.startedBy}</td><td title=${dateTime(r.createdAt)}>${age(r.createdAt)}</td>
        </tr>`)}</tbody>
      </table>
      ${answer.more && html`<p class="muted" data-testid="runs-cut">Showing the newest ${runs.length} of ${answer.total} runs; <code>slipway runs --all</code> lists every one.</p>`}
      </section>`}`;
}

export function RunView({ id, identity }) {
  const [view, setView] = useState(null);
  const [error, setError] = useState(null);
  const [asking, setAsking] = useState(null);
  const [message, setMessage] = useState(null);
  useEffect(() => api.watchPipelineRun(id, (v) => {
    setView(v);
    setError(null);
  }, setError), [id]);

  if (!view) return html`<h1>Run #${id}</h1>${error ? html`<p class="error" data-testid="run-error">${error.message}</p>` : html`<p class="muted">Loading…</p>`}`;
  const { run, stages, approvals, checklist } = view;
  const origin = runOrigin(run);
  const isWaiting = run.status === 'waiting' && run.stage === 'approval';
  const decide = async (action) => {
    setAsking(null);
    try {
      if (action === 'approve') await api.approveRun(run.id);
      else await api.rejectRun(run.id, 'rejected from the dashboard');
      setMessage({ ok: true, text: `run #${run.id} ${action === 'approve' ? 'approved' : 'rejected'}` });
    } catch (err) {
      setMessage({ ok: false, text: err.message });
    }
  };
  return html`<nav class="tabs"><h1><span class="muted service-tag" data-testid="service-name">${run.service} /</span> run #${run.id}</h1><a href="#/runs">all runs</a></nav>
    <section class="card" data-testid="run" data-status=${run.status}>
      <p><${Status} status=${run.status} testid="run-status" /> ${run.service} <strong>${run.version}</strong> at <code>${run.commit.slice(0, 12)}</code> (${run.ref})
        <span class="muted"> · started by ${run.startedBy} at ${dateTime(run.createdAt)} · ${origin.url ? html`<a href=${origin.url} target="_blank" rel="noopener noreferrer">${origin.label}</a>` : origin.label}${run.attempt > 1 ? ` · attempt ${run.attempt}` : ''}</span></p>
      ${run.artefactDigest && html`<p class="muted">artefact <code title=${run.artefactDigest}>${shortDigest(run.artefactDigest)}</code>${run.productionEnv ? ` · for ${run.productionEnv}` : ''}</p>`}
      ${run.reason && html`<p class=${run.status === 'failed' ? 'error' : 'notice'} data-testid="run-reason">${run.reason}</p>`}
      ${message && html`<p class=${message.ok ? 'ok' : 'error'} data-testid="approval-message">${message.text}</p>`}
      ${isWaiting && html`<div class="actions"><${ApprovalButtons} run=${run} approvals=${approvals} identity=${identity} onAsk=${(a) => setAsking(a.action)} /></div>`}
    </section>
    <section class="card">
      <h2>Stages</h2>
      <ol class="timeline stages" data-testid="stages">
        ${stages.map((s) => html`<li class=${`step step-${s.status === 'succeeded' ? 'done' : s.status === 'running' || s.status === 'waiting' ? 'current' : 'todo'} stage-${s.status}`} data-stage=${s.name} title=${s.reason ?? ''}>
          <span class="marker">${s.status === 'succeeded' ? '✓' : s.status === 'failed' ? '✗' : '·'}</span><span>${s.name.replace(/_/g, ' ')}</span>
          <span class="muted">${s.status === 'skipped' ? 'skipped' : s.startedAt && s.finishedAt ? duration(s.finishedAt - s.startedAt) : s.status === 'pending' ? '' : s.status}</span>
        </li>`)}
      </ol>
      ${stages.filter((s) => s.status === 'failed' && s.outputTail).map((s) => html`<details open><summary>output of ${s.name}</summary><pre class="log">${s.outputTail}</pre></details>`)}
    </section>
    <section class="card">
      <h2>Checklist <span class="muted">(${checklist.filter((i) => i.status === 'proven' || i.status === 'attested').length} of ${checklist.length} proven)</span></h2>
      <ul class="checklist" data-testid="checklist">
        ${checklist.map((i) => html`<li class=${`item item-${i.status}`} data-item=${i.id}>
          <span class="mark">${ITEM_MARK[i.status] ?? '·'}</span>
          <div><strong>${i.title}</strong> <${Status} status=${i.status} /><br /><span class="muted evidence">${i.evidence}</span></div>
        </li>`)}
      </ul>
    </section>
    ${approvals.length > 0 && html`<section class="card"><h2>Approvals</h2><ul class="events">
      ${approvals.map((a) => html`<li><span class="muted">${clock(a.at)}</span> ${a.decision === 'approve' ? 'approved' : 'rejected'} by ${a.actor}${a.reason ? `: ${a.reason}` : ''}${a.attempt !== run.attempt ? ' (an earlier attempt)' : ''}</li>`)}
    </ul></section>`}
    ${asking && html`<${Confirm} title=${`${asking === 'approve' ? 'Approve' : 'Reject'} run #${run.id}?`}
      confirmLabel=${asking === 'approve' ? 'Approve for production' : 'Reject'} danger=${asking === 'reject'}
      onConfirm=${() => decide(asking)} onCancel=${() => setAsking(null)}>
      ${run.service} ${run.version} (${run.commit.slice(0, 8)}), started by ${run.startedBy}.
    <//>`}`;
}
