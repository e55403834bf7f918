// Follows a container's log stream from the engine into its instance's log file:
// demultiplexed, each line's engine timestamp taken off after it moves the cursor,
// then masked and appended by the same relay the process runtime uses. The cursor
// (the last line's timestamp) is kept beside the log, so a restarted server goes on
// where the last one stopped: no line twice, none lost while no server ran, since
// the engine keeps a container's output whether anyone reads it or not.

import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';

/** What each record of the log is tagged with. */
export interface ContainerLogTags {
  env: string;
  release: number | null;
  instance: string;
}

/** Masks the given secrets and appends both streams to the log file; resolves when both ended and all is written. */
export type LogWriter = (o: { input: Readable; errInput?: Readable; logPath: string; secrets: string[]; tags: ContainerLogTags }) => Promise<void>;

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
    if (out.length) this.push(out.join(''));
    if (this.cursorNs !== null) this.onAdvance(this.cursorNs);
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
  tags: ContainerLogTags;
  cursorNs: bigint | null;
  write: LogWriter;
  /**
   * Asked once when the stream ends by itself (the container exited, not stop()):
   * a line to append after the container's own output, or null.
   */
  lastWords?(): Promise<string | null>;
}

/** Open for writing at offset 0 (not append mode: Linux would append a positioned write), created if missing. */
function openCursor(logPath: string): number {
  try {
    return openSync(cursorPath(logPath), 'r+');
  } catch {
    return openSync(cursorPath(logPath), 'w+');
  }
}

/**
 * Copies one container's log until its stream ends (the container stopped, or
 * stop() was called). The cursor is saved just after each chunk reaches the log, in
 * one small write over the same bytes (never a truncated file): a server killed
 * between the two writes sees at most that one chunk again; none is ever lost.
 */
export function followContainerLog(o: FollowOptions): { done: Promise<void>; stop(): void } {
  mkdirSync(dirname(o.logPath), { recursive: true });
  const cursorFd = openCursor(o.logPath);
  let saving = false;
  let closed = false;
  const save = (ns: bigint | null) => {
    if (ns === null || closed) return;
    try {
      writeSync(cursorFd, `${ns.toString().padStart(20, '0')}\n`, 0);
    } catch {
      // the next save writes it
    }
  };
  // One line splitter per stream, so that each record keeps the stream it came from
  // (stderr is the service's warnings and errors, as for a process instance). Both
  // start from the saved cursor; the engine sends the two in time order, so the
  // later of their positions is where the log has got to.
  const position = () => {
    const [a, b] = [outLines.cursorNs, errLines.cursorNs];
    return a === null ? b : b === null || a > b ? a : b;
  };
  const onAdvance = () => {
    if (saving) return;
    saving = true;
    // After the relay has written what was just pushed (it writes synchronously as data arrives).
    setImmediate(() => {
      saving = false;
      save(position());
    });
  };
  const outLines = new TimestampedLines(o.cursorNs, onAdvance);
  const errLines = new TimestampedLines(o.cursorNs, onAdvance);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  o.demux(o.source, stdout, stderr);
  let ending = false;
  let stopping = false;
  const end = (last: string | null) => {
    if (stderr.writableEnded) return;
    if (last) stderr.write(last.endsWith('\n') ? last : `${last}\n`);
    stdout.end();
    stderr.end();
  };
  const finish = () => {
    if (ending) return;
    ending = true;
    if (!o.lastWords || stopping) return end(null);
    o.lastWords().then(end, () => end(null));
  };
  o.source.once('end', finish);
  o.source.once('close', finish);
  o.source.once('error', finish);
  stdout.pipe(outLines);
  stderr.pipe(errLines);
  const done = o.write({ input: outLines, errInput: errLines, logPath: o.logPath, secrets: o.secrets, tags: o.tags }).finally(() => {
    save(position());
    closed = true;
    closeSync(cursorFd);
  });
  return {
    done,
    stop: () => {
      stopping = true;
      o.source.destroy();
      end(null);
    },
  };
}
