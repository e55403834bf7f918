// Every call the dashboard makes to the slipway API, and every live subscription.
// Nothing else in src/ui/ calls fetch(): moving the live updates to the server's
// event stream, or adding a panel for new data, changes this file only.
//
// The token lives in sessionStorage (gone when the tab closes) and travels only in
// the Authorization header, never in a URL. The browser's EventSource cannot send
// that header, so streams are read with fetch() and a ReadableStream reader.

const TOKEN_KEY = 'slipway.token';

export function savedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * kind: 'unreachable' (no answer), 'unauthenticated' (401), 'forbidden' (403),
 * 'rate-limited' (429), 'refused' (other 4xx: the message says why), 'server' (5xx).
 */
export class ApiError extends Error {
  constructor(kind, message, { status = 0, code = null } = {}) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.code = code;
  }
}

// The connection as the last call found it: 'ok', 'unreachable' or 'unauthenticated'.
const connectionListeners = new Set();
let connection = { state: 'ok', since: Date.now() };

export function onConnectionChange(fn) {
  connectionListeners.add(fn);
  fn(connection);
  return () => connectionListeners.delete(fn);
}

function setConnection(state) {
  if (state === connection.state) return;
  connection = { state, since: Date.now() };
  for (const fn of connectionListeners) fn(connection);
}

async function send(method, path, { body, token = savedToken(), signal } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: 'no-store' });
  } catch (e) {
    if (signal?.aborted) throw e;
    setConnection('unreachable');
    throw new ApiError('unreachable', `cannot reach the slipway server at ${location.origin}: is it running?`);
  }
  if (res.ok) {
    setConnection('ok');
    return res;
  }
  const answer = await res.json().catch(() => null);
  const message = answer?.error?.message ?? `the server answered ${res.status} ${res.statusText}`;
  const code = answer?.error?.code ?? null;
  if (res.status === 401) {
    setConnection('unauthenticated');
    throw new ApiError('unauthenticated', message, { status: 401, code });
  }
  // A proxy's 502/504 means the server behind it is gone.
  if (res.status === 502 || res.status === 503 || res.status === 504) {
    setConnection('unreachable');
    throw new ApiError('unreachable', `the slipway server is not answering (${res.status})`, { status: res.status, code });
  }
  setConnection('ok');
  const kind = res.status === 403 ? 'forbidden' : res.status === 429 ? 'rate-limited' : res.status < 500 ? 'refused' : 'server';
  throw new ApiError(kind, message, { status: res.status, code });
}

async function getJson(path, opts) {
  return (await send('GET', path, opts)).json();
}

async function postJson(path, body = {}) {
  return (await send('POST', path, { body })).json();
}

const q = (params) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') s.set(k, String(v));
  const text = s.toString();
  return text ? `?${text}` : '';
};
const e = encodeURIComponent;

// --- one-shot reads and actions
//
// Their answers' types are the API's own (src/api/views.ts, which the CLI imports too),
// named here in JSDoc for editors and readers: no build step reads this file.

/** @typedef {import('../api/views.ts').WhoamiJson} WhoamiJson */
/** @typedef {import('../api/views.ts').EnvironmentsJson} EnvironmentsJson */
/** @typedef {import('../api/views.ts').EnvironmentStatus} EnvironmentStatus */
/** @typedef {import('../api/views.ts').ReleasesJson} ReleasesJson */
/** @typedef {import('../api/views.ts').RolloutView} RolloutView */
/** @typedef {import('../api/views.ts').RolloutEventsJson} RolloutEventsJson */
/** @typedef {import('../api/views.ts').RolloutCommandJson} RolloutCommandJson */
/** @typedef {import('../api/views.ts').RollbackAnswerJson} RollbackAnswerJson */
/** @typedef {import('../api/views.ts').MetricSamplesJson} MetricSamplesJson */
/** @typedef {import('../api/views.ts').LiveMetricsJson} LiveMetricsJson */
/** @typedef {import('../api/views.ts').AuditEntriesJson} AuditEntriesJson */
/** @typedef {import('../api/views.ts').AuditVerificationJson} AuditVerificationJson */
/** @typedef {import('../api/views.ts').RunsJson} RunsJson */
/** @typedef {import('../api/views.ts').ChecklistJson} ChecklistJson */
/** @typedef {import('../api/views.ts').ApprovalAnswerJson} ApprovalAnswerJson */
/** @typedef {import('../api/views.ts').LogsJson} LogsJson */

/**
 * Checks a token before it is kept: the user, role and environments it carries.
 * @type {(token?: string) => Promise<WhoamiJson>}
 */
export const whoami = (token) => getJson('/api/whoami', token ? { token } : undefined);
/** @type {() => Promise<EnvironmentsJson>} */
export const environments = () => getJson('/api/environments');
/** @type {(env: string) => Promise<EnvironmentStatus>} */
export const environment = (env) => getJson(`/api/environments/${e(env)}`);
/** @type {(env: string) => Promise<ReleasesJson>} */
export const releases = (env) => getJson(`/api/environments/${e(env)}/releases`);
/** @type {(id: number) => Promise<RolloutView>} */
export const rollout = (id) => getJson(`/api/rollouts/${id}`);
/** @type {(env: string, since?: number) => Promise<MetricSamplesJson>} */
export const metricsHistory = (env, since) => getJson(`/api/environments/${e(env)}/metrics${q({ since })}`);
/** @type {(env: string, after?: number) => Promise<LiveMetricsJson>} */
export const liveMetrics = (env, after) => getJson(`/api/environments/${e(env)}/metrics/live${q({ after })}`);
/** @type {(filters?: Record<string, string | number | undefined>) => Promise<AuditEntriesJson>} */
export const audit = (filters = {}) => getJson(`/api/audit${q(filters)}`);
/** @type {() => Promise<AuditVerificationJson>} */
export const auditVerify = () => getJson('/api/audit/verify');

/**
 * action: 'pause' | 'resume' | 'promote' | 'abort'.
 * @type {(env: string, action: 'pause' | 'resume' | 'promote' | 'abort', body?: { full?: boolean }) => Promise<RolloutCommandJson>}
 */
export const rolloutAction = (env, action, body = {}) => postJson(`/api/environments/${e(env)}/${action}`, body);
/** @type {(env: string, to?: number) => Promise<RollbackAnswerJson>} */
export const rollback = (env, to) => postJson(`/api/environments/${e(env)}/rollback`, to === undefined ? {} : { to });
/**
 * Release pipeline runs, newest first; a run waiting at stage "approval" needs sign-off.
 * @type {(limit?: number) => Promise<RunsJson>}
 */
export const pipelineRuns = (limit = 20) => getJson(`/api/pipeline/runs${q({ limit })}`);

/**
 * Every run waiting for approval, however old: the server answers only those, and
 * each page's `next` is followed to the last.
 * @type {() => Promise<RunsJson['runs']>}
 */
export async function runsWaitingForApproval() {
  const runs = [];
  let before;
  do {
    /** @type {RunsJson} */
    const page = await getJson(`/api/pipeline/runs${q({ status: 'waiting', stage: 'approval', limit: 500, before })}`);
    runs.push(...page.runs);
    before = page.next ?? undefined;
  } while (before !== undefined);
  return runs;
}
/** @type {(id: number) => Promise<import('../api/views.ts').RunViewJson>} */
export const pipelineRun = (id) => getJson(`/api/pipeline/runs/${id}`);
/** @type {(ref: number | string) => Promise<ChecklistJson>} */
export const checklist = (run) => getJson(`/api/checklists/${run}`);
/** @type {(run: number) => Promise<ApprovalAnswerJson>} */
export const approveRun = (run) => postJson(`/api/pipeline/runs/${run}/approve`, {});
/** @type {(run: number, reason: string) => Promise<ApprovalAnswerJson>} */
export const rejectRun = (run, reason) => postJson(`/api/pipeline/runs/${run}/reject`, { reason });

// --- live subscriptions: each returns a function that stops it

/**
 * Calls fetcher now and then every intervalMs; its answer to onData, a failure to onError.
 * refresh() fetches again at once (the period starts over from that answer); asked while a
 * fetch is under way, it fetches once more after it, since that one may predate the news.
 */
function poll(fetcher, intervalMs, onData, onError) {
  let stopped = false;
  let timer = null;
  let isFetching = false;
  let isAskedAgain = false;
  const tick = async () => {
    clearTimeout(timer);
    if (isFetching) {
      isAskedAgain = true;
      return;
    }
    isFetching = true;
    do {
      isAskedAgain = false;
      try {
        const data = await fetcher();
        if (!stopped) onData(data);
      } catch (err) {
        if (!stopped) onError?.(err);
      }
    } while (isAskedAgain && !stopped);
    isFetching = false;
    if (!stopped) timer = setTimeout(tick, intervalMs);
  };
  void tick();
  return {
    refresh: () => {
      if (!stopped) void tick();
    },
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

// --- the server's event stream (GET /api/events, server-sent events)
//
// One stream for the whole page, open while anything listens. Status views fetch once,
// then again when an event concerns them, instead of every 2 s. After a break the stream
// comes back by itself with ?after=<the last event seen>, so no event is missed; the
// listeners are told ({ type: 'stream.open' }) so they fetch what changed meanwhile.

const streamListeners = new Set();
let streamCtrl = null;
let lastEventId = null;
const RECONNECT_MS = 2000;

/** The SSE frames in `text`: [{ id, event, data }] and the unfinished rest. */
export function parseSseFrames(text) {
  const blocks = text.split(/\r?\n\r?\n/);
  const rest = blocks.pop() ?? '';
  const frames = [];
  for (const block of blocks) {
    const f = { id: null, event: 'message', data: '' };
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) continue;
      const at = line.indexOf(':');
      const field = at < 0 ? line : line.slice(0, at);
      const value = at < 0 ? '' : line.slice(at + 1).replace(/^ /, '');
      if (field === 'id') f.id = value;
      else if (field === 'event') f.event = value;
      else if (field === 'data') f.data += (f.data ? '\n' : '') + value;
    }
    if (f.data) frames.push(f);
  }
  return { frames, rest };
}

function tell(event) {
  for (const fn of streamListeners) fn(event);
}

function openStream() {
  const ctrl = new AbortController();
  streamCtrl = ctrl;
  (async () => {
    while (!ctrl.signal.aborted) {
      try {
        const res = await send('GET', `/api/events${q({ after: lastEventId })}`, { signal: ctrl.signal });
        tell({ type: 'stream.open' });
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let rest = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          const parsed = parseSseFrames(rest + value);
          rest = parsed.rest;
          for (const f of parsed.frames) {
            if (f.id !== null) lastEventId = Number(f.id);
            try {
              tell(JSON.parse(f.data));
            } catch {
              // A frame that is not JSON is no event of ours.
            }
          }
        }
        // The server closed the stream (stopping, or this page fell too far behind).
        if (!ctrl.signal.aborted) await send('GET', '/api/whoami', { signal: ctrl.signal }).catch(() => undefined);
      } catch {
        if (ctrl.signal.aborted) return;
      }
      await new Promise((r) => setTimeout(r, RECONNECT_MS));
    }
  })();
}

/** fn(event) for every event of the server while subscribed (and { type: 'stream.open' } at each (re)connect). */
export function onServerEvents(fn) {
  streamListeners.add(fn);
  if (!streamCtrl) openStream();
  return () => {
    streamListeners.delete(fn);
    if (streamListeners.size === 0 && streamCtrl) {
      streamCtrl.abort();
      streamCtrl = null;
    }
  };
}

/** Is the event about environment `env` (a key `shop/production` or a bare name `production`)? */
const concerns = (event, env) => event.type === 'stream.open' || event.env === null || event.env === env || event.env?.endsWith(`/${env}`);

// A safety net under the stream: a change no event announces (maintenance on, a
// config version) still shows within this long.
const SLOW_REFRESH_MS = 30_000;

/** fetcher's answers to onData: now, then whenever an event passes `wants`, and every 30 s. */
function followEvents(fetcher, wants, onData, onError) {
  const p = poll(fetcher, SLOW_REFRESH_MS, onData, onError);
  const unsubscribe = onServerEvents((event) => {
    if (wants(event)) p.refresh();
  });
  return {
    refresh: p.refresh,
    stop: () => {
      unsubscribe();
      p.stop();
    },
  };
}

/** Pipeline runs waiting for approval, fetched again on each pipeline event. */
export const watchPendingApprovals = (onRuns, onError) =>
  followEvents(runsWaitingForApproval, (ev) => ev.type === 'stream.open' || ev.type.startsWith('approval.') || ev.type.startsWith('rollout.'), onRuns, onError).stop;

/** The newest 50 pipeline runs (the page, with its total), fetched again on each event (a run's stages move with rollouts and approvals). */
export const watchPipelineRuns = (onPage, onError) => followEvents(() => pipelineRuns(50), () => true, onPage, onError).stop;

/** One pipeline run with its stages, approvals and checklist, fetched again on each event. */
export const watchPipelineRun = (id, onData, onError) =>
  followEvents(async () => {
    const [view, list] = await Promise.all([pipelineRun(id), checklist(id)]);
    return { ...view, checklist: list.items };
  }, () => true, onData, onError).stop;

/** Every environment's status, fetched again on each event. */
export const watchEnvironments = (onData, onError) => followEvents(environments, () => true, (a) => onData(a.environments), onError).stop;

/** One environment's status (rollout, instances, weights, latest analysis), fetched again on each of its events. */
export const watchEnvironment = (env, onData, onError) => followEvents(() => environment(env), (ev) => concerns(ev, env), onData, onError).stop;

/** An environment's releases, fetched again on each of its rollout events. */
export const watchReleases = (env, onData, onError) =>
  followEvents(async () => {
    const [list, status] = await Promise.all([releases(env), environment(env)]);
    return { ...list, rollout: status.rollout };
  }, (ev) => concerns(ev, env) && (ev.type === 'stream.open' || ev.type.startsWith('rollout.')), onData, onError).stop;

/** New live metric points of an environment as they are made (onPoints gets only the new ones). */
export function watchLiveMetrics(env, onPoints, onError, { after = 0 } = {}) {
  let cursor = after;
  return poll(() => liveMetrics(env, cursor), 2000, (a) => {
    if (a.points.length) cursor = a.points[a.points.length - 1].ts;
    onPoints(a.points, a);
  }, onError).stop;
}

/** A rollout's events as they happen (long poll): onAnswer gets { rollout, events } with the new events only. */
function watchRolloutEvents(id, onAnswer, onError) {
  let stopped = false;
  const ctrl = new AbortController();
  (async () => {
    let after = 0;
    while (!stopped) {
      try {
        /** @type {RolloutEventsJson} */
        const a = await getJson(`/api/rollouts/${id}/events${q({ after, wait: 15000 })}`, { signal: ctrl.signal });
        if (stopped) return;
        if (a.events.length) after = a.events[a.events.length - 1].id;
        onAnswer(a);
        const p = a.rollout.phase;
        // A finished rollout has no more news; the long poll would answer at once forever.
        if (p === 'succeeded' || p === 'failed' || p === 'rolled_back') return;
      } catch (err) {
        if (stopped) return;
        onError?.(err);
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  })();
  return () => {
    stopped = true;
    ctrl.abort();
  };
}

/**
 * One environment's status (as watchEnvironment gives it) and the events of its current,
 * else last, rollout: onStatus(status), and onEvents(events) with that rollout's events so
 * far (the last 300; [] when the status names another rollout).
 *
 * The status comes at once whenever an event of the environment arrives on the server's
 * stream, and whenever the rollout's long poll brings news
 * (new events, or a phase or step the status has not shown yet). A step then shows within
 * one fetch of happening, and always beside the traffic weights of the same answer: the
 * page never shows a new step with the weights of the step before.
 */
export function watchEnvironmentAndEvents(env, { onStatus, onEvents, onError }) {
  let followed = null; // { id, stop } of the rollout whose events come in
  let shown = null; // that rollout as the latest status has it
  const status = followEvents(() => environment(env), (ev) => concerns(ev, env), (s) => {
    shown = s.rollout ?? s.lastRollout ?? null;
    if ((shown?.id ?? null) !== (followed?.id ?? null)) follow(shown?.id ?? null);
    onStatus(s);
  }, onError);
  function follow(id) {
    followed?.stop();
    followed = null;
    onEvents([]);
    if (id === null) return;
    let events = [];
    let isFirst = true;
    const stop = watchRolloutEvents(id, (a) => {
      // The first answer brings the history up to the status just shown: news only if the rollout moved on since.
      const isNews = (a.events.length > 0 && !isFirst) || a.rollout.phase !== shown?.phase || a.rollout.step !== shown?.step;
      isFirst = false;
      if (a.events.length > 0) {
        events = [...events, ...a.events].slice(-300);
        onEvents(events);
      }
      if (isNews) status.refresh();
    });
    followed = { id, stop };
  }
  return () => {
    status.stop();
    followed?.stop();
  };
}

/**
 * Instance log lines of an environment (NDJSON): the last `lines`, then with follow
 * every new one while the subscription lasts. onLines gets batches of { instance, line, level }.
 */
// A record's message, then its own fields (a JSON line's other keys) as compact JSON.
const logLine = (r) => ({ instance: r.instance, line: r.fields && Object.keys(r.fields).length ? `${r.msg} ${JSON.stringify(r.fields)}` : r.msg, level: r.level, ts: r.ts });

export function streamLogs(env, { instance, lines = 200, follow = true }, onLines, onError) {
  const ctrl = new AbortController();
  (async () => {
    try {
      if (!follow) {
        /** @type {LogsJson} */
        const a = await getJson(`/api/environments/${e(env)}/logs${q({ instance, lines })}`, { signal: ctrl.signal });
        onLines(a.records.map(logLine));
        return;
      }
      const res = await send('GET', `/api/environments/${e(env)}/logs${q({ instance, lines, follow: 1 })}`, { signal: ctrl.signal });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let rest = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const parts = (rest + value).split('\n');
        rest = parts.pop() ?? '';
        const batch = parts.filter(Boolean).map((l) => logLine(JSON.parse(l)));
        if (batch.length) onLines(batch);
      }
      if (!ctrl.signal.aborted) onError?.(new ApiError('unreachable', 'the log stream ended; the server may have stopped'));
    } catch (err) {
      if (!ctrl.signal.aborted) onError?.(err instanceof ApiError ? err : new ApiError('unreachable', 'the log stream broke off; the server may have stopped'));
    }
  })();
  return () => ctrl.abort();
}
