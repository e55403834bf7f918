// Recording production's requests for replay to staging, in a router worker: a
// request that matches the methods and paths and is picked by `percent` is
// anonymised and handed, as one JSON line, to the sink (the worker sends it to its
// keeper, which alone writes the file: replay-store.ts). Nothing here touches disk,
// and nothing delays the request: the body is copied as it passes, and the
// anonymising (the deployer's patterns among it) runs on a thread of its own
// (anonymise-worker.ts), so the line reaches the sink a little later. Each picked
// request is counted in its environment's counters, handed on (`kept`) or why not,
// so a sample starved by large bodies or a slow pattern shows in the server's
// metrics. What the keeper then does with a line handed on (written, or dropped) it
// counts itself; its /stats puts that in place of this `kept` (router-stats.ts).

import type { IncomingMessage } from 'node:http';
import type { WorkerRecordOutcome } from '../router-stats.ts';
import type { AnonymiseWorker } from './anonymise-worker.ts';
import type { RawRecord } from './replay-anonymise.ts';
import type { ReplayRecordRoutes } from './replay-routes.ts';
import { isLineOverFileShare } from './replay-store.ts';
import { pathMatcher, splitUrl } from './shadow-match.ts';

export interface ReplayRecorderOptions {
  spec: ReplayRecordRoutes;
  env: string;
  anonymiser: AnonymiseWorker;
  /** Where each kept line goes (the worker's batch for its keeper); false: it was not taken (the batch is full). */
  sink: (line: string) => boolean;
  /** The environment's counts of picked requests by outcome (router-stats.ts), which outlive this recorder. */
  counts: Record<WorkerRecordOutcome, number>;
}

export class ReplayRecorder {
  readonly spec: ReplayRecordRoutes;
  private readonly methods: ReadonlySet<string>;
  private readonly isPathRecorded: (path: string) => boolean;

  constructor(private readonly options: ReplayRecorderOptions) {
    this.spec = options.spec;
    this.methods = new Set(options.spec.methods);
    this.isPathRecorded = pathMatcher(options.spec.paths);
  }

  /** Called for each request routed; `bodyBytes` as declared (0 none, -1 chunked). */
  offer(req: IncomingMessage, bodyBytes: number): void {
    const method = req.method ?? '';
    if (!this.methods.has(method)) return;
    const url = req.url ?? '/';
    if (!this.isPathRecorded(splitUrl(url).path)) return;
    if (Math.random() * 100 >= this.spec.percent) return;
    const raw: RawRecord = { at: Date.now(), method, url, headers: this.keptHeaders(req), contentType: String(req.headers['content-type'] ?? '') };
    if (bodyBytes === 0) return this.write(raw);
    if (!this.spec.bodies || bodyBytes > this.spec.maxBodyBytes) {
      // A request recorded without the body it had would be another request.
      this.options.counts.too_large++;
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size <= this.spec.maxBodyBytes) chunks.push(c);
    };
    req.on('data', onData);
    req.once('end', () => {
      req.off('data', onData);
      if (size > this.spec.maxBodyBytes) this.options.counts.too_large++;
      else this.write({ ...raw, body: Buffer.concat(chunks) });
    });
  }

  private keptHeaders(req: IncomingMessage): Record<string, string> {
    const out: Record<string, string> = {};
    for (const name of this.spec.headers) {
      const v = req.headers[name];
      if (v !== undefined) out[name] = Array.isArray(v) ? v.join(', ') : v;
    }
    return out;
  }

  private write(raw: RawRecord): void {
    this.options.anonymiser.anonymise(this.options.env, this.spec.anonymise, raw, (line, notKept) => {
      if (line === null) {
        this.options.counts[notKept ?? 'not_text']++;
        return;
      }
      // Counted where it ends. A line alone over a sample file's share of max_bytes
      // would be refused by the keeper's store: it is too large, and not sent.
      if (isLineOverFileShare(line, this.spec.maxBytes)) {
        this.options.counts.too_large++;
        return;
      }
      // A line the worker's batch has no room for is not kept; one it takes is counted
      // kept, which the keeper's /stats replaces with what became of the line.
      this.options.counts[this.options.sink(line) ? 'kept' : 'queue_full']++;
    });
  }
}

/** How long a worker gathers recorded lines before it sends them to its keeper in one message. */
const SEND_EVERY_MS = 100;
/** Lines a worker holds per environment between sends; past it the newest are dropped (the keeper keeps far fewer anyway). */
export const MAX_HELD_LINES = 2000;

/**
 * A worker's recorded lines, sent to the keeper in batches: one IPC message per
 * environment per SEND_EVERY_MS instead of one per request, which is what the
 * keeper's CPU goes on (bench/replay-record-bench.ts).
 */
export class RecordBatcher {
  private readonly held = new Map<string, string[]>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly send: (env: string, lines: string[]) => void) {}

  /** False when the environment already has MAX_HELD_LINES waiting: the line is dropped. */
  add(env: string, line: string): boolean {
    const list = this.held.get(env) ?? [];
    if (list.length >= MAX_HELD_LINES) return false;
    list.push(line);
    this.held.set(env, list);
    this.timer ??= setTimeout(() => this.flush(), SEND_EVERY_MS);
    return true;
  }

  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const [env, lines] of this.held) this.send(env, lines);
    this.held.clear();
  }
}
