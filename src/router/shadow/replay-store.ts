// The recorded sample of an environment's requests on disk, written by the router's
// keeper alone (its workers send it lines over IPC), so two workers never write one
// file. Two files per environment under <router dir>/replay/: the current one and
// the one before it. A file takes at most half the sample's count and half its
// bytes; when the next line would not fit, the current file replaces the previous
// one and a new one starts. So the two together never hold more than `sample`
// requests nor more than `maxBytes` bytes, and always the newest ones.
//
// The server reads the sample (readReplaySample) for the pipeline's replay stage. A
// line torn by a crash is skipped by the reader.

import { mkdirSync } from 'node:fs';
import { appendFile, mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReplayRecord } from '../../core/shadow/replay-spec.ts';

/** How often the lines the workers sent are appended: one write per environment per tick. */
const FLUSH_EVERY_MS = 200;

export function replayFiles(dir: string, env: string): { current: string; previous: string } {
  const base = encodeURIComponent(env);
  return { current: join(dir, `${base}.jsonl`), previous: join(dir, `${base}.1.jsonl`) };
}

/**
 * The most bytes one recorded line (with its newline) may take: a file's share of
 * max_bytes. A longer line would not fit even in an empty file, so the store refuses
 * it, and the worker that made it counts it too_large rather than kept
 * (replay-recorder.ts asks this before it hands a line on).
 */
export function maxLineBytes(maxBytes: number): number {
  return Math.floor(maxBytes / 2);
}

export function isLineOverFileShare(line: string, maxBytes: number): boolean {
  return Buffer.byteLength(line) + 1 > maxLineBytes(maxBytes);
}

interface FileState {
  count: number;
  bytes: number;
  /** The file ends in a line torn by a crash: the next write starts on a new line, so the torn one alone is lost. */
  isTorn: boolean;
}

/**
 * What the keeper did with a line a worker sent it: written to the sample file
 * (`kept`; newer lines may replace it later, as the bounds say), or why not:
 * `too_large`, alone over a file's share of max_bytes under the environment's
 * bounds now (the worker checks it under those it had); `dropped_overflow`, a whole
 * `sample` of newer lines arrived before it could be written, so it would have been
 * replaced at once; `dropped_stopped`, the environment no longer records (its
 * routes lost `record:` while the line was on its way); `dropped_write_failed`,
 * the file could not be written (router.log says why).
 */
export type KeeperOutcome = 'kept' | 'too_large' | 'dropped_overflow' | 'dropped_stopped' | 'dropped_write_failed';

const noOutcomes = (): Record<KeeperOutcome, number> => ({ kept: 0, too_large: 0, dropped_overflow: 0, dropped_stopped: 0, dropped_write_failed: 0 });

export interface ReplayStoreOptions {
  dir: string;
  /** The environment's bounds as its routes say now; undefined: not recording (lines are dropped). */
  boundsOf(env: string): { sample: number; maxBytes: number } | undefined;
  onError(env: string, err: Error): void;
}

export class ReplayStore {
  private readonly pending = new Map<string, string[]>();
  private readonly files = new Map<string, FileState>();
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  /** env → every line received, counted once by what became of it; a line waiting to be written is not counted yet. */
  private readonly outcomes = new Map<string, Record<KeeperOutcome, number>>();

  constructor(private readonly o: ReplayStoreOptions) {
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  }

  /** Cumulative, per environment that has sent lines since the router started. */
  counts(): Record<string, Record<KeeperOutcome, number>> {
    return Object.fromEntries([...this.outcomes].map(([env, c]) => [env, { ...c }]));
  }

  private count(env: string, outcome: KeeperOutcome, n = 1): void {
    if (n === 0) return;
    let c = this.outcomes.get(env);
    if (c === undefined) {
      c = noOutcomes();
      this.outcomes.set(env, c);
    }
    c[outcome] += n;
  }

  add(env: string, line: string): void {
    const bounds = this.o.boundsOf(env);
    if (bounds === undefined) return this.count(env, 'dropped_stopped');
    const list = this.pending.get(env) ?? [];
    // Memory is bounded too: past a whole sample waiting, the oldest waiting goes
    // (written, it would have been replaced by the newer ones before it was read).
    if (list.length >= bounds.sample) {
      list.shift();
      this.count(env, 'dropped_overflow');
    }
    list.push(line);
    this.pending.set(env, list);
    this.timer ??= setTimeout(() => void this.flush(), FLUSH_EVERY_MS);
  }

  /** Writes what is waiting; resolves when it is on disk. */
  flush(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const batches = [...this.pending];
    this.pending.clear();
    const run = this.chain.then(async () => {
      for (const [env, lines] of batches) {
        const done = { kept: 0, tooLarge: 0 };
        try {
          await this.write(env, lines, done);
        } catch (e) {
          this.count(env, 'dropped_write_failed', lines.length - done.kept - done.tooLarge);
          // What the file holds is read again before the next write.
          this.files.delete(env);
          this.o.onError(env, e as Error);
        }
      }
    });
    this.chain = run.catch(() => {});
    return run;
  }

  /** Writes `lines`, counting each by its outcome as it is settled; `done` says how many were when it throws. */
  private async write(env: string, lines: readonly string[], done: { kept: number; tooLarge: number }): Promise<void> {
    const bounds = this.o.boundsOf(env);
    if (bounds === undefined) return this.count(env, 'dropped_stopped', lines.length);
    const perFileCount = Math.max(1, Math.floor(bounds.sample / 2));
    const perFileBytes = maxLineBytes(bounds.maxBytes);
    const files = replayFiles(this.o.dir, env);
    // The directory may have been removed by hand (to drop a sample): it is made again.
    await mkdir(this.o.dir, { recursive: true, mode: 0o700 });
    const st = this.files.get(env) ?? (await stateOf(files.current));
    this.files.set(env, st);
    let batch = st.isTorn ? '\n' : '';
    let inBatch = 0;
    st.isTorn = false;
    // Lines are counted kept once the append that holds them succeeded.
    const append = async () => {
      if (batch !== '') await appendFile(files.current, batch, { mode: 0o600 });
      this.count(env, 'kept', inBatch);
      done.kept += inBatch;
      batch = '';
      inBatch = 0;
    };
    for (const line of lines) {
      // Workers count such a line too_large and do not send it; this holds for one
      // made under bounds the table has since changed.
      if (isLineOverFileShare(line, bounds.maxBytes)) {
        this.count(env, 'too_large');
        done.tooLarge++;
        continue;
      }
      const size = Buffer.byteLength(line) + 1;
      if (st.count + 1 > perFileCount || st.bytes + size > perFileBytes) {
        await append();
        await rename(files.current, files.previous).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'ENOENT') throw e;
        });
        st.count = 0;
        st.bytes = 0;
      }
      batch += `${line}\n`;
      inBatch++;
      st.count++;
      st.bytes += size;
    }
    await append();
  }
}

/** What the current file already holds (after a router restart, say). */
async function stateOf(file: string): Promise<FileState> {
  try {
    const text = await readFile(file, 'utf8');
    return { count: text.split('\n').filter((l) => l !== '').length, bytes: Buffer.byteLength(text), isTorn: text !== '' && !text.endsWith('\n') };
  } catch {
    return { count: 0, bytes: 0, isTorn: false };
  }
}

/** The newest `limit` requests recorded for env, oldest first; lines that do not parse are skipped. */
export async function readReplaySample(dir: string, env: string, limit: number): Promise<ReplayRecord[]> {
  const files = replayFiles(dir, env);
  const out: ReplayRecord[] = [];
  for (const file of [files.previous, files.current]) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      const r = parseRecord(line);
      if (r !== null) out.push(r);
    }
  }
  return out.slice(-limit);
}

function parseRecord(line: string): ReplayRecord | null {
  if (line === '') return null;
  try {
    const r = JSON.parse(line) as Partial<ReplayRecord>;
    if (typeof r.method !== 'string' || typeof r.url !== 'string' || !r.url.startsWith('/') || typeof r.headers !== 'object' || r.headers === null) return null;
    return { at: Number(r.at) || 0, method: r.method, url: r.url, headers: r.headers, ...(typeof r.body === 'string' ? { body: r.body } : {}) };
  } catch {
    return null;
  }
}
