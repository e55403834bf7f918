// How figures read on the page, and what a token may do (mirrors src/core/roles.ts;
// the server checks every request anyway: this only hides buttons that would fail).

const GRANTS = {
  viewer: ['read'],
  deployer: ['read', 'deploy', 'release'],
  approver: ['read', 'approve'],
  admin: ['read', 'deploy', 'approve', 'admin', 'release'],
  ci: ['read', 'release'],
};

/** May this identity use a route needing `grant` in `env`? */
export function may(identity, grant, env) {
  if (!identity || !(GRANTS[identity.role] ?? []).includes(grant)) return false;
  if (identity.envs === null || identity.envs.includes(env)) return true;
  if (typeof env !== 'string') return false;
  // `production` holds in every service's production; `shop/*` in every environment of shop.
  const [service, name] = env.includes('/') ? env.split('/') : [null, env];
  return identity.envs.includes(name) || (service !== null && identity.envs.includes(`${service}/*`));
}

const CI_LABELS = { 'github-actions': 'GitHub Actions', 'gitlab-ci': 'GitLab CI', other: 'CI' };

/** Where a pipeline run came from: the CI that built it (with its job's link), or the server's own build. */
export function runOrigin(run) {
  if (!run.ci) return { label: 'server build', url: null };
  return { label: CI_LABELS[run.ci.provider] ?? 'CI', url: run.ci.jobUrl };
}

export function age(ts, now = Date.now()) {
  if (!ts) return '—';
  const s = Math.max(0, Math.round((now - ts) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function clock(ts) {
  return ts ? new Date(ts).toLocaleTimeString([], { hour12: false }) : '—';
}

export function dateTime(ts) {
  if (!ts) return '—';
  const d = new Date(ts);
  return `${d.toLocaleDateString()} ${d.toLocaleTimeString([], { hour12: false })}`;
}

export function shortDigest(digest) {
  return digest ? digest.replace(/^sha256:/, '').slice(0, 12) : '—';
}

export function pct(fraction, digits = 2) {
  return fraction === null || fraction === undefined || Number.isNaN(fraction) ? '—' : `${(fraction * 100).toFixed(digits)}%`;
}

export function ms(v) {
  if (v === null || v === undefined) return '—';
  return v >= 100 ? `${Math.round(v)} ms` : `${v.toFixed(1)} ms`;
}

export function rate(v) {
  return v === null || v === undefined ? '—' : v >= 10 ? v.toFixed(0) : v.toFixed(1);
}

/** A check's figure in its unit. */
export function figure(v, unit) {
  if (v === null || v === undefined) return '—';
  switch (unit) {
    case 'fraction': return pct(v, 2);
    case 'ms': return ms(v);
    case 'percent': return `${v.toFixed(1)}%`;
    case 'MB': return `${v.toFixed(1)} MB`;
    default: return String(Math.round(v * 100) / 100);
  }
}

/**
 * The latest figures of each release from live points: requests/s, error rate and
 * p99 over the points of the last `windowMs` (by default the last 10 s).
 */
export function latestFigures(points, now, windowMs = 10_000) {
  const by = new Map();
  for (const p of points) {
    if (p.ts <= now - windowMs) continue;
    const f = by.get(p.release) ?? { requests: 0, errors: 0, ms: 0, p99Ms: null, p50Ms: null };
    f.requests += p.requests;
    f.errors += p.errors;
    f.ms += p.intervalMs;
    f.p99Ms = p.p99Ms ?? f.p99Ms;
    f.p50Ms = p.p50Ms ?? f.p50Ms;
    by.set(p.release, f);
  }
  const out = {};
  for (const [release, f] of by) {
    out[release] = { rps: f.ms > 0 ? (f.requests * 1000) / f.ms : 0, errorRate: f.requests ? f.errors / f.requests : null, p99Ms: f.p99Ms, p50Ms: f.p50Ms };
  }
  return out;
}

/** A duration as a person says it: 850 ms, 4.2 s, 5 min, 1 h 30 min. */
export function duration(msValue) {
  if (msValue === null || msValue === undefined || Number.isNaN(msValue)) return '—';
  if (msValue < 1000) return `${Math.round(msValue)} ms`;
  const s = msValue / 1000;
  if (s < 60) return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  const restS = Math.round(s - m * 60);
  if (m < 60) return restS ? `${m} min ${restS} s` : `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

/** Text from the server with durations written in raw milliseconds ("warm 300000ms", "pause 90s"): made readable. */
export function readableDurations(text) {
  if (!text) return text;
  return text
    .replace(/\b(\d+(?:\.\d+)?)\s?ms\b/g, (_m, n) => duration(Number(n)))
    .replace(/\b(\d+(?:\.\d+)?)s\b/g, (m, n) => (Number(n) >= 60 ? duration(Number(n) * 1000) : `${n} s`));
}

const CHECK_NAMES = {
  'error_rate.max': 'error rate',
  'error_rate.max_increase_over_stable': 'error rate against stable',
  'cpu.max_percent': 'CPU',
  'cpu.max_ratio_to_stable': 'CPU against stable',
  'memory.max_mb': 'memory',
  'memory.max_ratio_to_stable': 'memory against stable',
  'restarts.max': 'restarts',
  'min_requests': 'requests seen',
};

/** What a check is about, in words: `latency.p99.max_ratio_to_stable` → "p99 latency against stable". */
export function checkName(check) {
  const latency = /^latency\.(p\d+)\.(max_ratio_to_stable|max)/.exec(check);
  if (latency) return `${latency[1]} latency${latency[2] === 'max' ? '' : ' against stable'}`;
  return CHECK_NAMES[check] ?? check.replace(/[._]/g, ' ');
}

/**
 * One analysis check as a sentence, from its figures (never the log-likelihood maths):
 * "passed: 0.12% errors, within the limit of 1.00%".
 */
export function checkVerdict(c) {
  const fig = (v) => figure(v, c.unit);
  const against = c.stable !== null && c.stable !== undefined ? ` (stable: ${fig(c.stable)})` : '';
  const limit = c.threshold !== null && c.threshold !== undefined ? ` the limit of ${fig(c.threshold)}` : ' its limit';
  switch (c.decision) {
    case 'pass': return `passed: ${fig(c.observed)}${against}, within${limit}`;
    case 'fail': return `failed: ${fig(c.observed)}${against}, beyond${limit}`;
    default: return c.observed === null || c.observed === undefined
      ? 'not measured yet: waiting for requests to the new release'
      : `not decided yet: ${fig(c.observed)}${against} against${limit}; more requests are needed to tell`;
  }
}

const DECISION_WORDS = { pass: 'The new release is doing as well as allowed', fail: 'The new release is worse than allowed', inconclusive: 'Not enough evidence yet to judge the new release' };

/** An analysis's verdict in words, naming the checks that decided it. */
export function analysisVerdict(analysis) {
  const head = DECISION_WORDS[analysis.decision] ?? analysis.decision;
  const deciding = analysis.checks.filter((c) => c.decision === analysis.decision).map((c) => checkName(c.check));
  if (analysis.decision === 'pass' || deciding.length === 0) return `${head}.`;
  return `${head}: ${deciding.join(', ')}.`;
}

/** Why the router's keeper dropped recorded lines: `slipway status`'s words (src/cli/output.ts), after docs/replay.md's table. */
const RECORD_DROPS = [
  ['dropped_overflow', 'for newer ones'],
  ['dropped_stopped', 'after recording stopped'],
  ['dropped_write_failed', 'not written (see router.log)'],
];

/** Every outcome of a request picked for replay's sample, in docs/replay.md's order (a newer router's others after them). */
const RECORD_OUTCOMES = ['kept', 'too_large', 'not_text', 'too_slow', 'queue_full', 'thread_failed', ...RECORD_DROPS.map(([o]) => o)];

/**
 * Replay's sample as `slipway status` says it once the keeper dropped lines: `head`
 * then each reason in `drops` (`{ outcome, text }`), joined by ', ', so that one can
 * be shown apart (a failed write in red, as the CLI does). With no drop, where the
 * CLI says nothing, the same sentence says none was dropped.
 */
export function recordedSample(recorded) {
  const kept = recorded.kept ?? 0;
  const drops = RECORD_DROPS.filter(([outcome]) => (recorded[outcome] ?? 0) > 0).map(([outcome, why]) => ({ outcome, text: `${recorded[outcome]} ${why}` }));
  if (drops.length === 0) return { head: `${kept} request(s) kept for replay, none dropped since the router started`, drops };
  const dropped = drops.reduce((n, d) => n + recorded[d.outcome], 0);
  return { head: `${kept} request(s) kept for replay, ${dropped} dropped since the router started: `, drops };
}

/** Every count of the sample, as /metrics and `slipway status --json` name them: [[outcome, n]]. */
export function recordedCounts(recorded) {
  const known = RECORD_OUTCOMES.filter((o) => o in recorded);
  const others = Object.keys(recorded).filter((o) => !RECORD_OUTCOMES.includes(o)).sort();
  return [...known, ...others].map((o) => [o, recorded[o]]);
}
