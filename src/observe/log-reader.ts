// Reading instance logs back: the newest records matching a query (read from the
// end of each file backwards, so a query for the last lines of a big log reads
// only its end), and following the files as they grow and rotate.

import { open, stat } from 'node:fs/promises';
import { levelRank, parseLogLine, searchableText, type LogLevel, type LogRecord, type LogTags } from './log-records.ts';
import { rotatedPaths } from './rotating-log-file.ts';

/** One instance's log. */
export interface LogSource extends LogTags {
  logPath: string;
}

export interface LogQuery {
  /** Records at or after this time (epoch ms). */
  sinceTs?: number | undefined;
  /** A plain substring of the message or the instance's own fields (case-sensitive). */
  grep?: string | undefined;
  /** This level and above. */
  minLevel?: LogLevel | undefined;
  limit: number;
}

/** Rotated files looked at, besides the current one: enough for any configured max_files. */
const MAX_ROTATED = 20;
const BLOCK_BYTES = 256 * 1024;
/** A query reads at most this much of one instance's logs. */
const MAX_SCAN_BYTES = 128 * 1024 * 1024;

export function matchesQuery(r: LogRecord, q: Omit<LogQuery, 'limit'>): boolean {
  if (q.sinceTs !== undefined && r.ts < q.sinceTs) return false;
  if (q.minLevel && levelRank(r.level) < levelRank(q.minLevel)) return false;
  if (q.grep && !searchableText(r).includes(q.grep)) return false;
  return true;
}

/** The newest `limit` records matching the query across the sources, oldest first. */
export async function readRecentLogs(sources: LogSource[], q: LogQuery): Promise<LogRecord[]> {
  const all = (await Promise.all(sources.map((s) => readRecentOf(s, q)))).flat();
  all.sort((a, b) => a.ts - b.ts);
  return all.slice(-q.limit);
}

async function readRecentOf(source: LogSource, q: LogQuery): Promise<LogRecord[]> {
  const found: LogRecord[] = []; // newest first
  let scanned = 0;
  const files = rotatedPaths(source.logPath, MAX_ROTATED).reverse(); // newest first
  for (const path of files) {
    const fh = await open(path, 'r').catch(() => null);
    if (!fh) continue;
    try {
      let end = (await fh.stat()).size;
      let carry = Buffer.alloc(0);
      while (end > 0 && found.length < q.limit && scanned < MAX_SCAN_BYTES) {
        const start = Math.max(0, end - BLOCK_BYTES);
        const block = Buffer.alloc(end - start);
        await fh.read(block, 0, block.length, start);
        scanned += block.length;
        const buf = Buffer.concat([block, carry]);
        // The first line of a block may be cut: keep it for the next (earlier) block.
        const firstNl = start > 0 ? buf.indexOf(0x0a) : -1;
        carry = firstNl >= 0 ? buf.subarray(0, firstNl) : start > 0 ? buf : Buffer.alloc(0);
        const text = (firstNl >= 0 ? buf.subarray(firstNl + 1) : start > 0 ? Buffer.alloc(0) : buf).toString('utf8');
        const lines = text.split('\n');
        for (let i = lines.length - 1; i >= 0; i--) {
          if (!lines[i]) continue;
          const r = parseLogLine(lines[i]!, source);
          if (q.sinceTs !== undefined && r.ts > 0 && r.ts < q.sinceTs) return found.reverse(); // older from here on
          if (matchesQuery(r, q)) found.push(r);
          if (found.length >= q.limit) break;
        }
        end = start;
      }
    } finally {
      await fh.close();
    }
    if (found.length >= q.limit || scanned >= MAX_SCAN_BYTES) break;
  }
  return found.reverse();
}

interface FollowState {
  ino: number;
  offset: number;
  carry: string;
}

/**
 * Follows logs from their current end. Each poll reads what was appended since;
 * a file that was rotated meanwhile is read to its end under its new name first,
 * so no line is skipped at a rotation.
 */
export class LogFollower {
  private readonly states = new Map<string, FollowState>();

  constructor(private readonly q: Omit<LogQuery, 'limit'>) {}

  /** Marks where each source ends now: following starts there. */
  async start(sources: LogSource[]): Promise<void> {
    for (const s of sources) {
      const st = await stat(s.logPath).catch(() => null);
      this.states.set(s.logPath, { ino: st?.ino ?? -1, offset: st?.size ?? 0, carry: '' });
    }
  }

  /** New matching records since the last poll, in time order. A new source is read from its start. */
  async poll(sources: LogSource[]): Promise<LogRecord[]> {
    const out: LogRecord[] = [];
    for (const s of sources) {
      const st = await stat(s.logPath).catch(() => null);
      if (!st) continue;
      let state = this.states.get(s.logPath);
      if (!state) {
        state = { ino: st.ino, offset: 0, carry: '' };
        this.states.set(s.logPath, state);
      }
      if (state.ino !== st.ino) {
        if (state.ino !== -1) {
          const old = await stat(`${s.logPath}.1`).catch(() => null);
          if (old && old.ino === state.ino) this.take(s, state, await readRange(`${s.logPath}.1`, state.offset, old.size), out);
          if (state.carry) this.take(s, state, '\n', out);
        }
        state.ino = st.ino;
        state.offset = 0;
        state.carry = '';
      }
      if (st.size < state.offset) state.offset = 0; // truncated
      if (st.size > state.offset) {
        const text = await readRange(s.logPath, state.offset, st.size);
        state.offset = st.size;
        this.take(s, state, text, out);
      }
    }
    return out.sort((a, b) => a.ts - b.ts);
  }

  private take(source: LogSource, state: FollowState, text: string, out: LogRecord[]): void {
    const parts = (state.carry + text).split('\n');
    state.carry = parts.pop() ?? '';
    for (const line of parts) {
      if (!line) continue;
      const r = parseLogLine(line, source);
      if (matchesQuery(r, this.q)) out.push(r);
    }
  }
}

async function readRange(path: string, start: number, end: number): Promise<string> {
  if (end <= start) return '';
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(end - start);
    const { bytesRead } = await fh.read(buf, 0, buf.length, start);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
}
