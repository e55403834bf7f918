// Keeps a router running for the server. The router is its own process so that a
// server crash drops no request; the other way round, when the router dies while the
// server runs, the server starts a new one (which restores routes.json) and pushes
// the current table again. A server started after an upgrade of slipway finds the
// router still running the old code: it has the router replace its workers with new
// ones, with no gap (router-workers.ts).

import { SlipwayError } from '../core/errors.ts';
import type { RouteTable, RouterHeadAnswer } from './route-table.ts';
import { routerCodeDigest, routerProgram } from './router-code.ts';
import { ensureRouter, type DrainResult, type EnsureRouterOptions, type PutRoutesAnswer, type RouterClient, type RouterStatsJson } from './router-client.ts';

const CHECK_EVERY_MS = 1000;
/** How long workers replaced by an upgrade keep their requests and WebSockets: shutdown.drain_timeout's largest sensible value. */
export const ROUTER_UPGRADE_DRAIN_MS = 30_000;

export class RouterSupervisor {
  private timer: NodeJS.Timeout | null = null;
  private restarting: Promise<RouterClient> | null = null;
  /** Set by shutdown(): a call that then finds no router must not start one that nothing would stop. */
  private isShutDown = false;
  private onRestartHandlers: (() => void)[] = [];

  private constructor(
    private client: RouterClient,
    private readonly options: EnsureRouterOptions,
    private readonly log: (msg: string) => void,
  ) {}

  static async start(options: EnsureRouterOptions, log: (msg: string) => void): Promise<RouterSupervisor> {
    const client = await ensureRouter(options);
    await upgradeIfOutdated(client, log, options.workers);
    return new RouterSupervisor(client, options, log);
  }

  get pid(): number {
    return this.client.pid;
  }

  get adminUrl(): string {
    return this.client.adminUrl;
  }

  /** Called after a new router replaced a dead one (the caller pushes its table again). */
  onRestart(fn: () => void): void {
    this.onRestartHandlers.push(fn);
  }

  watch(): void {
    this.timer ??= setInterval(() => void this.check(), CHECK_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async check(): Promise<void> {
    if (this.restarting || (await this.client.isHealthy())) return;
    await this.restart().catch((e: Error) => this.log(`router restart failed: ${e.message}`));
  }

  private restart(): Promise<RouterClient> {
    if (this.isShutDown) return Promise.reject(new SlipwayError('E_ROUTER_UNAVAILABLE', 'the router was shut down with the server; it is not started again'));
    this.restarting ??= (async () => {
      const before = this.client.pid;
      const next = await ensureRouter(this.options);
      if (this.isShutDown) {
        // shutdown() came while this router was starting: it must not outlive the server.
        await next.shutdown();
        throw new SlipwayError('E_ROUTER_UNAVAILABLE', 'the router was shut down with the server; it is not started again');
      }
      this.client = next;
      if (next.pid !== before) {
        this.log(`router (pid ${before}) did not answer; now using router pid ${next.pid}`);
        for (const fn of this.onRestartHandlers) fn();
      }
      return next;
    })().finally(() => {
      this.restarting = null;
    });
    return this.restarting;
  }

  /** Runs a call on the current router; if it cannot be reached, on a restarted one. */
  private async withRouter<T>(call: (c: RouterClient) => Promise<T>): Promise<T> {
    try {
      return await call(this.client);
    } catch (e) {
      if (!(e instanceof SlipwayError) || e.code !== 'E_ROUTER_UNAVAILABLE') throw e;
      return call(await this.restart());
    }
  }

  putRoutes(table: RouteTable): Promise<PutRoutesAnswer> {
    return this.withRouter((c) => c.putRoutes(table));
  }

  waitDrained(backendId: string, timeoutMs: number): Promise<DrainResult> {
    return this.withRouter((c) => c.waitDrained(backendId, timeoutMs));
  }

  getStats(): Promise<RouterStatsJson> {
    return this.withRouter((c) => c.getStats());
  }

  getRoutes(): Promise<RouteTable> {
    return this.withRouter((c) => c.getRoutes());
  }

  getRouteHead(): Promise<RouterHeadAnswer> {
    return this.withRouter((c) => c.getRouteHead());
  }

  async shutdown(): Promise<void> {
    this.isShutDown = true;
    this.stop();
    // A restart under way stops what it started once it sees isShutDown; wait for that.
    await this.restarting?.catch(() => undefined);
    await this.client.shutdown();
  }
}

/**
 * A router whose workers run other code than is on disk now, or another number of
 * workers than `workers` asks (a router adopted from a server started with another
 * --router-workers), gets new workers, with no gap; a failed upgrade leaves the old
 * ones serving.
 */
async function upgradeIfOutdated(client: RouterClient, log: (msg: string) => void, workers: number | undefined): Promise<void> {
  try {
    const status = await client.getStatus();
    const program = routerProgram();
    const codeChanged = status.code !== undefined && status.code !== routerCodeDigest(program.entry);
    // A router from before the count could change does not say it; only new code changes it then.
    const countChanged = workers !== undefined && status.workers !== undefined && status.workers !== workers;
    if (!codeChanged && !countChanged) return;
    const answer = await client.upgradeWorkers(ROUTER_UPGRADE_DRAIN_MS, program, countChanged ? workers : undefined);
    const why = [codeChanged ? `code changed (${status.code} → ${answer.code})` : '', countChanged ? `workers ${status.workers} → ${workers}` : ''].filter(Boolean).join(', ');
    log(`router ${why}: workers ${answer.serving.join(', ')} took the listeners over; ${answer.retiring.join(', ')} finish what they serve`);
  } catch (e) {
    log(`router upgrade failed, the running router keeps serving: ${(e as Error).message}`);
  }
}
