// Durations and percentages as people write them in slipway.yaml ("1s", "250ms",
// "2m", "34%"). Pure parsing; callers turn a null into their own error.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "1s" → 1000, "250ms" → 250, "1m30s" → 90000, "7d" → 604800000; a bare number is milliseconds. null when malformed. */
export function parseDurationMs(text: string | number): number | null {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text : null;
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * (UNIT_MS[m[2]!] ?? 0);
    matched = re.lastIndex;
  }
  if (matched === 0 || matched !== s.length) return null;
  return Math.round(total);
}

export function formatDurationMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return s ? `${m}m${s}s` : `${m}m`;
}

/** A count or a share: 2 → {count: 2}, "34%" → {percent: 34}. */
export type CountOrPercent = { count: number } | { percent: number };

export function parseCountOrPercent(v: string | number): CountOrPercent | null {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? { count: v } : null;
  const s = v.trim();
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(s);
  if (pct) {
    const p = Number(pct[1]);
    return p >= 0 && p <= 100 ? { percent: p } : null;
  }
  if (/^\d+$/.test(s)) return { count: Number(s) };
  return null;
}

/** Resolves a count-or-percent against a total; percentages round up (34% of 3 = 2). */
export function resolveCount(v: CountOrPercent, total: number): number {
  if ('count' in v) return v.count;
  return Math.ceil((v.percent / 100) * total - 1e-9);
}
