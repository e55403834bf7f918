// The validated, normalised shape of slipway.yaml that the rest of slipway trusts.
// config/ parses YAML into this (durations in ms, defaults filled in); nothing
// downstream re-validates it.

import type { AnalysisSpec } from './analysis/analysis-spec.ts';
import type { CountOrPercent } from './duration.ts';
import type { RecordSpec, ReplaySpec } from './shadow/replay-spec.ts';
import type { ShadowSpec } from './shadow/shadow-spec.ts';

/** A check answered by a Prometheus query: the query's value must stay within bounds. */
export interface PrometheusCheck {
  name: string;
  query: string;
  /** Base URL of the Prometheus server's HTTP API. */
  url: string;
  max?: number;
  min?: number;
}

/** An analysis as configured: the statistical spec plus when to give up and what else to ask. */
export interface AnalysisConfig {
  spec: AnalysisSpec;
  /** An analysis step still inconclusive after this applies `spec.inconclusive`; null: never. */
  deadlineMs: number | null;
  prometheus: PrometheusCheck[];
}

export interface HealthSpec {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  /** How long a new instance may take to become healthy before the deploy fails. */
  startDeadlineMs: number;
  /**
   * Time between probes of a serving instance whose last probe passed
   * (`health.steady_interval`); absent: steadyProbeIntervalMs() gives the default.
   */
  steadyIntervalMs?: number;
}

/** A serving instance that passed its last probe is probed this often when `steady_interval` is not set. */
export const DEFAULT_STEADY_PROBE_INTERVAL_MS = 10_000;

/**
 * How long after a passed probe a serving instance is probed again: never more often
 * than `interval`. A failed probe brings the next at `interval`, so a sick instance
 * is still retired after `unhealthy_threshold` probes `interval` apart.
 */
export function steadyProbeIntervalMs(h: Pick<HealthSpec, 'intervalMs' | 'steadyIntervalMs'>): number {
  return Math.max(h.intervalMs, h.steadyIntervalMs ?? DEFAULT_STEADY_PROBE_INTERVAL_MS);
}

export interface ShutdownSpec {
  /** How long to wait for in-flight requests after an instance leaves the router. */
  drainTimeoutMs: number;
  /** How long after SIGTERM before SIGKILL. */
  killTimeoutMs: number;
}

export interface RollingStrategy {
  type: 'rolling';
  /** New instances started per batch. */
  batch: CountOrPercent;
  /** How many of `instances` may be not-ready at once during the rollout. */
  maxUnavailable: CountOrPercent;
}

/** One step of a canary as written in slipway.yaml. */
export type CanaryStepSpec =
  | { weight: number }
  /** null: wait for a person (`slipway promote`). */
  | { pause: { durationMs: number | null } }
  /** An analysis gate: the rollout goes on only when it passes. */
  | { analysis: AnalysisConfig }
  /** Live requests copied to the new release, answers compared with stable's; fails on too many real differences. */
  | { shadow: ShadowSpec };

export interface StickySpec {
  /** Requests with the same value of this header stay on one side. */
  header?: string;
  /** ...or of this cookie. */
  cookie?: string;
}

export interface CanaryStrategy {
  type: 'canary';
  steps: CanaryStepSpec[];
  /** Fixed canary size; by default it follows the weight (ceil(instances × weight%)). */
  canaryInstances: number | null;
  sticky: StickySpec | null;
}

export interface BlueGreenStrategy {
  type: 'blue-green';
  /** Where the new colour can be tried before the switch. */
  previewListen: ListenAddress | null;
  /** false: wait for `slipway promote` before switching. */
  autoPromote: boolean;
  /** How long the old colour stays warm after the switch, so rollback is one switch back. */
  scaleDownDelayMs: number;
  /** Live requests copied to the new colour and compared before the switch; absent: none. */
  shadow?: ShadowSpec;
}

export type Strategy = RollingStrategy | CanaryStrategy | BlueGreenStrategy;

export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * What runs an environment's instances. `process`: local processes (the default);
 * `docker`: one container per instance on a Docker engine; `kubernetes`: a
 * Deployment per release on a cluster (docs/kubernetes.md).
 */
export const RUNTIME_NAMES = ['process', 'docker', 'kubernetes'] as const;
export type RuntimeName = (typeof RUNTIME_NAMES)[number];

/** Limits of each instance; enforced by container runtimes (the process runtime does not limit). */
export interface ResourceLimits {
  /** Hard memory limit; the instance is killed beyond it. null: none. */
  memoryBytes: number | null;
  /** Share of CPU cores (0.5 = half a core). null: none. */
  cpus: number | null;
}

/**
 * The container image of a service, for container runtimes: built from a Dockerfile
 * inside the artefact, or an image reference given as is. Exactly one is set.
 */
export type ImageSpec = { dockerfile: string; ref: null } | { dockerfile: null; ref: string };

export interface EnvironmentSpec {
  name: string;
  /** What runs its instances. */
  runtime: RuntimeName;
  /** null: no limits written. */
  resources: ResourceLimits | null;
  instances: number;
  listen: ListenAddress;
  strategy: Strategy;
  /** Plain environment variables given to every instance. */
  config: Record<string, string>;
  /**
   * Secrets read from an external provider, by the variable name the instance sees.
   * Secrets kept in slipway's own store are set with `slipway secret set`, not here.
   */
  secrets: Record<string, ExternalSecretSpec>;
  /** Watched throughout every rollout (and the watch window after it); a fail rolls back. */
  analysis: AnalysisConfig;
  /** How long after a rollout succeeds a regression still rolls the environment back. */
  watchMs: number;
  /**
   * During the watch, a 5xx share above this fails the release whatever its baseline
   * did (1 = off). Absent in releases made before the floor existed: the default applies.
   */
  watchMaxErrorRate?: number;
  /** Webhooks told of this environment's events (absent in releases made before webhooks existed). */
  notifications?: WebhookSpec[];
  /** How the environment maps onto a cluster; needed for runtime kubernetes and `slipway render`. */
  kubernetes?: KubernetesSettings;
  /** How slipway's router treats this environment's traffic (absent in releases made before `proxy:` existed: the router's defaults apply). */
  proxy?: ProxySettings;
  /**
   * Host names the router sends to this environment on its listener: exact names and
   * `*.example.com` wildcards, lower case. Absent: every host, and the listener is
   * this environment's alone; present: environments that all name hosts may share it.
   */
  hosts?: string[];
  /** Only requests under this path reach the environment (among those of its hosts). Absent: every path. */
  pathPrefix?: PathPrefix;
  /** HTTPS on `listen` (slipway.yaml `tls:`). Absent: plain HTTP. */
  tls?: TlsSettings;
  /** slipway.yaml `record:`: a sample of the requests kept by the router for the pipeline's replay stage. Absent: none. */
  record?: RecordSpec;
  /**
   * slipway.yaml `keep_releases:`: how many of the environment's newest releases keep
   * their tree, artefact and image besides those in use (engine/release-retention.ts).
   * Absent (and in releases made before it existed): 10. Only present when written,
   * so a config that does not name it keeps the hash it had.
   */
  keepReleases?: number;
}

/** slipway.yaml `tls:` of an environment: where its certificates come from, and its plain-HTTP side. */
export interface TlsSettings {
  /** A plain-HTTP listener beside `listen`: ACME HTTP-01 answers, then a redirect or the environment itself. */
  httpListen?: ListenAddress;
  /** Plain HTTP on httpListen gets 308 to https (ACME challenges excepted). */
  redirectHttp: boolean;
  source: TlsCertificateFiles | AcmeSettings;
}

export interface TlsCertificateFiles {
  kind: 'files';
  /** The first is the default (clients without SNI, or with a name none covers). */
  certificates: { certFile: string; key: ExternalSecretSpec }[];
}

export type AcmeChallenge = 'http-01' | 'tls-alpn-01';

export interface AcmeSettings {
  kind: 'acme';
  directoryUrl: string;
  email: string;
  /** How the CA checks the names: HTTP-01 on http_listen (port 80), or TLS-ALPN-01 on listen itself (port 443). */
  challenge: AcmeChallenge;
  /** A certificate is renewed this long before it expires. */
  renewBeforeMs: number;
  /** PEM of a CA to trust for the directory's own HTTPS (a private CA, a test server); absent: the system's. */
  caFile?: string;
}

/** slipway.yaml `path_prefix:` and `strip_prefix:` of an environment. */
export interface PathPrefix {
  /** Starts with `/`, no trailing `/` (except `/` itself), no query; matched whole segments at a time (`/api` takes `/api/x`, not `/apix`). */
  path: string;
  /** The instance sees the path with the prefix taken off (`/api/x` → `/x`, `/api` → `/`), and the prefix in X-Forwarded-Prefix. */
  strip: boolean;
}

/** slipway.yaml `proxy:` of an environment: the router's limits and whom it believes about the client. */
export interface ProxySettings {
  /** From the request sent to the backend until its response headers; past it the client gets a 504. */
  responseTimeoutMs: number;
  /** Longest silence on a response body, a request body or an upgraded connection before the router cuts it. */
  idleTimeoutMs: number;
  /** Largest request body the router passes on; a larger one is answered 413. */
  maxBodyBytes: number;
  /** Addresses and CIDRs of proxies in front whose X-Forwarded-* and Forwarded headers (and PROXY protocol headers) are kept. */
  trustForwarded: string[];
  /**
   * The PROXY protocol versions the environment's listener reads from a proxy in
   * trustForwarded (a TCP load balancer in front). Absent: none; the header is refused.
   */
  proxyProtocol?: ProxyProtocolMode;
  /**
   * A response that takes longer than this (arrival to last byte) is a "long request":
   * counted on its own and kept out of the latency analysis reads. Absent: none is.
   */
  longRequestMs?: number;
}

/** Which PROXY protocol headers a listener reads: the text one (v1), the binary one (v2), or either. */
export type ProxyProtocolMode = 'v1' | 'v2' | 'any';

/** One webhook of an environment: which events reach it, and in what form. */
export interface WebhookSpec {
  /** Where to POST, written in slipway.yaml; absent when `urlFrom` is given instead. */
  url?: string;
  /** Where the URL itself is kept, for URLs that are credentials (Slack's, say): read at each delivery, never written anywhere. */
  urlFrom?: ExternalSecretSpec;
  /** Event types (or `rollout.*`-style prefixes); every event when empty. */
  events: string[];
  /** json: the event as JSON; slack: `{"text": ...}`, which Slack, Mattermost and others accept. */
  format: 'json' | 'slack';
  /** Per attempt. */
  timeoutMs: number;
  /** Attempts in all, the first included; retried with exponential backoff. */
  attempts: number;
}

/** Size-based rotation of each instance's log. */
export interface LogSpec {
  maxFileBytes: number;
  /** Rotated files kept besides the current one. */
  maxFiles: number;
}

/** Who splits traffic between releases on a cluster. */
export type KubernetesTraffic = 'router' | 'gateway';

export interface GatewayRef {
  name: string;
  /** null: the environment's own namespace. */
  namespace: string | null;
  /** A listener of the Gateway; null: all of them. */
  sectionName: string | null;
}

export interface KubernetesSettings {
  /** kubeconfig context; null: the current one (or the in-cluster account). */
  context: string | null;
  namespace: string;
  /** Container image per release: `{release}` and `{artefact}` are replaced by its number and short digest. */
  image: string;
  /** The port the container listens on (given in run.port_env). */
  containerPort: number;
  /** router: slipway's router splits traffic (in the cluster); gateway: an HTTPRoute's weighted backendRefs do. */
  traffic: KubernetesTraffic;
  /** The Gateway the HTTPRoute attaches to; set when traffic is gateway. */
  gateway: GatewayRef | null;
  /** Host names the HTTPRoute answers for; empty: those of the Gateway's listener. */
  hostnames: string[];
  /** Old releases kept (scaled to zero) beyond the live ones, so a rollback needs no re-apply of a Secret. */
  historyLimit: number;
}

/**
 * The env secret provider reads the slipway server's own environment, which also
 * holds SLIPWAY_MASTER_KEY and VAULT_TOKEN: only variables named for the purpose
 * may be read, so that a slipway.yaml cannot hand those to an instance.
 */
export const SECRET_ENV_PREFIX = 'SLIPWAY_SECRET_';

/** Where an external secret's value lives; only references, never values, are written in slipway.yaml. */
export type ExternalSecretSpec =
  /** A key of a HashiCorp Vault KV version 2 secret (the server reaches Vault through VAULT_ADDR and VAULT_TOKEN). */
  | { provider: 'vault'; mount: string; path: string; key: string }
  /** The contents of a file on the server's machine (an absolute path). */
  | { provider: 'file'; path: string }
  /** A variable of the slipway server's own environment; only SLIPWAY_SECRET_* names may be read. */
  | { provider: 'env'; name: string };

export interface RunSpec {
  /** argv, split from the YAML string without a shell (quotes respected). */
  argv: string[];
  /** The original command text, for display. */
  command: string;
  portEnv: string;
  /**
   * Who the process runtime runs the instances as: a user name or a numeric uid
   * (digits). Absent: a uid of the environment's own, given by the server (INSTANCE_IDS).
   */
  user?: string;
  /**
   * run.memory: the most an instance of the process runtime may use (its process
   * group's resident memory, in bytes) before it is killed. Absent: no limit.
   */
  memoryBytes?: number;
}

/**
 * Ids the process runtime gives instances when the server runs as root and
 * `run.user` is not set, from the range systemd keeps for DynamicUser (no passwd
 * entry needed). `group` is the group every instance runs with: the data directory
 * lets that group pass through (0710) and nobody else. Each environment gets a uid
 * of its own from firstUser..lastUser, so environments cannot read each other's
 * files or /proc/<pid>/environ.
 */
export const INSTANCE_IDS = { group: 61184, firstUser: 61185, lastUser: 65519 } as const;

export interface ServiceConfig {
  service: string;
  run: RunSpec;
  /** The container image, used by environments whose runtime is a container runtime. */
  image: ImageSpec;
  health: HealthSpec;
  shutdown: ShutdownSpec;
  environments: Record<string, EnvironmentSpec>;
  /** Absent in releases made before log rotation was configurable: the defaults apply. */
  logs?: LogSpec;
  /** Absent when slipway.yaml describes no pipeline. */
  pipeline?: PipelineSpec;
}

export function formatListen(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** A freeze window: production deploys wait (or are refused) while one is open. */
export type FreezeWindow =
  /** Opens at every time the cron expression (5 fields, UTC unless `timezone`) names, for `durationMs`. */
  | { cron: string; durationMs: number; timezone: string; action: FreezeAction; reason: string | null }
  /** Open from `fromMs` (inclusive) to `untilMs` (exclusive). */
  | { fromMs: number; untilMs: number; action: FreezeAction; reason: string | null };

/** wait: a pipeline run waits for the window to close; refuse: it fails. A direct deploy is always refused. */
export type FreezeAction = 'wait' | 'refuse';

export interface ApprovalPolicy {
  /** Distinct approvals needed; 0: none. */
  count: number;
  /** Roles an approver must hold (any of them); empty: any user allowed to approve. */
  roles: string[];
  /** Four eyes: whoever started the run may not approve it. */
  distinctFromStarter: boolean;
}

/** What the release pipeline does around one environment. Commands are run by `sh -c`, as written. */
export interface EnvironmentGates {
  provision: string | null;
  acceptance: string | null;
  approval: ApprovalPolicy;
  freeze: FreezeWindow[];
  backup: string | null;
  restore: string | null;
}

/** The release pipeline of slipway.yaml: present when the file has build:, test:, pipeline: or any gate. */
export interface PipelineSpec {
  /** sh -c command run in the clean checkout before the tests; null: nothing to build. */
  build: string | null;
  test: string | null;
  stagingEnv: string;
  productionEnv: string;
  /** The branch a releasable commit must be on. */
  mainBranch: string;
  /** How long staging must stay healthy after its deploy and acceptance. */
  healthWindowMs: number;
  /** Roll staging back to its previous release and forward again before asking for approval. */
  rollbackDrill: boolean;
  /** Artefacts kept per service (besides those a release still needs). */
  keepArtefacts: number;
  /** A file of the checkout holding the release notes; null: the commit messages since the last production release. */
  releaseNotesFile: string | null;
  /** Each command's time limit. */
  commandTimeoutMs: number;
  /** Production's recorded requests (its `record:`) replayed against staging after acceptance; absent: no replay stage. */
  replay?: ReplaySpec;
  environments: Record<string, EnvironmentGates>;
}
