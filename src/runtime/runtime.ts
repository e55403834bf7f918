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
}

/** What identifies a running instance across server restarts. */
export interface InstanceHandle {
  pid: number;
  /** Tells our process from a later one that reuses the pid. */
  procStart: string | null;
}

export interface StopOptions {
  killTimeoutMs: number;
}

export interface Runtime {
  readonly name: string;
  start(spec: StartSpec): Promise<InstanceHandle>;
  isRunning(handle: InstanceHandle): boolean;
  /** SIGTERM, then SIGKILL after the kill timeout; resolves once the instance is gone. Safe to repeat. */
  stop(handle: InstanceHandle, opts: StopOptions): Promise<{ killed: boolean }>;
}
