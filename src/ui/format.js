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
