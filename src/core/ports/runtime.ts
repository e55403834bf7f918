// The runtime layer's driver interface: one for running instances on this machine,
// whatever runs them (local processes, Docker containers: runtime/process/,
// runtime/docker/). A driver never imports another. The engine drives every runtime
// through the fleet port (fleet.ts): the engine's instance fleet over these drivers,
// and runtime/kubernetes/cluster-fleet.ts on a cluster, whose pods belong to
// Deployments. Drivers start and stop; deciding when is the engine's job. Every
// question about a running instance is async: a container runtime asks its engine.
// The interface lives in core so that both the engine and runtime/ may import it.

import type { ImageSpec, ResourceLimits, RuntimeName } from '../service-config.ts';

export interface StartSpec {
  instanceId: string;
  /** Directory holding the unpacked release: the instance's working directory. */
  releaseDir: string;
  /**
   * The environment's own directory, releaseDir's parent (releases/<env>). Given,
   * the process runtime runs the instance as the environment's user and keeps its
   * HOME there (run-identity.ts); absent, as the server's user with the env as given.
   */
  envDir?: string;
  argv: string[];
  /**
   * The environment's data directory, kept across releases and rollbacks
   * (store/app-data-dir.ts), whose path is in env.SLIPWAY_APP_DATA: the runtime
   * makes it, writable by the instance (a container gets it mounted at that path).
   */
  appDataDir?: string;
  /**
   * The complete environment of the instance: nothing is inherited implicitly. The
   * process runtime adds HOME and TMPDIR (directories the instance owns) when absent.
   */
  env: Record<string, string>;
  /** run.user: who the process runtime runs the instance as (name or uid); absent: its default. */
  user?: string;
  port: number;
  logPath: string;
  /**
   * Secret values the instance was given: wherever its output is kept, each is
   * replaced by *** before it is written.
   */
  redact: string[];
  /** Tags of each log record (the instance id is always one). */
  logTags?: { env: string; release: number };
  /** Size-based rotation of the log: rotate at maxFileBytes, keep maxFiles old files. */
  logLimits?: { maxFileBytes: number; maxFiles: number };
  /** Whose instance it is: container runtimes label what they start with it. */
  owner: { service: string; env: string; release: number };
  /** The image id a container runs (recorded with the release); null for the process runtime. */
  image: string | null;
  /**
   * Limits to enforce; null: none. The process runtime enforces memoryBytes only
   * (run.memory), by watching its process group's resident memory.
   */
  resources: ResourceLimits | null;
}

/** What a container runtime needs to ready the image of a release before it is recorded. */
export interface ImageRequest {
  service: string;
  env: string;
  image: ImageSpec;
  /** The artefact (.tar.gz of the service directory): the build context of a Dockerfile. */
  artefactPath: string;
  artefactDigest: string;
}

/** What identifies a running instance across server restarts. */
export interface InstanceHandle {
  /** The instance's process on this machine (for a container, its main process as the host sees it). */
  pid: number;
  /** Tells our process from a later one that reuses the pid. */
  procStart: string | null;
  /** The runtime's own id of the instance (a container id); null for a local process. */
  ref: string | null;
}

/** What an instance has used, as the OS counts it. */
export interface ResourceUsage {
  /** CPU time used since the instance started (user + system), in seconds. */
  cpuSeconds: number;
  rssBytes: number;
}

export interface StopOptions {
  killTimeoutMs: number;
  /** The instance's id: what else of its session still runs is found by it (SLIPWAY_INSTANCE). */
  instanceId?: string;
}

export interface Runtime {
  readonly name: RuntimeName;
  /**
   * Refuses settings this driver cannot honour on this server (run.user), before a
   * release is recorded: E_POLICY_DENIED or E_BAD_REQUEST with the key.
   */
  assertCanRun?(spec: { user?: string | undefined }): void;
  /** Variables every instance gets before its own config (a local process: the server's PATH and locale). */
  baseEnv?(): Record<string, string>;
  /**
   * The limits this driver enforces, from the environment's `resources:` and
   * `run.memory` (absent: the environment's resources as written).
   */
  limitsOf?(o: { resources: ResourceLimits | null; runMemoryBytes: number | null }): ResourceLimits | null;
  start(spec: StartSpec): Promise<InstanceHandle>;
  isRunning(handle: InstanceHandle): Promise<boolean>;
  /**
   * Finds a running instance by its id when its handle was never recorded (the
   * server died between starting it and saving its pid). null when none runs.
   */
  findById(instanceId: string): Promise<InstanceHandle | null>;
  /** CPU and memory of a running instance; null when it is gone or the OS will not say. */
  usage(handle: InstanceHandle): Promise<ResourceUsage | null>;
  /**
   * Resolves once everything an exited instance wrote is in its log (or after
   * timeoutMs): read the log's last lines only after this.
   */
  flushOutput(instanceId: string, timeoutMs: number): Promise<void>;
  /**
   * SIGTERM, then SIGKILL after the kill timeout; resolves once the instance is gone,
   * with every process it started (also those that left its process group). Safe to repeat.
   */
  stop(handle: InstanceHandle, opts: StopOptions): Promise<{ killed: boolean }>;
  /**
   * After a server restart: takes back what the server itself keeps for a running
   * instance it did not start (a container's log stream). Safe to repeat.
   */
  adopt?(handle: InstanceHandle, instance: { instanceId: string; logPath: string }): Promise<void>;
  /**
   * Removes what this server's runtime holds for instances it has no live record of
   * (containers left by a crash between their start and its record, or a stop that
   * failed); returns their instance ids. Never throws: a runtime that cannot be asked
   * says so to the log and removes nothing.
   */
  removeOrphans?(isLive: (instanceId: string) => boolean): Promise<string[]>;
  /**
   * Readies the image a release's instances will run, before the release is
   * recorded (builds it, or checks the referenced one is there), and keeps it for
   * as long as a rollback may need it. Returns its id. Container runtimes only.
   */
  prepareImage?(req: ImageRequest): Promise<string>;
  /** Whether an image a release recorded is still on the engine (a rollback never pulls). */
  hasImage?(imageId: string): Promise<boolean>;
  /**
   * Retention: removes what this server holds of a release's image (never forced:
   * an image a container uses, or another server keeps, stays). Container runtimes only.
   */
  removeImage?(imageId: string): Promise<{ deleted: boolean; bytes: number; keptBecause: string | null }>;
}
