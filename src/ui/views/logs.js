// The instance logs of an environment: the last lines, then (with follow) every new
// line as it is written. Filter by instance (on the server) and by text (here).

import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from '../api.js';
import { html } from '../html.js';
import { EnvTabs } from './environment.js';

const MAX_LINES = 5000;
// Lines drawn at once: the newest of those that match. Drawing all 5000 (four columns each)
// on every batch of a busy service's logs kept the page too busy to type in.
const MAX_DRAWN = 1000;

/** 14:03:07.412: lines come many a second, so the time shows milliseconds. */
function logTime(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

export function LogsView({ env }) {
  const [instances, setInstances] = useState([]);
  const [instance, setInstance] = useState('');
  const [follow, setFollow] = useState(true);
  const [text, setText] = useState('');
  const [lines, setLines] = useState([]);
  const [error, setError] = useState(null);
  const box = useRef(null);

  const [service, setService] = useState(null);
  useEffect(() => api.watchEnvironment(env, (s) => {
    setInstances(s.instances.map((i) => i.id));
    setService(s.service);
  }, () => undefined), [env]);

  useEffect(() => {
    let kept = [];
    let seq = 0;
    let timer = null;
    setLines([]);
    setError(null);
    // A busy service writes many batches a second: the page draws at most every 250 ms,
    // and each line keeps its key, so only new lines are drawn.
    const draw = () => {
      timer = null;
      setLines(kept);
      setError(null);
    };
    const stop = api.streamLogs(env, { instance: instance || undefined, lines: 500, follow }, (batch) => {
      kept = [...kept, ...batch.map((l) => ({ ...l, seq: seq++ }))].slice(-MAX_LINES);
      timer ??= setTimeout(draw, 250);
    }, setError);
    return () => {
      clearTimeout(timer);
      stop();
    };
  }, [env, instance, follow]);

  // Stay at the bottom while following, unless the reader scrolled up.
  const atBottom = useRef(true);
  useEffect(() => {
    if (follow && atBottom.current && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines]);

  const needle = text.trim().toLowerCase();
  const shown = needle ? lines.filter((l) => l.line.toLowerCase().includes(needle)) : lines;
  return html`<${EnvTabs} env=${env} active="logs" service=${service} />
    <section class="card">
      <div class="filters">
        <label>instance <select value=${instance} onChange=${(e) => setInstance(e.currentTarget.value)} data-testid="log-instance">
          <option value="">all instances</option>
          ${[...new Set([...instances, instance].filter(Boolean))].map((id) => html`<option value=${id}>${id}</option>`)}
        </select></label>
        <label>contains <input type="search" value=${text} onInput=${(e) => setText(e.currentTarget.value)} placeholder="text to find" data-testid="log-filter" /></label>
        <label><input type="checkbox" checked=${follow} onChange=${(e) => setFollow(e.currentTarget.checked)} data-testid="log-follow" /> follow</label>
        <span class="muted" data-testid="log-count">${shown.length} of ${lines.length} lines</span>
      </div>
      ${error && html`<p class="error">${error.message}</p>`}
      <div class="log" ref=${box} data-testid="log" onScroll=${(e) => { const b = e.currentTarget; atBottom.current = b.scrollHeight - b.scrollTop - b.clientHeight < 40; }}>
        ${shown.length > MAX_DRAWN && html`<div class="muted">${shown.length - MAX_DRAWN} earlier matching lines not drawn: narrow the filter to see them.</div>`}
        ${shown.slice(-MAX_DRAWN).map((l) => html`<div key=${l.seq} class=${`log-line level-${l.level ?? 'info'}`}><span class="log-time" data-testid="log-time">${logTime(l.ts)}</span><span class="log-level">${l.level ?? ''}</span><span class="log-instance">${l.instance}</span><span class="log-text">${l.line}</span></div>`)}
      </div>
    </section>`;
}
