// The newest releases of an environment (the API's page; when it is cut, the page says
// how many there are in all), each with its artefact, config version and who made it,
// and a button to roll back to it. A release retention
// removed (`retired`, docs/retention.md) is listed, marked, and offered no rollback:
// its tree, artefact and image are gone, and the server would refuse it.

import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import { age, dateTime, may, readableDurations, shortDigest } from '../format.js';
import { html } from '../html.js';
import { Confirm } from './confirm.js';
import { EnvTabs } from './environment.js';

export function ReleasesView({ env, identity }) {
  const [answer, setAnswer] = useState(null);
  const [error, setError] = useState(null);
  const [asking, setAsking] = useState(null);
  const [message, setMessage] = useState(null);
  useEffect(() => api.watchReleases(env, (a) => {
    setAnswer(a);
    setError(null);
  }, setError), [env]);

  const rollBack = async (release) => {
    setAsking(null);
    setMessage(null);
    try {
      const a = await api.rollback(env, release.number);
      setMessage({ kind: 'ok', text: `Rolling back to #${a.release.number} (rollout #${a.rollout.id}).` });
      location.hash = `#/env/${encodeURIComponent(env)}`;
    } catch (e) {
      setMessage({ kind: 'error', text: `Rollback refused: ${e.message}` });
    }
  };

  const canDeploy = may(identity, 'deploy', env);
  // The release a rollout is moving to now: rolling back to it means nothing while that runs.
  const target = answer?.rollout?.to ?? null;
  const offer = (r) => canDeploy && !r.isStable && !r.retired && r.number !== target;
  return html`<${EnvTabs} env=${env} active="releases" service=${answer?.releases[0]?.service ?? null} />
    ${error && html`<p class="error">${error.message}</p>`}
    ${message && html`<p class=${message.kind} data-testid="releases-message">${message.text}</p>`}
    ${answer && html`<section class="card">
      <table class="releases" data-testid="releases">
        <thead><tr><th>release</th><th>artefact</th><th>config</th><th>strategy</th><th>instances</th><th>made by</th><th>when</th><th></th></tr></thead>
        <tbody>${answer.releases.map((r) => html`<tr data-testid=${`release-${r.number}`} class=${r.isStable ? 'stable' : r.retired ? 'retired' : ''}>
          <td><strong>#${r.number}</strong>${r.version ? ` v${r.version}` : ''} ${r.isStable && html`<span class="badge state-ready">stable</span>`}</td>
          <td><code title=${r.artefactDigest}>${shortDigest(r.artefactDigest)}</code>${r.commit ? html` <code>${r.commit.slice(0, 8)}</code>` : ''}</td>
          <td>${r.configVersion === null ? '—' : `v${r.configVersion}`} <code class="muted" title=${r.configHash}>${r.configHash.slice(0, 8)}</code></td>
          <td class="muted">${readableDurations(r.strategy)}</td>
          <td class="num">${r.instances}</td>
          <td>${r.createdBy}</td>
          <td title=${dateTime(r.createdAt)}>${age(r.createdAt)}</td>
          <td>${offer(r) && html`<button onClick=${() => setAsking(r)}>Roll back to #${r.number}</button>`}${r.number === target && html`<span class="badge state-starting" data-testid="rolling-out">rolling out now</span>`}${r.retired && html`<span class="badge" data-testid="retired" title="Its unpacked tree, artefact and image were removed by release retention (keep_releases): it cannot be rolled back to. Deploy that version again to bring it back.">removed by retention ${dateTime(r.retired.at)}</span>`}</td>
        </tr>`)}</tbody>
      </table>
      ${answer.more && html`<p class="muted" data-testid="releases-cut">Showing the newest ${answer.releases.length} of ${answer.total} releases; <code>slipway releases ${env} --all</code> lists every one.</p>`}
    </section>`}
    ${asking && html`<${Confirm} title=${`Roll ${env} back to #${asking.number}?`} confirmLabel=${`Roll back to #${asking.number}`} danger=${true}
      onCancel=${() => setAsking(null)} onConfirm=${() => void rollBack(asking)}>
      A rollout moves ${env} to release #${asking.number} (artefact ${shortDigest(asking.artefactDigest)}, config v${asking.configVersion ?? '—'}) with its strategy.
    </${Confirm}>`}`;
}
