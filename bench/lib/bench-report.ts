// The real-apps bench's findings: checks that pass or fail as they run, and the rows
// of figures (router against direct) printed as one table at the end.

import type { Figures } from './http-probe.ts';

/** How the request reached the app: slipway's router, straight at its instance, or nginx in front of the same instance (the reference proxy). */
export type Via = 'router' | 'direct' | 'nginx';

export interface Row extends Omit<Figures, 'rps' | 'p50Ms' | 'p99Ms'> {
  app: string;
  what: string;
  via: Via;
  /** Null where a single exchange makes a rate or a percentile meaningless. */
  rps: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
}

/** A row for one timed exchange (a publish, a download, a page load). */
export function single(o: { app: string; what: string; via: Via; seconds: number; bytes: number; errors: number; requests?: number }): Row {
  return { app: o.app, what: o.what, via: o.via, requests: o.requests ?? 1, errors: o.errors, rps: null, p50Ms: null, p99Ms: null, bytes: o.bytes, seconds: o.seconds };
}

export class BenchReport {
  readonly rows: Row[] = [];
  readonly failures: string[] = [];

  check(isOk: boolean, what: string, detail = ''): boolean {
    console.log(`${isOk ? 'ok  ' : 'FAIL'} ${what}${detail ? ` — ${detail}` : ''}`);
    if (!isOk) this.failures.push(detail ? `${what} — ${detail}` : what);
    return isOk;
  }

  add(row: Row): void {
    this.rows.push(row);
  }

  addFigures(o: { app: string; what: string; via: Via }, f: Figures): void {
    this.rows.push({ ...o, ...f });
  }

  print(): void {
    const num = (v: number | null, digits: number) => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(digits));
    const bytes = (b: number) => (b >= 1024 * 1024 ? `${(b / 1024 / 1024).toFixed(1)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`);
    const header = ['app', 'what', 'via', 'requests', 'errors', 'req/s', 'p50 ms', 'p99 ms', 'bytes', 'seconds'];
    const table = this.rows.map((r) => [r.app, r.what, r.via, String(r.requests), String(r.errors), num(r.rps, 0), num(r.p50Ms, 2), num(r.p99Ms, 2), bytes(r.bytes), num(r.seconds, 2)]);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    console.log(`\n${line(header)}`);
    for (const t of table) console.log(line(t));
  }
}
