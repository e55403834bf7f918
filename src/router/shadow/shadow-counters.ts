// The figures of one shadow step (one run), as the router gathers them: per endpoint,
// per field, how often the new release's answer differed from the user's, and how
// often a second stable answer did (noise, as Twitter's Diffy learns it). A request
// counts as differing when one of its fields differs that no stable pair ever
// differed on: that is decided when the figures are read, so noise learned late
// still clears the requests seen before it. Everything is bounded.

import type { ShadowEndpointStats, ShadowExample, ShadowStatsJson } from '../../core/shadow/shadow-spec.ts';
import type { FieldDiff } from './response-diff.ts';
import { maskUrl, maskValue } from './shadow-match.ts';

const MAX_ENDPOINTS = 100;
const OTHER_ENDPOINT = '(other)';
const MAX_FIELDS = 200;
/** Distinct sets of differing fields kept per endpoint; requests past it count as differing. */
const MAX_SIGNATURES = 64;
const EXAMPLES_PER_FIELD = 2;
const EXAMPLES_PER_ENDPOINT = 5;
/** A run's figures outlive its step this long (the server reads them within seconds), then go. */
export const KEEP_ENDED_RUN_MS = 10 * 60_000;

class EndpointCounts {
  compared = 0;
  readonly fields = new Map<string, { differing: number; noise: number }>();
  /** Sorted differing fields joined by newlines → requests with exactly those. */
  readonly signatures = new Map<string, number>();
  /** Differing requests whose signature found no room. */
  overflow = 0;
  readonly examples = new Map<string, ShadowExample[]>();

  field(name: string): { differing: number; noise: number } | null {
    let f = this.fields.get(name);
    if (f === undefined) {
      if (this.fields.size >= MAX_FIELDS) return null;
      f = { differing: 0, noise: 0 };
      this.fields.set(name, f);
    }
    return f;
  }

  isNoise(name: string): boolean {
    return (this.fields.get(name)?.noise ?? 0) > 0;
  }

  toJSON(): ShadowEndpointStats {
    let differing = this.overflow;
    for (const [sig, n] of this.signatures) if (sig.split('\n').some((f) => !this.isNoise(f))) differing += n;
    const fields: ShadowEndpointStats['fields'] = {};
    for (const [name, f] of this.fields) fields[name] = { ...f };
    const examples: ShadowExample[] = [];
    for (const [name, list] of this.examples) if (!this.isNoise(name)) examples.push(...list);
    return { compared: this.compared, differing, fields, examples: examples.slice(0, EXAMPLES_PER_ENDPOINT) };
  }
}

export class ShadowRun {
  sampled = 0;
  compared = 0;
  readonly skipped = { inflight: 0, bodyTooLarge: 0, failed: 0, noBackend: 0 };
  private readonly endpoints = new Map<string, EndpointCounts>();
  /** When the table stopped naming this run (Date.now()); null while it runs. */
  endedAt: number | null = null;

  constructor(readonly run: string) {}

  /** Ended long enough ago that no one will read it: the router drops it rather than send it every second. */
  isExpired(now: number): boolean {
    return this.endedAt !== null && now - this.endedAt > KEEP_ENDED_RUN_MS;
  }

  /**
   * One compared copy: `real` the new answer's differences from the user's (ignored
   * fields already left out), `noise` the second stable answer's.
   */
  record(o: { endpoint: string; url: string; real: readonly FieldDiff[]; noise: readonly FieldDiff[] }): void {
    this.compared++;
    const e = this.endpoint(o.endpoint);
    e.compared++;
    for (const d of o.noise) {
      const f = e.field(d.field);
      if (f !== null) f.noise++;
    }
    if (o.real.length === 0) return;
    const names = [...new Set(o.real.map((d) => d.field))].sort();
    const sig = names.join('\n');
    const n = e.signatures.get(sig);
    if (n !== undefined) e.signatures.set(sig, n + 1);
    else if (e.signatures.size < MAX_SIGNATURES) e.signatures.set(sig, 1);
    else e.overflow++;
    for (const d of o.real) {
      const f = e.field(d.field);
      if (f === null) continue;
      f.differing++;
      const list = e.examples.get(d.field) ?? [];
      if (list.length < EXAMPLES_PER_FIELD) {
        list.push({ endpoint: o.endpoint, url: maskUrl(o.url), field: d.field, stable: maskValue(d.field, d.a), candidate: maskValue(d.field, d.b) });
        e.examples.set(d.field, list);
      }
    }
  }

  private endpoint(name: string): EndpointCounts {
    let e = this.endpoints.get(name);
    if (e === undefined) {
      const key = this.endpoints.size >= MAX_ENDPOINTS ? OTHER_ENDPOINT : name;
      e = this.endpoints.get(key) ?? new EndpointCounts();
      this.endpoints.set(key, e);
    }
    return e;
  }

  toJSON(): ShadowStatsJson {
    const endpoints: ShadowStatsJson['endpoints'] = {};
    let differing = 0;
    for (const [name, e] of this.endpoints) {
      const j = e.toJSON();
      endpoints[name] = j;
      differing += j.differing;
    }
    return { run: this.run, sampled: this.sampled, compared: this.compared, differing, skipped: { ...this.skipped }, endpoints };
  }
}
