// Anonymising recorded requests off the router worker's event loop. The patterns
// are the deployer's (`record.anonymise`), and a regular expression cannot be
// interrupted: a pattern that backtracks over a large body would stall every
// environment the worker serves, on every listener. So records go to one thread
// (anonymise-thread.ts), and a batch of them that takes longer than `budgetMs`
// ends that thread: its records are not kept, the log says so (never what
// the record held), and the records queued behind it go to a new thread. The queue
// is bounded: a record that would pass the bound is not kept. Records are sent in
// batches (up to BATCH_MAX, gathered for at most GATHER_MS): one message each way
// per batch, not per record, halves what recording costs the worker. The thread's
// heap is limited (`resourceLimits`): a runaway in it (a large JSON body of many
// small fields, walked field by field) ends that thread, as a stall does, and
// never takes the router worker's memory.

import { Worker } from 'node:worker_threads';
import { threadEntry } from '../../platform/entry-point.ts';
import type { HealthLog } from '../passive-health.ts';
import type { AnonymiseBatch, AnonymiseDone } from './anonymise-thread.ts';
import type { RawRecord } from './replay-anonymise.ts';

/** Why a record was not kept: its body is not text, it took too long, or too many were waiting. */
export type NotKept = 'not_text' | 'too_slow' | 'queue_full' | 'thread_failed';

export interface AnonymiseOptions {
  /** A batch still being anonymised after this long, plus budgetPerMiBMs for each MiB it holds, is dropped, and its thread ended. */
  budgetMs: number;
  /**
   * What each MiB of a batch adds to its budget: anonymising is linear in the text for
   * a sound pattern, so a batch of large bodies is given time in proportion, while a
   * pattern that backtracks (quadratic: 1.5 s on 64 kB, 25 s on 256 kB) still fails it.
   */
  budgetPerMiBMs: number;
  /** Records waiting at most, and their bytes at most. */
  maxQueued: number;
  maxQueuedBytes: number;
  /** The thread's heap: past it the thread is ended, its records are not kept, and the next goes to a new thread. */
  resourceLimits: { maxOldGenerationSizeMb: number; maxYoungGenerationSizeMb: number };
}

export const ANONYMISE_DEFAULTS: AnonymiseOptions = {
  budgetMs: 1_000,
  // 32 JSON bodies of 1 MiB (record.max_body's most) took about 3 s on a loaded 2-core machine: 9 s allowed.
  budgetPerMiBMs: 250,
  maxQueued: 256,
  maxQueuedBytes: 32 * 1024 * 1024,
  // A full batch of 1 MiB JSON bodies of small fields (record.max_body's most) needed
  // between 64 and 96 MB of old generation here; the young generation's size made no
  // measurable difference to the time taken.
  resourceLimits: { maxOldGenerationSizeMb: 128, maxYoungGenerationSizeMb: 16 },
};

/** Records sent to the thread in one message at most, and how long the first of a batch waits for others. */
const BATCH_MAX = 32;
const GATHER_MS = 20;
/** How often the budget of the batch in hand is checked. */
const CHECK_EVERY_MS = 100;
/** A thread that failed is not started again sooner than this. */
const RESTART_AFTER_MS = 1_000;
/** A thread that has not loaded its code after this long has failed. */
const START_TIMEOUT_MS = 30_000;

interface Queued {
  patterns: readonly string[];
  raw: RawRecord;
  bytes: number;
  /** Whose record it is, for the log; never what the record held. */
  env: string;
  done: (line: string | null, notKept: NotKept | null) => void;
}

interface Batch {
  id: number;
  items: Queued[];
}

/** How long a batch of `bytes` may take to anonymise. */
export function batchBudgetMs(bytes: number, o: Pick<AnonymiseOptions, 'budgetMs' | 'budgetPerMiBMs'>): number {
  return Math.round(o.budgetMs + (bytes / (1024 * 1024)) * o.budgetPerMiBMs);
}

export class AnonymiseWorker {
  private readonly options: AnonymiseOptions;
  private thread: Worker | null = null;
  /** Records not yet sent, gathered into the next batch. */
  private gathering: Queued[] = [];
  private gatherTimer: NodeJS.Timeout | null = null;
  /** Batches sent to the thread, in order; it answers them in the same order. */
  private readonly sent: Batch[] = [];
  /** Records gathered or sent and not yet answered, and their bytes. */
  private queued = 0;
  private queuedBytes = 0;
  private nextId = 1;
  /** When the batch at the head of `sent` began to be worked on. */
  private headSince = 0;
  private budgetTimer: NodeJS.Timeout | null = null;
  private failedAt = -Infinity;
  /** The thread has loaded its code: until then no batch is judged by the budget. */
  private ready = false;
  private startedAt = 0;
  private closed = false;
  /** Threads ended for a batch over budget. */
  stalls = 0;

  constructor(private readonly log?: HealthLog, options: Partial<AnonymiseOptions> = {}) {
    this.options = { ...ANONYMISE_DEFAULTS, ...options };
  }

  /** Anonymises `raw` with `patterns`; `done` gets the line, or null and why not. */
  anonymise(env: string, patterns: readonly string[], raw: RawRecord, done: (line: string | null, notKept: NotKept | null) => void): void {
    const bytes = (raw.body?.byteLength ?? 0) + raw.url.length;
    if (this.closed || this.queued >= this.options.maxQueued || this.queuedBytes + bytes > this.options.maxQueuedBytes) {
      done(null, 'queue_full');
      return;
    }
    if (!this.ensureThread()) {
      done(null, 'thread_failed');
      return;
    }
    this.gathering.push({ patterns, raw, bytes, env, done });
    this.queued++;
    this.queuedBytes += bytes;
    if (this.gathering.length >= BATCH_MAX) this.send();
    else this.gatherTimer ??= setTimeout(() => this.send(), GATHER_MS).unref();
  }

  /** Ends the thread; records still waiting are not kept. */
  async close(): Promise<void> {
    this.closed = true;
    const thread = this.thread;
    this.thread = null;
    this.failAll('thread_failed');
    if (thread) await thread.terminate();
  }

  private send(): void {
    if (this.gatherTimer) clearTimeout(this.gatherTimer);
    this.gatherTimer = null;
    if (this.gathering.length === 0) return;
    const batch: Batch = { id: this.nextId++, items: this.gathering };
    this.gathering = [];
    const thread = this.ensureThread();
    if (!thread) {
      this.settle(batch, null, 'thread_failed');
      return;
    }
    this.post(thread, batch);
  }

  private post(thread: Worker, batch: Batch): void {
    if (this.sent.length === 0) this.headSince = Date.now();
    this.sent.push(batch);
    thread.postMessage({ id: batch.id, jobs: batch.items.map((q) => ({ patterns: q.patterns, raw: q.raw })) } satisfies AnonymiseBatch);
    this.budgetTimer ??= setInterval(() => this.checkBudget(), CHECK_EVERY_MS).unref();
  }

  private ensureThread(): Worker | null {
    if (this.thread) return this.thread;
    if (Date.now() - this.failedAt < RESTART_AFTER_MS) return null;
    let thread: Worker;
    try {
      const entry = threadEntry('anonymise-thread', new URL('./anonymise-thread.ts', import.meta.url));
      thread = new Worker(entry.code, { eval: entry.eval, resourceLimits: { ...this.options.resourceLimits } });
    } catch (e) {
      // Never into the request that offered the record: it is not recorded, that is all.
      this.failedAt = Date.now();
      this.log?.warn({ err: (e as Error).message }, 'replay: cannot start the thread that anonymises recorded requests; they are not kept');
      return null;
    }
    this.ready = false;
    this.startedAt = Date.now();
    // The thread never keeps the router worker alive by itself.
    thread.unref();
    thread.on('message', (m: AnonymiseDone | { ready: true }) => {
      if (thread !== this.thread) return; // a thread ended for a stall may still answer
      if ('ready' in m) {
        this.ready = true;
        this.headSince = Date.now();
      } else this.answered(m);
    });
    const lost = (e: Error | null) => {
      if (this.thread !== thread) return;
      if (e !== null) this.warnLost(e);
      this.thread = null;
      this.failedAt = Date.now();
      this.failAll('thread_failed');
    };
    thread.on('error', (e) => lost(e));
    thread.on('exit', () => lost(null));
    this.thread = thread;
    return thread;
  }

  /** Says why the thread was lost, and whose records went with it; never what they held. */
  private warnLost(e: Error): void {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_WORKER_OUT_OF_MEMORY') {
      this.log?.warn({ err: e.message }, 'replay: the thread that anonymises recorded requests failed; the records it held are not kept');
      return;
    }
    const held = [...this.sent.flatMap((b) => b.items), ...this.gathering];
    const envs = [...new Set(held.map((q) => q.env))].join(', ');
    const limitMb = this.options.resourceLimits.maxOldGenerationSizeMb;
    this.log?.warn(
      { envs, records: held.length, limitMb },
      `replay: the thread that anonymises recorded requests${envs ? ` of ${envs}` : ''} ran out of memory (its heap limit is ${limitMb} MB) and was ended; the records it held were not kept (${held.length}), later ones go to a new thread`,
    );
  }

  private answered(m: AnonymiseDone): void {
    const head = this.sent[0];
    if (!head || head.id !== m.id) return;
    this.shiftSent();
    head.items.forEach((q, i) => this.settleOne(q, m.lines[i] ?? null, m.lines[i] == null ? 'not_text' : null));
  }

  private shiftSent(): Batch | undefined {
    const head = this.sent.shift();
    this.headSince = Date.now();
    if (this.sent.length === 0 && this.budgetTimer) {
      clearInterval(this.budgetTimer);
      this.budgetTimer = null;
    }
    return head;
  }

  private checkBudget(): void {
    const head = this.sent[0];
    if (!head) return;
    if (!this.ready) {
      if (Date.now() - this.startedAt < START_TIMEOUT_MS) return;
      this.log?.warn({ waitedMs: START_TIMEOUT_MS }, 'replay: the thread that anonymises recorded requests did not start; the records it held are not kept');
      const old = this.thread;
      this.thread = null;
      this.failedAt = Date.now();
      void old?.terminate();
      this.failAll('thread_failed');
      return;
    }
    const budgetMs = batchBudgetMs(head.items.reduce((n, q) => n + q.bytes, 0), this.options);
    if (Date.now() - this.headSince < budgetMs) return;
    // The batch in hand is over budget: end its thread, drop its records, and give
    // the batches behind it to a new thread.
    this.stalls++;
    const old = this.thread;
    this.thread = null;
    void old?.terminate();
    this.shiftSent();
    const envs = [...new Set(head.items.map((q) => q.env))].join(', ');
    this.log?.warn(
      { envs, records: head.items.length, budgetMs },
      `replay: recorded requests of ${envs} took more than ${budgetMs} ms to anonymise and were not kept (${head.items.length}); one of the environment's anonymise patterns backtracks on large text (see docs/replay.md)`,
    );
    this.settle(head, null, 'too_slow');
    const rest = this.sent.splice(0);
    if (rest.length === 0) return;
    const thread = this.ensureThread();
    for (const b of rest) {
      if (thread) this.post(thread, b);
      else this.settle(b, null, 'thread_failed');
    }
  }

  private settle(batch: Batch, line: null, why: NotKept): void {
    for (const q of batch.items) this.settleOne(q, line, why);
  }

  private settleOne(q: Queued, line: string | null, why: NotKept | null): void {
    this.queued--;
    this.queuedBytes -= q.bytes;
    q.done(line, why);
  }

  private failAll(why: NotKept): void {
    if (this.gatherTimer) clearTimeout(this.gatherTimer);
    this.gatherTimer = null;
    if (this.budgetTimer) clearInterval(this.budgetTimer);
    this.budgetTimer = null;
    const batches = [...this.sent.splice(0), { id: 0, items: this.gathering }];
    this.gathering = [];
    for (const b of batches) this.settle(b, null, why);
  }
}
