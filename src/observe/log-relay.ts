// The log relay: one small process per instance that reads the instance's
// stdout and stderr from two pipes, masks its secrets, turns each line into a
// structured record (log-records.ts) tagged with environment, release and
// instance, and appends it to the instance's log file, rotated by size. It lives
// in its own process group, so signals to the instance do not reach it: it ends
// when its inputs close, that is when the instance (and every child holding the
// pipes) has exited, after writing the last lines. The server may die at any time
// without the instance or the relay noticing.
//
// It never blocks the instance: reading the pipes only queues the bytes, and the
// records are made and written in short slices in between. When the queue is
// full (the instance writes faster than the disk takes), whole lines are dropped
// and counted, and a record says how many.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { replaceFileAtomic } from '../platform/atomic-file.ts';
import { bundleDir, entryCommand } from '../platform/entry-point.ts';
import { Redactor } from '../security/redactor.ts';
import { StreamRedactor } from '../security/stream-redactor.ts';
import { recordHead, recordLine, type LogRecord, type LogTags } from './log-records.ts';

/** Where records go: the rotating log file, or anything with the same write. */
export interface LogSink {
  write(buf: Buffer): void;
}

export interface LogRelayOptions {
  /** The instance's stdout. */
  input: Readable;
  /** The instance's stderr (when absent, everything counts as stdout). */
  errInput?: Readable;
  sink: LogSink;
  /** Values to mask as *** before anything reaches the file. */
  secrets: string[];
  tags: LogTags;
  /** A line longer than this is written in pieces (memory stays bounded). */
  maxLineBytes?: number;
  /** An unfinished line is written (all but a possible secret's start) after this quiet time. */
  idleFlushMs?: number;
  /** Bytes read but not yet written, at most; past it, lines are dropped and counted. */
  maxQueueBytes?: number;
  /** The clock of the records (tests). */
  now?: () => number;
}

export interface LogRelayStats {
  bytesIn: number;
  linesOut: number;
  bytesOut: number;
  /** Bytes that could not be written (disk full, file gone); counted, never retried into memory. */
  bytesLost: number;
  /** Output dropped because the relay could not keep up; whole lines only. */
  bytesDropped: number;
  linesDropped: number;
}

type StreamName = 'stdout' | 'stderr';

interface Queued {
  stream: StreamName;
  chunk: Buffer;
  /** Output before this chunk was dropped: the unfinished line before it is discarded too. */
  afterDrop: boolean;
}

/** Time the writer works before letting the pipes be read again. */
const SLICE_MS = 2;

function countNewlines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(0x0a); i >= 0; i = buf.indexOf(0x0a, i + 1)) n++;
  return n;
}

/** Relays until every input ends; resolves once the last bytes are written. Never throws on a write error. */
export function relayLog(o: LogRelayOptions): Promise<LogRelayStats> {
  const now = o.now ?? Date.now;
  const redactor = new Redactor(o.secrets);
  const maxLineBytes = o.maxLineBytes ?? 64 * 1024;
  const maxQueueBytes = o.maxQueueBytes ?? 8 * 1024 * 1024;
  const streams: Record<StreamName, StreamRedactor> = {
    stdout: new StreamRedactor(redactor, { maxLineBytes }),
    stderr: new StreamRedactor(redactor, { maxLineBytes }),
  };
  /** Dropping until the next newline of that stream (a line is dropped whole or not at all). */
  const skipping: Record<StreamName, boolean> = { stdout: false, stderr: false };
  const stats: LogRelayStats = { bytesIn: 0, linesOut: 0, bytesOut: 0, bytesLost: 0, bytesDropped: 0, linesDropped: 0 };
  const queue: Queued[] = [];
  let queuedBytes = 0;
  let reported = { bytes: 0, lines: 0 };
  let lostSinceNotice = 0;
  let scheduled = false;
  let open = o.errInput ? 2 : 1;
  let finished: (() => void) | null = null;
  const idle: Record<StreamName, NodeJS.Timeout | null> = { stdout: null, stderr: null };

  const head = recordHead(o.tags);
  /** Record lines (each without its newline). */
  const writeRecords = (records: string[]) => {
    if (records.length === 0) return;
    if (lostSinceNotice > 0) {
      records.unshift(notice(`${lostSinceNotice} bytes of output were lost (the log file could not be written)`, { bytesLost: lostSinceNotice }));
    }
    const buf = Buffer.from(`${records.join('\n')}\n`);
    try {
      o.sink.write(buf);
      stats.bytesOut += buf.length;
      stats.linesOut += records.length;
      lostSinceNotice = 0;
    } catch {
      stats.bytesLost += buf.length;
      lostSinceNotice += buf.length;
    }
  };

  const notice = (msg: string, extra: Record<string, unknown>): string =>
    JSON.stringify({ ts: now(), ...o.tags, stream: 'relay', level: 'warn', msg, fields: extra } satisfies LogRecord);

  /** Masked output of one stream as records: each finished line, and any piece written early. */
  const recordsOf = (stream: StreamName, masked: Buffer): string[] => {
    if (masked.length === 0) return [];
    const text = masked.toString('utf8');
    const parts = text.split('\n');
    const last = parts.pop()!;
    const ts = now();
    const out = parts.map((line) => recordLine(line, { stream, ts, head }));
    if (last.length > 0) out.push(recordLine(last, { stream, ts, head, partial: true }));
    return out;
  };

  const reportDrops = (): string[] => {
    if (stats.bytesDropped === reported.bytes) return [];
    const bytes = stats.bytesDropped - reported.bytes;
    const lines = stats.linesDropped - reported.lines;
    reported = { bytes: stats.bytesDropped, lines: stats.linesDropped };
    return [notice(`${lines} line(s), ${bytes} bytes of output were dropped: the instance wrote faster than its log could be written`, { linesDropped: lines, bytesDropped: bytes })];
  };

  const drain = () => {
    scheduled = false;
    const until = performance.now() + SLICE_MS;
    const records: string[] = [];
    while (queue.length > 0 && performance.now() < until) {
      const q = queue.shift()!;
      queuedBytes -= q.chunk.length;
      if (q.afterDrop) {
        // The unfinished line before the gap is dropped with it: half a line, or half a secret, is never written.
        const held = streams[q.stream].pendingBytes;
        if (held > 0) {
          stats.bytesDropped += held;
          stats.linesDropped++;
        }
        streams[q.stream] = new StreamRedactor(redactor, { maxLineBytes });
        records.push(...reportDrops());
      }
      records.push(...recordsOf(q.stream, streams[q.stream].push(q.chunk)));
    }
    if (queue.length === 0) records.push(...reportDrops());
    writeRecords(records);
    if (queue.length > 0) schedule();
    else if (open === 0) finish();
  };

  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(drain);
  };

  const onData = (stream: StreamName) => (chunk: Buffer) => {
    stats.bytesIn += chunk.length;
    let data = chunk;
    let afterDrop = false;
    if (skipping[stream]) {
      const nl = data.indexOf(0x0a);
      if (nl < 0) {
        stats.bytesDropped += data.length;
        return;
      }
      stats.bytesDropped += nl + 1;
      stats.linesDropped++;
      data = data.subarray(nl + 1);
      skipping[stream] = false;
      afterDrop = true;
    }
    if (queuedBytes + data.length > maxQueueBytes) {
      // Full: this chunk goes, up to the end of the line it ends in.
      stats.bytesDropped += data.length;
      stats.linesDropped += countNewlines(data);
      skipping[stream] = true;
      queue.push({ stream, chunk: Buffer.alloc(0), afterDrop: true });
      schedule();
      return;
    }
    if (data.length > 0 || afterDrop) {
      queue.push({ stream, chunk: data, afterDrop });
      queuedBytes += data.length;
    }
    schedule();
    if (idle[stream]) clearTimeout(idle[stream]);
    idle[stream] = setTimeout(() => {
      idle[stream] = null;
      if (queue.some((q) => q.stream === stream)) return; // still writing: not idle
      writeRecords(recordsOf(stream, streams[stream].flushSafe()));
    }, o.idleFlushMs ?? 250);
  };

  const finish = () => {
    if (!finished) return;
    for (const s of ['stdout', 'stderr'] as const) if (idle[s]) clearTimeout(idle[s]);
    const records = [...reportDrops()];
    for (const s of ['stdout', 'stderr'] as const) {
      // The rest of a line being skipped is still part of what was dropped.
      if (skipping[s]) streams[s] = new StreamRedactor(redactor, { maxLineBytes });
      records.push(...recordsOf(s, streams[s].end()));
    }
    writeRecords(records);
    const done = finished;
    finished = null;
    done();
  };

  return new Promise((resolve) => {
    let settled = false;
    finished = () => {
      if (settled) return;
      settled = true;
      resolve(stats);
    };
    const attach = (input: Readable, stream: StreamName) => {
      input.on('data', onData(stream));
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        open--;
        if (open === 0 && queue.length === 0 && !scheduled) finish();
      };
      input.once('end', end);
      // A reset pipe is an end too: whatever arrived is still written.
      input.once('error', end);
    };
    attach(o.input, 'stdout');
    if (o.errInput) attach(o.errInput, 'stderr');
  });
}

/** How to start the relay program: node and its bundled file, or node with tsx and its source. */
export function logRelayCommand(): string[] {
  return entryCommand('log-relay-main', new URL('./log-relay-main.ts', import.meta.url));
}

/**
 * The relay as one plain-JavaScript file: the command's bundle holds it when the
 * command runs from one (bin/launch.js); else (the server run in-process, through
 * tsx) it is bundled from the sources by esbuild when the server starts, so that each relay boots as
 * bare node. Measured here per relay: ~0.1 s of CPU to start and ~7 MB of
 * private memory (44 MB RSS), against ~0.55 s and ~32 MB (76 MB RSS) through the
 * tsx loader. When the bundle cannot be made, the relay runs through tsx.
 */
export async function prepareLogRelay(dir: string, warn: (message: string) => void): Promise<string[]> {
  if (bundleDir() !== null) return logRelayCommand();
  const outfile = join(dir, 'log-relay.mjs');
  try {
    const { build } = await import('esbuild');
    mkdirSync(dir, { recursive: true });
    // Replaced whole: a relay starting meanwhile reads the old file or the new one, never half of one.
    await replaceFileAtomic(outfile, async (tmp) => {
      await build({
        entryPoints: [fileURLToPath(new URL('./log-relay-main.ts', import.meta.url))],
        bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: tmp, logLevel: 'silent',
      });
    });
    return [process.execPath, outfile];
  } catch (e) {
    warn(`cannot bundle the log relay (${(e as Error).message}); relays will start through tsx, slower`);
    return logRelayCommand();
  }
}
