// The watch window after a rollout: which release is watched, against what record
// of the previous one, and how it stands or ended. A watch that ended without a
// verdict is shown as a warning: that release was never proven healthy.

import { clock, pct } from '../format.js';
import { html } from '../html.js';

const STATE_TEXT = {
  watching: 'watching',
  passed: 'passed: no regression',
  rolled_back: 'failed: rolled back',
  inconclusive: 'ended without a verdict',
};

export function Watch({ watch, now = Date.now() }) {
  if (!watch) return null;
  const left = Math.max(0, Math.round((watch.until - now) / 1000));
  return html`<section class="card" data-testid="watch" data-state=${watch.state}>
    <h2>Watch window</h2>
    <p>
      <span class=${`decision decision-${watch.state === 'rolled_back' ? 'fail' : watch.state === 'inconclusive' ? 'inconclusive' : 'pass'}`} data-testid="watch-state">${STATE_TEXT[watch.state] ?? watch.state}</span>
      ${' '}#${watch.release} against ${watch.baseline.description}
      <span class="muted"> · ${watch.state === 'watching' ? `${left}s left` : `until ${clock(watch.until)}`}
        ${watch.maxErrorRate < 1 ? ` · more than ${pct(watch.maxErrorRate, 1)} errors fails it whatever the baseline` : ''}</span>
    </p>
    ${watch.state === 'inconclusive' && html`<p class="notice" data-testid="watch-warning">Too little evidence to judge #${watch.release} either way: it stays stable, but it was not proven healthy.</p>`}
    ${watch.reason && html`<p class="muted" data-testid="watch-reason">${watch.reason}</p>`}
  </section>`;
}
