// The dashboard's entry: who is signed in, which view the URL's hash names, and the
// banner when the server stops answering. Views live in views/, data access in api.js.

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import * as api from './api.js';
import { clock } from './format.js';
import { html } from './html.js';
import { AuditView } from './views/audit.js';
import { EnvironmentView } from './views/environment.js';
import { LogsView } from './views/logs.js';
import { Overview } from './views/overview.js';
import { ReleasesView } from './views/releases.js';
import { RunView, RunsView } from './views/runs.js';
import { SignIn, Unreachable } from './views/sign-in.js';

/** #/ · #/env/<env> · #/env/<env>/releases · #/env/<env>/logs · #/runs · #/runs/<id> · #/audit */
function parseRoute(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'env' && parts[1]) return { view: parts[2] ?? 'rollout', env: parts[1] };
  if (parts[0] === 'audit') return { view: 'audit' };
  if (parts[0] === 'runs' && /^\d+$/.test(parts[1] ?? '')) return { view: 'run', run: Number(parts[1]) };
  if (parts[0] === 'runs') return { view: 'runs' };
  return { view: 'overview' };
}

function useRoute() {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

function Header({ identity, route, onSignOut }) {
  const envs = identity.envs === null ? 'all environments' : identity.envs.join(', ');
  return html`<header class="top">
    <a class="brand" href="#/">slipway</a>
    <nav>
      <a href="#/" class=${route.view === 'overview' ? 'active' : ''}>Overview</a>
      <a href="#/runs" class=${route.view === 'runs' || route.view === 'run' ? 'active' : ''}>Pipeline runs</a>
      <a href="#/audit" class=${route.view === 'audit' ? 'active' : ''}>Audit log</a>
    </nav>
    <div class="who" data-testid="who">
      <span class="user">${identity.user}</span>
      <span class="role role-${identity.role}" data-testid="role">${identity.role}</span>
      <span class="muted">in ${envs}</span>
      <button class="link" onClick=${onSignOut}>Sign out</button>
    </div>
  </header>`;
}

function ConnectionBanner({ connection }) {
  if (connection.state !== 'unreachable') return null;
  return html`<div class="banner banner-error" role="alert" data-testid="unreachable-banner">
    <strong>The slipway server is not answering</strong> (since ${clock(connection.since)}).
    What you see is from before then; the page retries every 2 s and comes back by itself.
  </div>`;
}

function Main({ route, identity }) {
  switch (route.view) {
    case 'rollout': return html`<${EnvironmentView} key=${route.env} env=${route.env} identity=${identity} />`;
    case 'releases': return html`<${ReleasesView} key=${route.env} env=${route.env} identity=${identity} />`;
    case 'logs': return html`<${LogsView} key=${route.env} env=${route.env} />`;
    case 'audit': return html`<${AuditView} />`;
    case 'runs': return html`<${RunsView} />`;
    case 'run': return html`<${RunView} key=${route.run} id=${route.run} identity=${identity} />`;
    default: return html`<${Overview} identity=${identity} />`;
  }
}

function App() {
  const route = useRoute();
  const [session, setSession] = useState(() => ({ state: api.savedToken() ? 'checking' : 'signed-out', identity: null, notice: null }));
  const [connection, setConnection] = useState({ state: 'ok', since: Date.now() });
  useEffect(() => api.onConnectionChange(setConnection), []);

  const check = async () => {
    try {
      setSession({ state: 'signed-in', identity: await api.whoami(), notice: null });
    } catch (e) {
      if (e.kind === 'unreachable') setSession({ state: 'unreachable', identity: null, notice: e.message });
      else {
        api.forgetToken();
        setSession({ state: 'signed-out', identity: null, notice: `The saved token was refused: ${e.message}. Sign in again.` });
      }
    }
  };
  useEffect(() => {
    if (session.state === 'checking') void check();
  }, [session.state]);

  // A token revoked or expired while the page is open: back to the sign-in form, saying why.
  useEffect(() => {
    if (connection.state === 'unauthenticated' && session.state === 'signed-in') {
      api.forgetToken();
      setSession({ state: 'signed-out', identity: null, notice: 'The server no longer accepts this token (revoked or expired?). Sign in again.' });
    }
  }, [connection.state, session.state]);

  const signOut = () => {
    api.forgetToken();
    setSession({ state: 'signed-out', identity: null, notice: 'Signed out.' });
  };

  if (session.state === 'checking') return html`<main class="center muted">Checking the saved token…</main>`;
  if (session.state === 'unreachable') return html`<${Unreachable} message=${session.notice} onRetry=${check} />`;
  if (session.state === 'signed-out') {
    return html`<${SignIn} notice=${session.notice} onSignedIn=${(identity) => setSession({ state: 'signed-in', identity, notice: null })} />`;
  }
  return html`<${Header} identity=${session.identity} route=${route} onSignOut=${signOut} />
    <${ConnectionBanner} connection=${connection} />
    <main><${Main} route=${route} identity=${session.identity} /></main>`;
}

render(html`<${App} />`, document.getElementById('app'));
// boot.js reloads a page whose modules did not load; this one did.
window.slipwayBooted = true;
try {
  sessionStorage.removeItem('slipway.bootRetries');
} catch {
  // no storage: nothing was counted
}
