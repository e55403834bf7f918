// Chooses the backend for one request: a release at random by weight, then the next
// backend of that release in turn. Built once per route table and then only read on
// the hot path, so picking allocates nothing. A backend passive health has ejected
// (`isUsable` says no) is skipped; when a release has no usable backend left, its
// next one is taken anyway: a bounded share is ejected, so this is rare, and a
// doubtful backend is better than a 503.

export interface ReleaseGroup<T> {
  release: string;
  weight: number;
  backends: readonly T[];
}

interface Group<T> {
  release: string;
  backends: readonly T[];
  /** Round-robin cursor; shared by first picks and retries so both spread load. */
  next: number;
}

export class WeightedPicker<T> {
  /** Releases that can take traffic: weight > 0 and at least one backend. */
  private readonly groups: Group<T>[];
  /** cumulative[i] = sum of the weights of groups[0..i]. */
  private readonly cumulative: number[];
  private readonly total: number;
  private readonly isUsable: (b: T) => boolean;

  constructor(releases: readonly ReleaseGroup<T>[], isUsable: (b: T) => boolean = () => true) {
    this.isUsable = isUsable;
    this.groups = [];
    this.cumulative = [];
    let total = 0;
    for (const r of releases) {
      if (!(r.weight > 0) || r.backends.length === 0) continue;
      total += r.weight;
      this.groups.push({ release: r.release, backends: r.backends, next: 0 });
      this.cumulative.push(total);
    }
    this.total = total;
  }

  /** Whether any request can be routed at all. */
  get isEmpty(): boolean {
    return this.groups.length === 0;
  }

  /** The releases that take traffic and their share after renormalising, in percent. */
  effectiveShares(): Record<string, number> {
    const out: Record<string, number> = {};
    let previous = 0;
    this.groups.forEach((g, i) => {
      const c = this.cumulative[i]!;
      out[g.release] = ((c - previous) / this.total) * 100;
      previous = c;
    });
    return out;
  }

  /** A backend for a new request, or null when no weighted release has one. `random` returns [0, 1). */
  pick(random: () => number = Math.random): T | null {
    const groups = this.groups;
    if (groups.length === 0) return null;
    let g = groups[0]!;
    if (groups.length > 1) {
      const x = random() * this.total;
      let i = 0;
      while (i < groups.length - 1 && x >= this.cumulative[i]!) i++;
      g = groups[i]!;
    }
    return this.nextOf(g);
  }

  /** The next backend of one release, or null when it has none (or no weight). */
  pickRelease(release: string): T | null {
    for (const g of this.groups) if (g.release === release) return this.nextOf(g);
    return null;
  }

  /** A release's share of traffic in percent after renormalising (0 when it takes none). */
  shareOf(release: string): number {
    let previous = 0;
    for (let i = 0; i < this.groups.length; i++) {
      const c = this.cumulative[i]!;
      if (this.groups[i]!.release === release) return ((c - previous) / this.total) * 100;
      previous = c;
    }
    return 0;
  }

  /**
   * A backend other than `failed` for a retry: the same release's next backend when
   * it has another, else the next backend of any other weighted release. Null when
   * `failed` was the only one.
   */
  pickOther(failed: T, failedRelease: string): T | null {
    const own = this.groups.find((g) => g.release === failedRelease);
    if (own !== undefined) {
      const b = this.nextOtherThan(own, failed);
      if (b !== null) return b;
    }
    for (const g of this.groups) {
      if (g === own) continue;
      const b = this.nextOtherThan(g, failed);
      if (b !== null) return b;
    }
    return null;
  }

  /** The group's next usable backend in turn, else its next one. */
  private nextOf(g: Group<T>): T {
    const n = g.backends.length;
    for (let tries = 0; tries < n; tries++) {
      const b = g.backends[g.next]!;
      g.next = (g.next + 1) % n;
      if (this.isUsable(b)) return b;
    }
    const b = g.backends[g.next]!;
    g.next = (g.next + 1) % n;
    return b;
  }

  /** The group's next usable backend other than `avoid`, else null. */
  private nextOtherThan(g: Group<T>, avoid: T): T | null {
    const n = g.backends.length;
    for (let tries = 0; tries < n; tries++) {
      const b = g.backends[g.next]!;
      g.next = (g.next + 1) % n;
      if (b !== avoid && this.isUsable(b)) return b;
    }
    return null;
  }
}
