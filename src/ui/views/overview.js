// Every environment at a glance: what is stable, what is rolling out, how traffic is
// split, whether the instances are healthy, and the error rate and p99 right now.

import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import { approvalRefusal, countedApprovals } from '../approval-refusal.js';
import { age, may, runOrigin, shortDigest } from '../format.js';
import { Certificates } from './certificates.js';
import { Confirm } from './confirm.js';
import { html } from '../html.js';
import { TrafficSplit, useLivePoints } from './traffic.js';

/** Releases waiting for sign-off, with their checklist so far and Approve / Reject where the role allows. */
function PendingApprovals({ identity }) {
  const [listed, setListed] = useState([]);
  // The decisions given on this page, as the server answered them. No event announces
  // an approval, so the list would learn of one only at its next refresh (up to 30 s):
  // until then the rows show them, and a list fetched before them does not undo them.
  const [decided, setDecided] = useState([]);
  const [message, setMessage] = useState(null);
  const [asking, setAsking] = useState(null);
  useEffect(() => api.watchPendingApprovals(setListed, () => undefined), []);
  const runs = listed.map((r) => withDecisions(r, decided)).filter(isWaitingForApproval);
  if (runs.length === 0 && !message) return null;
  const decide = async (run, action) => {
    setAsking(null);
    try {
      const answer = action === 'approve' ? await api.approveRun(run.id) : await api.rejectRun(run.id, 'rejected from the dashboard');
      setDecided((ds) => [...ds, answer.approval]);
      setMessage({ ok: true, text: decisionMessage(withDecisions(run, [answer.approval]), answer.approval) });
    } catch (err) {
      setMessage({ ok: false, text: err.message });
    }
  };
  return html`<section class="card" data-testid="pending-approvals">
    <h2>Waiting for approval</h2>
    ${message && html`<p class=${message.ok ? 'ok' : 'error'} data-testid="approval-message">${message.text}</p>`}
    ${runs.length === 0 ? html`<p class="muted">Nothing else is waiting.</p>` : html`<table>
      <thead><tr><th>run</th><th>service</th><th>version</th><th>commit</th><th>from</th><th>started by</th><th>approvals</th><th></th></tr></thead>
      <tbody>${runs.map((r) => html`<tr data-testid=${`run-${r.id}`} key=${r.id}>
        <td><a href=${`#/runs/${r.id}`}>#${r.id}</a></td><td>${r.service}</td><td>${r.version}</td><td><code>${r.commit.slice(0, 8)}</code></td>
        <td data-testid=${`run-origin-${r.id}`}>${runOrigin(r).url ? html`<a href=${runOrigin(r).url} target="_blank" rel="noopener noreferrer">${runOrigin(r).label}</a>` : runOrigin(r).label}</td>
        <td>${r.startedBy} · ${age(r.createdAt)}</td>
        <td data-testid=${`run-approvals-${r.id}`}>${approvalProgress(r)}</td>
        <td><${ApprovalButtons} run=${r} approvals=${r.approvals} identity=${identity} onAsk=${setAsking} /></td>
      </tr>`)}</tbody>
    </table>`}
    ${asking && html`<${Confirm} title=${`${asking.action === 'approve' ? 'Approve' : 'Reject'} run #${asking.run.id}?`}
      confirmLabel=${asking.action === 'approve' ? 'Approve for production' : 'Reject'} danger=${asking.action === 'reject'}
      onConfirm=${() => decide(asking.run, asking.action)} onCancel=${() => setAsking(null)}>
      ${asking.run.service} ${asking.run.version} (${asking.run.commit.slice(0, 8)}), started by ${asking.run.startedBy}.
      ${asking.action === 'approve' ? ' It goes to production by its strategy once enough people approve.' : ''}
    <//>`}
  </section>`;
}

/** The run as listed, with the decisions given on this page that the list does not hold yet. */
function withDecisions(run, decided) {
  const fresh = decided.filter((d) => d.runId === run.id && !run.approvals.some((a) => a.id === d.id));
  return fresh.length === 0 ? run : { ...run, approvals: [...run.approvals, ...fresh] };
}

/** Still waiting for someone's approval: neither rejected nor approved by as many users as its policy asks. */
function isWaitingForApproval(run) {
  if (run.approvals.some((a) => a.attempt === run.attempt && a.decision === 'reject')) return false;
  return countedApprovals(run, run.approvals).length < run.approval.count;
}

/** How many of the approvals the run needs it has, from whom, and how many more it waits for (the server's words). */
function approvalProgress(run) {
  const counted = countedApprovals(run, run.approvals);
  if (counted.length === 0) return `none yet; waiting for ${run.approval.count} approval(s)`;
  return `${counted.length} of ${run.approval.count} (${counted.map((a) => a.actor).join(', ')}); waiting for ${run.approval.count - counted.length} more approval(s)`;
}

function decisionMessage(run, given) {
  if (given.decision === 'reject') return `run #${run.id} rejected by ${given.actor}`;
  const missing = run.approval.count - countedApprovals(run, run.approvals).length;
  return `run #${run.id} approved by ${given.actor}; ${missing > 0 ? `waiting for ${missing} more approval(s)` : 'it goes on to production'}`;
}

/**
 * Approve and Reject where the token's role allows. Each is disabled, with the server's
 * reason beside it, when the server would refuse it: the same rule (approval-refusal.js)
 * over the production approval policy the run carries. Four eyes, unless the policy
 * says `distinct_from_starter: false`, keeps the starter from approving and from
 * rejecting; the policy's roles apply to both; an approval already given, to Approve.
 * `approvals`: the run's, as its page and each run of the runs list carry them.
 */
export function ApprovalButtons({ run, approvals, identity, onAsk }) {
  if (!may(identity, 'approve', run.productionEnv)) return null;
  // The server takes the approver's roles from their token: its one role.
  const asked = { run, policy: run.approval, actor: identity.user, roles: [identity.role] };
  const approveRefusal = approvalRefusal({ ...asked, given: approvals });
  // A rejection is refused for a subset of the same reasons, in its own words.
  const rejectRefusal = approvalRefusal({ ...asked, given: [], decision: 'reject' });
  return html`<button class="primary" data-testid=${`approve-${run.id}`} disabled=${approveRefusal !== null} title=${approveRefusal ?? ''}
      onClick=${() => onAsk({ run, action: 'approve' })}>Approve</button>
    <button data-testid=${`reject-${run.id}`} disabled=${rejectRefusal !== null} title=${rejectRefusal ?? ''}
      onClick=${() => onAsk({ run, action: 'reject' })}>Reject</button>
    ${approveRefusal && html` <span class="muted" data-testid=${`approval-refusal-${run.id}`}>${approveRefusal}</span>`}`;
}

export function Overview({ identity }) {
  const [envs, setEnvs] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => api.watchEnvironments((list) => {
    setEnvs(list);
    setError(null);
  }, setError), []);

  if (envs === null) return error ? html`<p class="error">${error.message}</p>` : html`<p class="muted">Loading…</p>`;
  if (envs.length === 0) return html`<div class="card empty"><h2>Nothing deployed yet</h2><p>Run <code>slipway deploy</code> in a service's directory; its environments appear here.</p></div>`;
  return html`<h1>Environments</h1>
    ${error && error.kind !== 'unreachable' && html`<p class="error">${error.message}</p>`}
    ${identity && html`<${PendingApprovals} identity=${identity} />`}
    ${byService(envs).map(([service, list]) => html`<section class="service-group" data-service=${service ?? ''} key=${service ?? ''}>
      <h2 class="service-name">${service ? html`service <strong>${service}</strong>` : 'environments'}</h2>
      <div class="env-grid">${list.map((s) => html`<${EnvironmentCard} key=${s.env} status=${s} />`)}</div>
    </section>`)}`;
}

/** Environments grouped by their service, services by name (the API lists keys in order already). */
function byService(envs) {
  const groups = new Map();
  for (const s of envs) {
    const service = s.service ?? null;
    if (!groups.has(service)) groups.set(service, []);
    groups.get(service).push(s);
  }
  return [...groups];
}

export function StableLine({ release }) {
  if (!release) return html`<span class="muted">no stable release yet</span>`;
  return html`<span data-testid="stable">
    <strong>#${release.number}</strong>
    ${release.version && html` v${release.version}`}
    ${release.commit && html` <code title=${release.commit}>${release.commit.slice(0, 8)}</code>`}
    <span class="muted"> · artefact </span><code title=${release.artefactDigest}>${shortDigest(release.artefactDigest)}</code>
    <span class="muted"> · ${release.configVersion === null ? 'no config set' : `config v${release.configVersion}`} · ${age(release.createdAt)} by ${release.createdBy}</span>
  </span>`;
}

/** The strategy a rollout moves by: the one its target release was made with. */
export function useStrategy(env, rollout) {
  const [strategy, setStrategy] = useState(null);
  const key = rollout ? `${rollout.id}` : '';
  useEffect(() => {
    setStrategy(null);
    if (!rollout) return;
    api.releases(env).then((a) => setStrategy(a.releases.find((r) => r.number === rollout.to)?.strategy ?? null), () => undefined);
  }, [env, key]);
  return strategy;
}

export function RolloutLine({ env, rollout }) {
  const strategy = useStrategy(env, rollout);
  if (!rollout) return null;
  return html`<div class="rollout-line" data-testid="rollout-line">
    <span class=${`phase phase-${rollout.phase}`}>${rollout.phase}</span>
    <span>${rollout.kind} #${rollout.from ?? '—'} → #${rollout.to}</span>
    ${strategy && html`<span class="muted" data-testid="strategy">by ${strategy}</span>`}
    <span class="muted">step ${Math.min(rollout.step + 1, rollout.steps.length)}/${rollout.steps.length}${rollout.current ? `: ${rollout.current}` : ''}</span>
  </div>`;
}

function EnvironmentCard({ status }) {
  const points = useLivePoints(status.env);
  const href = `#/env/${encodeURIComponent(status.env)}`;
  return html`<section class="card env-card" data-env=${status.env} data-service=${status.service ?? ''} data-testid=${`env-${status.name ?? status.env}`}>
    <header>
      <h2><a href=${href} title=${status.env}>${status.name ?? status.env}</a>${status.service ? html` <span class="muted service-tag">${status.service}</span>` : ''}</h2>
      <span class="muted">${status.listen ?? ''}</span>
    </header>
    ${status.listenError && html`<p class="error">listener: ${status.listenError}</p>`}
    ${status.traffic?.maintenance && html`<p class="gate maintenance" data-testid="maintenance">In maintenance: every request gets 503 (“${status.traffic.maintenance.message}”), since ${new Date(status.traffic.maintenance.since).toLocaleTimeString()} by ${status.traffic.maintenance.by}. Instances keep running.</p>`}
    ${status.traffic?.pause && html`<p class="gate paused" data-testid="traffic-paused">Traffic paused: new requests held until ${new Date(status.traffic.pause.untilMs).toLocaleTimeString()} at the latest, by ${status.traffic.pause.by}.</p>`}
    <p>Stable: <${StableLine} release=${status.stable} /></p>
    ${status.tls && html`<${Certificates} tls=${status.tls} />`}
    ${status.rollout ? html`<${RolloutLine} env=${status.env} rollout=${status.rollout} />` : html`<p class="muted">No rollout in progress${status.lastRollout ? `; the last one ${status.lastRollout.phase.replace('_', ' ')}` : ''}.</p>`}
    <${TrafficSplit} status=${status} points=${points} />
    <footer class="links">
      <a href=${href}>Rollout</a>
      <a href=${`${href}/releases`}>Releases</a>
      <a href=${`${href}/logs`}>Logs</a>
    </footer>
  </section>`;
}
