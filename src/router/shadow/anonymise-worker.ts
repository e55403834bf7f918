// Anonymising recorded requests off the router worker's event loop. The patterns
// are the deployer's (`record.anonymise`), and a regular expression cannot be
// interrupted: a pattern that backtracks over a large body would stall every
// environment the worker serves, on every listener. So records go to one thread
// (anonymise-thread.ts), one at a time, and a record that takes longer than
// `budgetMs` ends that thread: the record is not kept, the log says so (never what
// the record held), and the records queued behind it go to a new thread. The queue
// is bounded: a record that would pass the bound is not kept.

import { Worker } from 'node:worker_threads';
import { threadEntry } from '../../platform/entry-point.ts';
import type { HealthLog } from '../passive-health.ts';
import type { AnonymiseDone, AnonymiseJob } from './anonymise-thread.ts';
import type { RawRecord } from './replay-anonymise.ts';

/** Why a record was not kept: its body is not text, it took too long, or too many were waiting. */
export type NotKept = 'not_text' | 'too_slow' | 'queue_full' | 'thread_failed';

export interface AnonymiseOptions {
  /** A record still being anonymised after this long is dropped, and its thread ended. */
  budgetMs: number;
  /** Records waiting at most, and their bytes at most. */
  maxQueued: number;
  maxQueuedBytes: number;
}

export const ANONYMISE_DEFAULTS: AnonymiseOptions = { budgetMs: 1_000, maxQueued: 256, maxQueuedBytes: 32 * 1024 * 1024 };

/** How often the budget of the record in hand is checked. */
const CHECK_EVERY_MS = 100;
/** A thread that failed is not started again sooner than this. */
const RESTART_AFTER_MS = 1_000;
/** A thread that has not loaded its code after this long has failed. */
const START_TIMEOUT_MS = 30_000;

interface Queued {
  job: AnonymiseJob;
  bytes: number;
  /** What the env is, for the log; never what the record held. */
  env: string;
  done: (line: string | null, notKept: NotKept | null) => void;
}

export class AnonymiseWorker {
  private readonly options: AnonymiseOptions;
  private thread: Worker | null = null;
  /** Sent to the thread, in order; the thread answers in the same order. */
  private readonly queue: Queued[] = [];
  private queuedBytes = 0;
  private nextId = 1;
  /** When the record at the head of the queue began to be worked on. */
  private headSince = 0;
  private timer: NodeJS.Timeout | null = null;
  private failedAt = -Infinity;
  /** The thread has loaded its code: until then no record is judged by the budget. */
  private ready = false;
  private startedAt = 0;
  private closed = false;
  /** Threads ended for a record over budget. */
  stalls = 0;

  constructor(private readonly log?: HealthLog, options: Partial<AnonymiseOptions> = {}) {
    this.options = { ...ANONYMISE_DEFAULTS, ...options };
  }

  /** Anonymises `raw` with `patterns`; `done` gets the line, or null and why not. */
  anonymise(env: string, patterns: readonly string[], raw: RawRecord, done: (line: string | null, notKept: NotKept | null) => void): void {
    const bytes = (raw.body?.byteLength ?? 0) + raw.url.length;
    if (this.closed || this.queue.length >= this.options.maxQueued || this.queuedBytes + bytes > this.options.maxQueuedBytes) {
      done(null, 'queue_full');
      return;
    }
    const thread = this.ensureThread();
    if (!thread) {
      done(null, 'thread_failed');
      return;
    }
    const item: Queued = { job: { id: this.nextId++, patterns, raw }, bytes, env, done };
    if (this.queue.length === 0) this.headSince = Date.now();
    this.queue.push(item);
    this.queuedBytes += bytes;
    thread.postMessage(item.job);
    this.timer ??= setInterval(() => this.checkBudget(), CHECK_EVERY_MS).unref();
  }

  /** Ends the thread; records still waiting are not kept. */
  async close(): Promise<void> {
    this.closed = true;
    const thread = this.thread;
    this.thread = null;
    this.failAll('thread_failed');
    if (thread) await thread.terminate();
  }

  private ensureThread(): Worker | null {
    if (this.thread) return this.thread;
    if (Date.now() - this.failedAt < RESTART_AFTER_MS) return null;
    const entry = threadEntry('anonymise-thread', new URL('./anonymise-thread.ts', import.meta.url));
    const thread = new Worker(entry.code, { eval: entry.eval });
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
    thread.on('error', (e) => {
      if (this.thread !== thread) return;
      this.log?.warn({ err: e.message }, 'replay: the thread that anonymises recorded requests failed; the records it held are not kept');
      this.thread = null;
      this.failedAt = Date.now();
      this.failAll('thread_failed');
    });
    thread.on('exit', () => {
      if (this.thread !== thread) return;
      this.thread = null;
      this.failedAt = Date.now();
      this.failAll('thread_failed');
    });
    this.thread = thread;
    return thread;
  }

  private answered(m: AnonymiseDone): void {
    const head = this.queue[0];
    if (!head || head.job.id !== m.id) return;
    this.shift();
    head.done(m.line, m.line === null ? 'not_text' : null);
  }

  private shift(): Queued | undefined {
    const head = this.queue.shift();
    if (head) this.queuedBytes -= head.bytes;
    this.headSince = Date.now();
    if (this.queue.length === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    return head;
  }

  private checkBudget(): void {
    const head = this.queue[0];
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
    if (Date.now() - this.headSince < this.options.budgetMs) return;
    // The record in hand is over budget: end its thread, drop it, and give the
    // records behind it to a new thread.
    this.stalls++;
    const old = this.thread;
    this.thread = null;
    void old?.terminate();
    this.shift();
    this.log?.warn(
      { env: head.env, budgetMs: this.options.budgetMs, bytes: head.bytes },
      `replay: a recorded request of ${head.env} took more than ${this.options.budgetMs} ms to anonymise and was not kept; one of the environment's anonymise patterns backtracks on large text (see docs/replay.md)`,
    );
    head.done(null, 'too_slow');
    const rest = this.queue.splice(0);
    this.queuedBytes = 0;
    if (rest.length === 0) return;
    const thread = this.ensureThread();
    if (!thread) {
      for (const q of rest) q.done(null, 'thread_failed');
      return;
    }
    this.headSince = Date.now();
    for (const q of rest) {
      this.queue.push(q);
      this.queuedBytes += q.bytes;
      thread.postMessage(q.job);
    }
    this.timer ??= setInterval(() => this.checkBudget(), CHECK_EVERY_MS).unref();
  }

  private failAll(why: NotKept): void {
    const all = this.queue.splice(0);
    this.queuedBytes = 0;
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    for (const q of all) q.done(null, why);
  }
}
