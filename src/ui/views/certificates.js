// An environment's TLS certificates (tls: in slipway.yaml): each one's names,
// issuer, issue date and expiry, with a warning when fewer than 14 days are left, and the last
// attempt to load (files) or renew (ACME) them, with its error. What `slipway
// status` shows, from the same answer (EnvironmentStatus.tls); never a key.

import { age } from '../format.js';
import { html } from '../html.js';

const DAY_MS = 86_400_000;
/** Fewer days left than this reads as a warning: an ACME renewal (30 days ahead by default) has failed for two weeks, or a file is about to expire. */
export const EXPIRY_WARNING_DAYS = 14;

/** Whole days left before `notAfter`, and how it should read: ok, warn (under 14 days), expired. */
export function expiryOf(notAfter, now = Date.now()) {
  const leftMs = Date.parse(notAfter) - now;
  const daysLeft = Math.floor(leftMs / DAY_MS);
  return { daysLeft, level: leftMs <= 0 ? 'expired' : daysLeft < EXPIRY_WARNING_DAYS ? 'warn' : 'ok' };
}

function daysText({ daysLeft, level }) {
  if (level === 'expired') return 'expired';
  if (daysLeft < 1) return 'less than a day left';
  return `${daysLeft} ${daysLeft === 1 ? 'day' : 'days'} left`;
}

/** "CN=Pebble Intermediate CA 1a2b, O=..." → its CN, the part a person recognises. */
function issuerName(issuer) {
  return /(?:^|, )CN=([^,]+)/.exec(issuer)?.[1] ?? issuer;
}

/** @param {{ tls: NonNullable<import('../api.js').EnvironmentStatus['tls']> }} props */
export function Certificates({ tls }) {
  const attempt = tls.lastAttempt;
  const what = tls.source === 'acme' ? 'renewal' : 'load';
  return html`<div class="certificates" data-testid="certificates">
    ${tls.certificates.length === 0 && html`<p class="notice" data-testid="certificate-none">No certificate yet (${tls.source === 'acme' ? 'waiting for the ACME CA' : 'the files could not be read'}).</p>`}
    ${tls.certificates.map((c) => {
      const expiry = expiryOf(c.notAfter);
      return html`<p class="certificate" data-testid="certificate" data-expiry=${expiry.level} title=${`SHA-256 ${c.fingerprint256}`}>
        <span class="muted">https </span><strong>${c.names.join(', ')}</strong>
        <span class="muted"> · issuer </span><span data-testid="certificate-issuer" title=${c.issuer}>${issuerName(c.issuer)}</span>
        <span class="muted" data-testid="certificate-issued"> · issued ${c.notBefore.slice(0, 10)}</span>
        <span class="muted"> · expires ${c.notAfter.slice(0, 10)} </span>
        <span class=${`expiry expiry-${expiry.level}`} data-testid="certificate-expiry">(${daysText(expiry)})</span>
      </p>`;
    })}
    <p class="muted cert-attempt" data-testid="certificate-attempt">
      last ${what} attempt${' '}
      ${attempt === null ? 'none since the server started' : html`${age(Date.parse(attempt.at))}: ${attempt.ok
        ? html`<span class="ok">ok</span>`
        : html`<span class="error" data-testid="certificate-error">failed: ${attempt.error ?? 'no reason given'}</span>`}`}
      ${tls.renewAt && html`<span> · next renewal ${tls.renewAt.slice(0, 16).replace('T', ' ')} UTC</span>`}
    </p>
  </div>`;
}
