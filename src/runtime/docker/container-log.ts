// Follows a container's log stream from the engine into its instance's log file:
// demultiplexed, each line's engine timestamp taken off after it moves the cursor,
// then masked and appended by the same relay the process runtime uses. The cursor
// (the last line's timestamp) is kept beside the log, so a restarted server goes on
// where the last one stopped: no line twice, none lost while no server ran, since
// the engine keeps a container's output whether anyone reads it or not.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';

/** Masks the given secrets in `input` and appends it to the log file; resolves when input ended and all is written. */
export type LogWriter = (o: { input: Readable; logPath: string; secrets: string[] }) => Promise<void>;

/** An engine timestamp (RFC 3339 with up to 9 fraction digits) as nanoseconds; null when it is not one. */
export function timestampNs(text: string): bigint | null {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(text);
  if (!m) return null;
  const seconds = Date.parse(`${m[1]}Z`);
  if (Number.isNaN(seconds)) return null;
  return BigInt(seconds) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** Splits "TIMESTAMP line\n" entries, drops those at or before the cursor, passes the line on without its timestamp. */
export class TimestampedLines extends Transform {
  private rest = '';

  constructor(public cursorNs: bigint | null, private readonly onAdvance: (ns: bigint) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const text = this.rest + chunk.toString('utf8');
    const nl = text.lastIndexOf('\n');
    this.rest = nl < 0 ? text : text.slice(nl + 1);
    if (nl >= 0) this.emitLines(text.slice(0, nl + 1));
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.rest) this.emitLines(this.rest);
    this.rest = '';
    done();
  }

  private emitLines(text: string): void {
    const out: string[] = [];
    for (const line of text.split(/(?<=\n)/)) {
      const space = line.indexOf(' ');
      const ns = space > 0 ? timestampNs(line.slice(0, space)) : null;
      if (ns === null) {
        out.push(line); // not an entry of ours to place: keep it rather than lose it
        continue;
      }
      if (this.cursorNs !== null && ns <= this.cursorNs) continue;
      this.cursorNs = ns;
      out.push(line.slice(space + 1));
    }
    if (this.cursorNs !== null) this.onAdvance(this.cursorNs);
    if (out.length) this.push(out.join(''));
  }
}

export function cursorPath(logPath: string): string {
  return `${logPath}.cursor`;
}

export function readCursor(logPath: string): bigint | null {
  try {
    const file = cursorPath(logPath);
    if (!existsSync(file)) return null;
    const text = readFileSync(file, 'utf8').trim();
    return /^\d+$/.test(text) ? BigInt(text) : null;
  } catch {
    return null;
  }
}

export interface FollowOptions {
  /** The engine's multiplexed log stream (follow, timestamps, since the cursor's second). */
  source: Readable;
  /** Splits the engine's frames into stdout and stderr. */
  demux(source: Readable, stdout: PassThrough, stderr: PassThrough): void;
  logPath: string;
  secrets: string[];
  cursorNs: bigint | null;
  write: LogWriter;
}

/** Copies one container's log until its stream ends (the container stopped, or stop() was called). */
export function followContainerLog(o: FollowOptions): { done: Promise<void>; stop(): void } {
  const merged = new PassThrough();
  let lastSaved = 0;
  let pending: bigint | null = null;
  const save = (ns: bigint | null) => {
    if (ns === null) return;
    try {
      writeFileSync(cursorPath(o.logPath), `${ns}\n`);
    } catch {
      // the next save writes it
    }
  };
  const lines = new TimestampedLines(o.cursorNs, (ns) => {
    pending = ns;
    // At most twice a second: the cursor only has to be close, the dedupe by timestamp makes it exact.
    if (Date.now() - lastSaved >= 500) {
      lastSaved = Date.now();
      save(ns);
    }
  });
  o.demux(o.source, merged, merged);
  const finish = () => merged.end();
  o.source.once('end', finish);
  o.source.once('close', finish);
  o.source.once('error', finish);
  merged.pipe(lines);
  const done = o.write({ input: lines, logPath: o.logPath, secrets: o.secrets }).finally(() => save(pending ?? lines.cursorNs));
  return {
    done,
    stop: () => {
      o.source.destroy();
      finish();
    },
  };
}
