// The router's worker processes, seen from their keeper (router-main.ts). The keeper
// forks `count` workers with node's cluster module in its "none" scheduling mode:
// the keeper binds each listening socket once and hands the same socket to every
// worker, and the workers accept on it themselves (the kernel wakes one per
// connection; the keeper never touches traffic). So when one worker dies, even by
// kill -9, only the requests in flight on it are lost: the others keep accepting on
// the same sockets while the keeper forks a replacement, which gets the current
// table before it listens.
//
// The keeper holds the table (it persists it, checks its version, and gives it to
// every new worker) and answers the admin API by asking the workers over IPC: a
// table goes to all of them, counters and in-flight counts are their sums.
//
// An upgrade of the router's code replaces the workers with no gap: new workers
// (forked from the code now on disk) get the table and accept on the same sockets;
// only then do the old ones stop accepting, finish their requests in flight and keep
// their upgraded connections (WebSockets) up to the drain timeout, then exit.

import cluster, { type Worker } from 'node:cluster';
import type { ListenerStatus } from './address-listener.ts';
import type { RouterControl } from './admin-server.ts';
import { SlipwayError } from '../core/errors.ts';
import { EMPTY_ROUTE_TABLE, parseRouteTable, routeTableDigest, type RouteTable, type RouteTableHead } from './route-table.ts';
import type { PutTableResult } from './router.ts';
import { withKeeperOutcomes, type RouterStatsJson } from './router-stats.ts';
import type { KeeperOutcome } from './shadow/replay-store.ts';
import { routerCodeDigest, type RouterProgram } from './router-code.ts';
import type { WorkerMessage, WorkerRequest } from './router-worker.ts';
import { mergeRouterStats, retiredPart } from './stats-merge.ts';

type Request = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;

interface WorkerLog {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
  /** cluster id of the worker asked. */
  worker: number;
}

/** A replacement is forked at most this often, so a worker that dies at start cannot spin the CPU. */
const RESTART_MIN_GAP_MS = 1_000;
const CALL_TIMEOUT_MS = 15_000;

export class RouterWorkers implements RouterControl {
  private current: RouteTable = EMPTY_ROUTE_TABLE;
  private digest = routeTableDigest(EMPTY_ROUTE_TABLE);
  /** Workers that said they are ready, in fork order. */
  private readonly ready: Worker[] = [];
  /** Every worker forked and not yet exited (ready, starting or retiring). */
  private readonly live = new Set<Worker>();
  /** What new workers run: the keeper's own program until an upgrade names another. */
  private program: RouterProgram = { execArgv: process.execArgv, entry: process.argv[1]! };
  private readonly pending = new Map<number, Pending>();
  private readonly lastStats = new Map<number, RouterStatsJson>();
  private retired: RouterStatsJson[] = [];
  private nextId = 1;
  private isStopping = false;
  private lastForkAt = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readyWaiters: (() => void)[] = [];
  /** Workers replaced by an upgrade, finishing what they serve; they accept nothing new. */
  private readonly retiring = new Set<Worker>();
  /** Worker id → called once its first table is applied (or it failed to). */
  private readonly onServing = new Map<number, (error?: Error) => void>();
  /** routerCodeDigest() of the code the serving workers were forked from. */
  code = '';
  /** How many workers serve: --workers at start, or what the last upgrade asked for. */
  workerCount: number;
  /** "env\0untilMs" of a pause → slots of its queue limit held, per worker id (traffic-hold.ts). */
  private readonly slots = new Map<string, Map<number, number>>();

  constructor(private readonly o: {
    count: number; log: WorkerLog; startedAt: string;
    onRecord?: (env: string, line: string) => void;
    /** What became of the recorded lines the workers sent (shadow/replay-store.ts): in /stats, in place of the workers' kept. */
    keeperRecorded?: () => Record<string, Record<KeeperOutcome, number>>;
  }) {
    this.workerCount = o.count;
  }

  /** Forks the workers with `table` (from routes.json) and resolves once one of them applied it. */
  async start(table: RouteTable | undefined): Promise<void> {
    if (table !== undefined) this.setCurrent(table);
    this.code = routerCodeDigest(this.program.entry);
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.on('exit', (w, code, signal) => this.onExit(w, code, signal));
    for (let i = 0; i < this.workerCount; i++) void this.fork(this.program).catch(() => {});
    await this.anyReady(30_000);
  }

  /**
   * Forks a new set of workers running `program` (by default the keeper's current
   * one); once they all serve, the old ones stop accepting and are given `drainMs` to
   * finish their requests and upgraded connections. Resolves when the new workers
   * serve; on failure the new ones are stopped and the old ones go on, and a
   * replacement for a dead worker still runs the old program. `count`: how many new
   * workers (by default as many as now), which is also how a server changes the count.
   */
  upgrade(drainMs: number, program: RouterProgram = this.program, count = this.workerCount): Promise<{ code: string; serving: number[]; retiring: number[] }> {
    const run = this.queue.then(async () => {
      // Every worker of the old program goes, including one still starting (a
      // replacement for a dead one, or one of the first set).
      const old = [...this.live].filter((w) => !this.retiring.has(w));
      const code = routerCodeDigest(program.entry);
      const fresh = await Promise.allSettled(Array.from({ length: count }, () => this.fork(program)));
      const failed = fresh.find((f): f is PromiseRejectedResult => f.status === 'rejected');
      if (failed !== undefined) {
        for (const f of fresh) if (f.status === 'fulfilled') this.retire(f.value, 0);
        throw failed.reason as Error;
      }
      this.program = program;
      this.workerCount = count;
      for (const w of old) this.retire(w, drainMs);
      this.code = code;
      this.o.log.info({ code, entry: program.entry, serving: this.pids, retiring: old.map((w) => w.process.pid), drainMs }, 'router workers upgraded; the old ones finish what they serve');
      return { code, serving: this.pids, retiring: old.map((w) => w.process.pid ?? 0) };
    });
    this.queue = run.catch(() => {});
    return run;
  }

  /** Takes a worker out of the set that gets tables; it closes its listeners and exits within `graceMs`. */
  private retire(w: Worker, graceMs: number): void {
    const i = this.ready.indexOf(w);
    this.retiring.add(w);
    if (i < 0) {
      // Not ready yet: it has no listener and serves nothing, so it simply stops.
      if (!w.isDead()) w.process.kill('SIGKILL');
      return;
    }
    this.ready.splice(i, 1);
    void this.ask(w, { op: 'close', graceMs }, graceMs + 5_000).catch(() => {
      if (!w.isDead()) w.process.kill('SIGKILL');
    });
  }

  get pids(): number[] {
    return this.ready.map((w) => w.process.pid ?? 0);
  }

  table(): RouteTable {
    return this.current;
  }

  head(): RouteTableHead {
    return { version: this.current.version, digest: this.digest };
  }

  /**
   * A pushed table, checked by a serving worker's schema rather than the keeper's:
   * an upgrade replaces the workers but not the keeper, so a server of the new code
   * may push keys only the new workers know. With no worker that can answer (none
   * ready, or one from before `check`), the keeper's own schema decides.
   */
  async checkTable(raw: unknown): Promise<RouteTable> {
    for (const w of this.ready) {
      let answer: { table?: RouteTable; invalid?: string; details?: Record<string, unknown> };
      try {
        answer = (await this.ask(w, { op: 'check', table: raw })) as typeof answer;
      } catch {
        continue;
      }
      if (answer.table !== undefined) return answer.table;
      throw new SlipwayError('E_BAD_REQUEST', answer.invalid ?? 'invalid route table', answer.details ?? {});
    }
    return parseRouteTable(raw);
  }

  putTable(table: RouteTable, persist: (t: RouteTable) => Promise<void>): Promise<PutTableResult> {
    const run = this.queue.then(async (): Promise<PutTableResult> => {
      if (table.version < this.current.version) return { ok: false, reason: 'stale-version', currentVersion: this.current.version };
      await persist(table);
      this.setCurrent(table);
      await this.anyReady(10_000);
      const answers = await this.askAll({ op: 'put', table });
      const applied = answers.find((a): a is PutTableResult => (a as PutTableResult).ok === true);
      return applied ?? { ok: true, version: table.version, listeners: {} };
    });
    this.queue = run.catch(() => {});
    return run;
  }

  async stats(): Promise<RouterStatsJson> {
    const workers = [...this.ready, ...this.retiring];
    const answers = await Promise.allSettled(workers.map((w) => this.ask(w, { op: 'stats' }) as Promise<RouterStatsJson>));
    answers.forEach((a, i) => {
      if (a.status === 'fulfilled') this.lastStats.set(workers[i]!.id, a.value);
    });
    const live = workers.map((w) => this.lastStats.get(w.id)).filter((s): s is RouterStatsJson => s !== undefined);
    const merged = mergeRouterStats([...this.retired, ...live], this.o.startedAt);
    const keeper = this.o.keeperRecorded?.();
    return keeper === undefined ? merged : { ...merged, recorded: withKeeperOutcomes(merged.recorded, keeper) };
  }

  async listenerStatus(): Promise<Record<string, ListenerStatus>> {
    for (const w of this.ready) {
      try {
        return ((await this.ask(w, { op: 'status' })) as { listeners: Record<string, ListenerStatus> }).listeners;
      } catch {
        // Try the next worker.
      }
    }
    return {};
  }

  inflight(backend: string): Promise<{ requests: number; upgraded: number }> {
    return this.sumCounts({ op: 'inflight', backend });
  }

  drainWithin(backend: string, timeoutMs: number): Promise<{ requests: number; upgraded: number }> {
    return this.sumCounts({ op: 'drain', backend, timeoutMs });
  }

  /** Every worker stops accepting and finishes what it serves (≤ graceMs), then exits. */
  async close(graceMs: number): Promise<void> {
    this.isStopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    await Promise.allSettled(workers.map((w) => this.ask(w, { op: 'close', graceMs }, graceMs + 5_000)));
    for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
  }

  private setCurrent(table: RouteTable): void {
    this.current = table;
    this.digest = routeTableDigest(table);
  }

  /** Retiring workers count too: a drain waits for what they still serve. */
  private async sumCounts(m: Request): Promise<{ requests: number; upgraded: number }> {
    const answers = (await this.askAll(m, [...this.ready, ...this.retiring])) as { requests: number; upgraded: number }[];
    return answers.reduce((a, b) => ({ requests: a.requests + b.requests, upgraded: a.upgraded + b.upgraded }), { requests: 0, upgraded: 0 });
  }

  /** The answers of the ready workers that answered; one that died meanwhile is left out. */
  private async askAll(m: Request, workers: readonly Worker[] = this.ready): Promise<unknown[]> {
    const answers = await Promise.allSettled(workers.map((w) => this.ask(w, m)));
    return answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
  }

  private ask(w: Worker, m: Request, timeoutMs = CALL_TIMEOUT_MS): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`router worker ${w.process.pid} did not answer ${m.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, worker: w.id });
      try {
        w.send({ ...m, id });
      } catch (e) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(e as Error);
      }
    });
  }

  /** Resolves with the worker once it applied the current table and so accepts connections. */
  private fork(program: RouterProgram): Promise<Worker> {
    this.lastForkAt = Date.now();
    cluster.setupPrimary({ exec: program.entry, execArgv: program.execArgv });
    const w = cluster.fork();
    this.live.add(w);
    w.on('message', (m: WorkerMessage) => this.onMessage(w, m));
    w.on('error', () => {}); // an IPC write to a dying worker; its exit is handled
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.onServing.get(w.id)?.(new Error(`router worker ${w.process.pid} did not serve within 30 s`)), 30_000);
      this.onServing.set(w.id, (error) => {
        clearTimeout(timer);
        this.onServing.delete(w.id);
        if (error === undefined) resolve(w);
        else reject(error);
      });
    });
  }

  private onMessage(w: Worker, m: WorkerMessage): void {
    if (m.type === 'slot' || m.type === 'unslot') return this.onSlot(w, m);
    if (m.type === 'record') {
      for (const line of m.lines) this.o.onRecord?.(m.env, line);
      return;
    }
    if (m.type === 'ready') {
      // The table first, so it listens with the routes of the others; then it counts as ready.
      this.ready.push(w);
      void this.ask(w, { op: 'put', table: this.current }).then(
        () => {
          this.o.log.info({ pid: w.process.pid, version: this.current.version }, 'router worker serving');
          this.onServing.get(w.id)?.();
        },
        (e: Error) => {
          this.o.log.warn({ pid: w.process.pid, err: e.message }, 'router worker did not apply the table');
          this.onServing.get(w.id)?.(e);
        },
      ).finally(() => {
        for (const wake of this.readyWaiters.splice(0)) wake();
      });
      return;
    }
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.ok) p.resolve(m.value);
    else p.reject(new Error(m.error));
  }

  /** A pause's queue limit counts the requests every worker holds. */
  private onSlot(w: Worker, m: Extract<WorkerMessage, { type: 'slot' | 'unslot' }>): void {
    const key = `${m.env}\0${m.untilMs}`;
    const held = this.slots.get(key) ?? new Map<number, number>();
    const total = [...held.values()].reduce((a, b) => a + b, 0);
    if (m.type === 'unslot') {
      const mine = (held.get(w.id) ?? 0) - 1;
      if (mine > 0) held.set(w.id, mine);
      else held.delete(w.id);
      if (held.size === 0) this.slots.delete(key);
      return;
    }
    const isGranted = total < m.queueLimit;
    if (isGranted) {
      held.set(w.id, (held.get(w.id) ?? 0) + 1);
      this.slots.set(key, held);
    }
    try {
      w.send({ op: 'slot-answer', slotId: m.slotId, isGranted });
    } catch {
      // The worker is exiting; its slots go with it.
    }
  }

  private onExit(w: Worker, code: number | null, signal: string | null): void {
    this.live.delete(w);
    for (const [key, held] of this.slots) {
      held.delete(w.id);
      if (held.size === 0) this.slots.delete(key);
    }
    const i = this.ready.indexOf(w);
    if (i >= 0) this.ready.splice(i, 1);
    const wasRetiring = this.retiring.delete(w);
    this.onServing.get(w.id)?.(new Error(`router worker ${w.process.pid} exited before it served (code ${code}, signal ${signal})`));
    for (const [id, p] of this.pending) {
      if (p.worker !== w.id) continue;
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new Error(`router worker ${w.process.pid} exited`));
    }
    const last = this.lastStats.get(w.id);
    this.lastStats.delete(w.id);
    if (last !== undefined) this.retired = [mergeRouterStats([...this.retired, retiredPart(last)], this.o.startedAt)];
    if (this.isStopping || wasRetiring) return;
    this.o.log.warn({ pid: w.process.pid, code, signal, serving: this.pids }, 'router worker exited; the others keep serving, forking a replacement');
    const wait = Math.max(0, this.lastForkAt + RESTART_MIN_GAP_MS - Date.now());
    setTimeout(() => {
      if (!this.isStopping) void this.fork(this.program).catch(() => {});
    }, wait);
  }

  private anyReady(timeoutMs: number): Promise<void> {
    if (this.ready.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.readyWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
