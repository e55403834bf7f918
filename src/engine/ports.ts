// What the engine needs from the layers below, as roles. server.ts wires the
// concrete router client, runtimes, cluster fleet, clock and host identity in;
// in-process tests wire a manual clock and a fleet of their own
// (test/support/engine-harness.ts). The engine never imports runtime/: the
// contracts it shares with the runtimes are in core/ports/.

import { mkdirSync, rmSync } from 'node:fs';
import { SlipwayError } from '../core/errors.ts';
import { touchTreeAs } from '../platform/touch-tree.ts';
import type { RouteTable } from '../router/route-table.ts';
import type { RouterStatsJson } from '../router/router-client.ts';

export interface TrafficRouter {
  /** Installs a route table; resolves once the router has persisted and applied it. */
  putRoutes(table: RouteTable): Promise<{ version: number; listeners: Record<string, { listening: boolean; error?: string }> }>;
  /** Waits until no request is in flight to a backend that has left the table. */
  waitDrained(backendId: string, timeoutMs: number): Promise<{ drained: boolean; inflight: number }>;
  /** Cumulative counters per environment and release since the router started. */
  getStats(): Promise<RouterStatsJson>;
  /** The table the router runs now (its version seeds the server's counter). */
  getRoutes(): Promise<RouteTable>;
}

export { systemClock, type Clock, type Timer } from '../core/clock.ts';
export type { Fleet, FleetBackend, ScaleOutcome } from '../core/ports/fleet.ts';
export type { ClusterFleetHooks, MakeClusterFleet } from '../core/ports/cluster-fleet.ts';

/** An unprivileged user of the host that the deployer's code runs as, with a HOME (TMPDIR inside) of its own. */
export interface HostUser {
  uid: number;
  gid: number;
  home: string;
  tmp: string;
}

/**
 * Who runs the deployer's code on this host, and how what is theirs is handled
 * (runtime/process/run-identity.ts: server.ts wires it). On a root server each
 * service's release-run commands get a uid of their own, and trees are given to the
 * users that run them: root never walks a tree another user can change.
 */
export interface HostIdentity {
  /**
   * The service's pipeline user, its directory (releases/.pipeline.<service>) and
   * HOME readied; null: the server is not root, commands run as the server's own user.
   */
  pipelineUser(o: { releasesDir: string; service: string }): HostUser | null;
  /**
   * Gives the service's pipeline user up: what runs as it is stopped, `trees` of its
   * (its runs' checkouts), its directory and HOME are removed (each emptied by that
   * user) and its uid is free for another. false: the service has no pipeline user
   * here (the server is not root, or no run made one), and nothing is removed. Throws
   * when something could not be removed (the uid stays the service's then).
   */
  releasePipelineUser(o: { releasesDir: string; service: string; trees: readonly string[] }): boolean;
  /** A directory of `uid`'s (root's, for a directory users only pass through); a symlink in its place is refused. */
  ownDirectory(dir: string, o: { uid: number; gid: number; mode: number }): void;
  /** Removes a tree that may hold trees given to users: each such tree is emptied by its owner, never walked by root. */
  removeTree(path: string): void;
  /** Live processes of `uid` carrying `name=value` in their environment (how a command's leftovers are found). */
  markedProcesses(name: string, value: string, uid: number): { pid: number }[];
  /**
   * Sets the time of every file and directory of a release tree to `at`, by the
   * tree's owner (never root walking a tree a user can change). Throws when that fails.
   */
  touchTree(dir: string, at: Date): void;
}

/**
 * A host where nothing is given to another user: the server's own user runs
 * everything and owns every tree (the engine's default, for in-process tests whose
 * fleets run nothing). A root server runs the deployer's code, so it must be given
 * the process runtime's (server.ts does): this one refuses to name a pipeline user
 * there rather than run release commands as root.
 */
export const serverUserIdentity: HostIdentity = {
  pipelineUser() {
    if (process.getuid?.() === 0) throw new SlipwayError('E_INTERNAL', 'this engine runs as root but was given no host identity to run release commands as an unprivileged user (server.ts wires runtime/process\'s)');
    return null;
  },
  releasePipelineUser() {
    return false;
  },
  ownDirectory(dir) {
    mkdirSync(dir, { recursive: true });
  },
  removeTree(path) {
    rmSync(path, { recursive: true, force: true });
  },
  markedProcesses() {
    return [];
  },
  touchTree(dir, at) {
    touchTreeAs(dir, at, null);
  },
};

export interface EngineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
