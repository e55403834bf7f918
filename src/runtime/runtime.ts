// The runtime layer: one interface for running instances, whatever runs them
// (local processes now; Docker and Kubernetes later). A driver never imports another.
// Drivers start and stop; deciding when is the engine's job.

export interface StartSpec {
  instanceId: string;
  /** Directory holding the unpacked release: the instance's working directory. */
  releaseDir: string;
  argv: string[];
  /** The complete environment of the instance: nothing is inherited implicitly. */
  env: Record<string, string>;
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
}

/** What identifies a running instance across server restarts. */
export interface InstanceHandle {
  pid: number;
  /** Tells our process from a later one that reuses the pid. */
  procStart: string | null;
}

/** What an instance has used, as the OS counts it. */
export interface ResourceUsage {
  /** CPU time used since the instance started (user + system), in seconds. */
  cpuSeconds: number;
  rssBytes: number;
}

export interface StopOptions {
  killTimeoutMs: number;
}

export interface Runtime {
  readonly name: string;
  start(spec: StartSpec): Promise<InstanceHandle>;
  isRunning(handle: InstanceHandle): boolean;
  /**
   * Finds a running instance by its id when its handle was never recorded (the
   * server died between starting it and saving its pid). null when none runs.
   */
  findById(instanceId: string): InstanceHandle | null;
  /** CPU and memory of a running instance; null when it is gone or the OS will not say. */
  usage(handle: InstanceHandle): ResourceUsage | null;
  /**
   * Resolves once everything an exited instance wrote is in its log (or after
   * timeoutMs): read the log's last lines only after this.
   */
  flushOutput(instanceId: string, timeoutMs: number): Promise<void>;
  /** SIGTERM, then SIGKILL after the kill timeout; resolves once the instance is gone. Safe to repeat. */
  stop(handle: InstanceHandle, opts: StopOptions): Promise<{ killed: boolean }>;
}
