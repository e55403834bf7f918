// The audit log, newest first, and whether its hash chain and signed checkpoint
// still verify (the same check as `slipway audit verify`).

import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import { dateTime } from '../format.js';
import { html } from '../html.js';

const PAGE = 200;

export function AuditView() {
  const [verify, setVerify] = useState(null);
  const [entries, setEntries] = useState(null);
  const [filters, setFilters] = useState({ env: '', actor: '', action: '' });
  const [error, setError] = useState(null);

  const load = async () => {
    try {
      const v = await api.auditVerify();
      setVerify(v);
      // The list is oldest first: start a page before the head for the newest entries.
      const filtered = filters.env || filters.actor || filters.action;
      const after = filtered ? undefined : Math.max(0, (v.head?.seq ?? 0) - PAGE);
      const a = await api.audit({ ...filters, after, limit: filtered ? 100_000 : PAGE });
      setEntries(a.entries.slice(-PAGE).reverse());
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    void load();
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, [filters.env, filters.actor, filters.action]);

  const set = (k) => (e) => setFilters({ ...filters, [k]: e.currentTarget.value.trim() });
  return html`<h1>Audit log</h1>
    ${error && html`<p class="error">${error.message}</p>`}
    ${verify && html`<${VerifyStatus} v=${verify} />`}
    <section class="card">
      <form class="filters" onSubmit=${(e) => e.preventDefault()}>
        <label>environment <input value=${filters.env} onChange=${set('env')} placeholder="any" /></label>
        <label>actor <input value=${filters.actor} onChange=${set('actor')} placeholder="any" /></label>
        <label>action <input value=${filters.action} onChange=${set('action')} placeholder="e.g. rollout.abort" /></label>
      </form>
      ${entries && html`<table data-testid="audit">
        <thead><tr><th>#</th><th>when</th><th>actor</th><th>action</th><th>env</th><th>target</th><th>outcome</th><th>details</th></tr></thead>
        <tbody>${entries.map((a) => html`<tr data-testid=${`audit-${a.seq}`}>
          <td class="num">${a.seq}</td><td class="nowrap">${dateTime(a.at)}</td><td>${a.actor}</td><td><code>${a.action}</code></td>
          <td>${a.env ?? ''}</td><td class="target">${a.target ?? ''}</td><td><span class=${`outcome outcome-${a.outcome}`}>${a.outcome}</span></td>
          <td class="details"><code title=${JSON.stringify(a.details)}>${JSON.stringify(a.details)}</code></td>
        </tr>`)}</tbody>
      </table>`}
    </section>`;
}

function VerifyStatus({ v }) {
  if (v.ok) {
    return html`<p class="banner banner-ok" data-testid="audit-verify" data-ok="true">
      <strong>Chain verified:</strong> ${v.entries} entries, head #${v.head?.seq ?? 0}${v.checkpoint ? `, signed checkpoint at #${v.checkpoint.seq} valid` : ''}.
      ${v.warning && html` <span class="notice">${v.warning}</span>`}
    </p>`;
  }
  return html`<p class="banner banner-error" role="alert" data-testid="audit-verify" data-ok="false">
    <strong>The audit chain does not verify:</strong> ${v.problem ? `entry #${v.problem.seq} ${v.problem.kind}: ${v.problem.message}` : v.warning ?? 'see slipway audit verify'}
  </p>`;
}
