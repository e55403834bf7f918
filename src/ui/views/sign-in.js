// Sign-in with an API token, and the page shown when the server cannot be reached
// at all. The token is checked with /api/whoami before it is kept (sessionStorage).

import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import { html } from '../html.js';

export function SignIn({ notice, onSignedIn }) {
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  const submit = async (ev) => {
    ev.preventDefault();
    const t = token.trim();
    if (!t) return setError({ kind: 'refused', text: 'Paste an API token (slipway token create, or admin.token in the data directory).' });
    setBusy(true);
    setError(null);
    try {
      const identity = await api.whoami(t);
      api.saveToken(t);
      onSignedIn(identity);
    } catch (e) {
      const text = e.kind === 'unauthenticated' ? `This token was refused: ${e.message}.`
        : e.kind === 'unreachable' ? `Cannot reach the slipway server at ${location.origin}. Is it running?`
          : e.message;
      setError({ kind: e.kind, text });
    } finally {
      setBusy(false);
    }
  };

  return html`<main class="signin">
    <form class="card" onSubmit=${submit} autocomplete="off">
      <h1>slipway</h1>
      <p class="muted">Sign in with an API token. It is kept in this tab only, until the tab closes.</p>
      ${notice && html`<p class="notice" data-testid="signin-notice">${notice}</p>`}
      <label for="token">API token</label>
      <input id="token" name="token" type="password" placeholder="slw_…" value=${token} onInput=${(e) => setToken(e.currentTarget.value)} autofocus spellcheck="false" />
      <button type="submit" class="primary" disabled=${busy}>${busy ? 'Checking…' : 'Sign in'}</button>
      ${error && html`<p class=${`error error-${error.kind}`} role="alert" data-testid="signin-error">${error.text}</p>`}
    </form>
  </main>`;
}

export function Unreachable({ message, onRetry }) {
  useEffect(() => {
    const t = setInterval(onRetry, 3000);
    return () => clearInterval(t);
  }, []);
  return html`<main class="center">
    <div class="card state-unreachable" role="alert" data-testid="unreachable">
      <h1>Cannot reach the slipway server</h1>
      <p>${message}</p>
      <p class="muted">Start it with <code>slipway server</code>. This page tries again every 3 s.</p>
      <button class="primary" onClick=${onRetry}>Try again now</button>
    </div>
  </main>`;
}
