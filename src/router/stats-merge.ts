// The router's counters when several worker processes serve the same listeners
// (router-workers.ts): each worker counts what it proxied, and /stats answers their
// sum. Counters, histogram buckets, in-flight and open counts all add up; a backend's
// passive-health state is ejected if any worker ejected it (HEALTH_RANK). Pure: no I/O.

import type { RouterStatsJson } from './router-stats.ts';

/**
 * A backend's health across workers: ejected if any worker has ejected it (that
 * worker sends it nothing); else in if any worker has it in. A worker puts an
 * ejected backend on trial after its cool-down and back in at the first answer
 * it gets, so a worker that happens to hold no client connection leaves it on
 * trial long after the others saw it answer: trial is the state only when no
 * worker has it in.
 */
const HEALTH_RANK: Record<string, number> = { trial: 0, in: 1, ejected: 2 };

/** Adds numbers field by field, recursively; keys missing on one side are taken from the other. */
export function sumDeep(a: unknown, b: unknown): unknown {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (isRecord(a) && isRecord(b)) {
    const out: Record<string, unknown> = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in a ? sumDeep(a[k], v) : v;
    if (typeof a['health'] === 'string' && typeof b['health'] === 'string') {
      out['health'] = (HEALTH_RANK[b['health']] ?? 0) > (HEALTH_RANK[a['health']] ?? 0) ? b['health'] : a['health'];
    }
    return out;
  }
  return a ?? b;
}

/** The sum of several workers' stats, stamped with the router's own start time. */
export function mergeRouterStats(parts: readonly RouterStatsJson[], startedAt: string): RouterStatsJson {
  const empty: RouterStatsJson = { startedAt, environments: {}, unrouted: {}, gated: {}, refused: {}, backends: {}, listeners: {} };
  const merged = parts.reduce((acc, p) => sumDeep(acc, { ...p, startedAt }) as RouterStatsJson, empty);
  return { ...merged, startedAt };
}

/**
 * What a worker that exited had counted (its last answered stats), kept so the
 * router's totals never go down: its backends' in-flight counts went with it.
 */
export function retiredPart(stats: RouterStatsJson): RouterStatsJson {
  return { ...stats, backends: {} };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
