// Masks secret values as `***` wherever text leaves slipway: instance logs (through
// the log relay), the server's own log lines and API answers. Matching is on
// bytes, so a value is found whatever surrounds it.

export const MASK = '***';
const MASK_BYTES = Buffer.from(MASK, 'utf8');

/** Shorter values cannot be told apart from ordinary text: slipway refuses them as secrets. */
export const MIN_SECRET_LENGTH = 4;

/**
 * The forms in which a value may show up in a log line: as it is, escaped inside a
 * JSON string (quotes, backslashes, control characters), and, for a value of
 * several lines (a PEM key), each of its lines, since logs are written a line at a
 * time. A URL with a password (a DATABASE_URL) also has its password masked alone,
 * as written in the URL and decoded: a service that logs its connection settings
 * (a driver's `{ host, user, password }`) prints it without the rest. No form
 * contains a newline.
 */
export function maskForms(value: string): string[] {
  const forms = new Set<string>();
  const lines = value.split(/\r?\n/);
  for (const whole of [value, ...urlPasswords(value)]) {
    for (const form of [whole, JSON.stringify(whole).slice(1, -1)]) {
      if (!form.includes('\n') && form.length > 0) forms.add(form);
    }
  }
  if (lines.length > 1) for (const line of lines) if (line.trim().length >= MIN_SECRET_LENGTH) forms.add(line);
  return [...forms].filter((f) => !f.includes('\n'));
}

/** The password of a URL-shaped value, as written and percent-decoded; none shorter than a secret may be. */
function urlPasswords(value: string): string[] {
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*:[^/?#]*@/i.test(value)) return [];
  let written: string;
  try {
    written = new URL(value).password;
  } catch {
    return []; // not a URL after all (a bare '#' in it): the whole value is masked still
  }
  let decoded = written;
  try {
    decoded = decodeURIComponent(written);
  } catch {
    // a stray '%': only the written form
  }
  return [...new Set([written, decoded])].filter((p) => p.length >= MIN_SECRET_LENGTH);
}

export interface Match {
  start: number;
  end: number;
}

export class Redactor {
  private masks: Buffer[] = [];
  private readonly seen = new Set<string>();

  constructor(values: Iterable<string> = []) {
    this.add(values);
  }

  add(values: Iterable<string>): void {
    for (const value of values) {
      if (value.length === 0) continue;
      for (const form of maskForms(value)) {
        if (this.seen.has(form)) continue;
        this.seen.add(form);
        this.masks.push(Buffer.from(form, 'utf8'));
      }
    }
    this.masks.sort((a, b) => b.length - a.length);
  }

  get isEmpty(): boolean {
    return this.masks.length === 0;
  }

  /** Bytes of the longest form: a stream must hold back one less than this to catch a value cut in two. */
  get longestBytes(): number {
    return this.masks[0]?.length ?? 0;
  }

  /**
   * Every occurrence of every form, overlapping ones merged, in order. Merging
   * (rather than taking the leftmost match and going on after it) matters when two
   * secrets overlap: the tail of the second would otherwise stay bare.
   */
  matches(buf: Buffer): Match[] {
    const found: Match[] = [];
    for (const m of this.masks) {
      for (let at = buf.indexOf(m); at >= 0; at = buf.indexOf(m, at + 1)) found.push({ start: at, end: at + m.length });
    }
    found.sort((a, b) => a.start - b.start);
    const merged: Match[] = [];
    for (const m of found) {
      const last = merged.at(-1);
      if (last && m.start < last.end) last.end = Math.max(last.end, m.end);
      else merged.push({ ...m });
    }
    return merged;
  }

  /**
   * The first `limit` bytes of `buf`, masked, and how many were taken. Where a match
   * straddles `limit` the cut moves back to its start, so that no secret is ever
   * written in two pieces (the second could not be recognised on its own); a match
   * that starts at 0 is taken whole instead, so the caller always makes progress.
   */
  redactUpTo(buf: Buffer, limit: number): { out: Buffer; consumed: number } {
    if (this.masks.length === 0) return { out: buf.subarray(0, limit), consumed: limit };
    const ms = this.matches(buf);
    let cut = limit;
    const straddling = ms.find((m) => m.start < limit && m.end > limit);
    if (straddling) cut = straddling.start > 0 ? straddling.start : straddling.end;
    const parts: Buffer[] = [];
    let pos = 0;
    for (const m of ms) {
      if (m.start >= cut) break;
      parts.push(buf.subarray(pos, m.start), MASK_BYTES);
      pos = m.end;
    }
    parts.push(buf.subarray(pos, cut));
    return { out: Buffer.concat(parts), consumed: cut };
  }

  redactBytes(buf: Buffer): Buffer {
    return this.redactUpTo(buf, buf.length).out;
  }

  redact(text: string): string {
    if (this.masks.length === 0) return text;
    return this.redactBytes(Buffer.from(text, 'utf8')).toString('utf8');
  }
}
