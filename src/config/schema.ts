// The shape of slipway.yaml as written (snake_case keys), and its translation into
// the ServiceConfig the rest of slipway trusts. Works on plain data: it knows
// nothing of YAML or of line numbers (load-config.ts adds those).

import { z } from 'zod';
import { formatDurationMs } from '../core/duration.ts';
import { INSTANCE_IDS, type ServiceConfig } from '../core/service-config.ts';
import { unknownKeyMessage } from './did-you-mean.ts';
import {
  ENV_VAR_NAME,
  ENVIRONMENT_NAME,
  SERVICE_NAME,
  command,
  configValue,
  countOrPercent,
  durationMs,
  field,
  listenAddress,
  matching,
  positiveCountOrPercent,
  refusal,
  wholeNumber,
} from './fields.ts';
import { checkAcrossEnvironments } from './cross-checks.ts';
import { section } from './section.ts';
import { unknownPortReferences } from './port-references-check.ts';
import { DEFAULT_DOCKERFILE, imageSection, parseMemoryBytes, PROCESS_RESOURCES_REFUSAL, resourcesSection, runtimeName } from './runtime-section.ts';
import { secretReference } from './secrets-section.ts';
import { analysisSection } from './analysis.ts';
import { strategy } from './strategies.ts';
import { watchSection } from './watch-section.ts';
import { proxySection } from './proxy-section.ts';
import { hostRouting, hostRoutingShape } from './hosts-section.ts';
import { checkTlsAgainstEnvironment, tlsSection } from './tls-section.ts';
import type { PathIssue } from './path-issue.ts';
import { logsSection, notificationsSection } from './observe-sections.ts';
import { kubernetesSection } from './kubernetes-section.ts';
import { recordSection } from './replay-section.ts';
import { assemblePipeline, commandSection, environmentGateShape, pipelineSection, type WrittenGates } from './pipeline-section.ts';

/** Defaults as they would be written in slipway.yaml; docs and `slipway init` quote them. */
export const CONFIG_DEFAULTS = {
  run: { port_env: 'PORT' },
  image: { dockerfile: DEFAULT_DOCKERFILE },
  health: {
    path: '/healthz',
    interval: '1s',
    timeout: '2s',
    healthy_threshold: 2,
    unhealthy_threshold: 3,
    start_deadline: '30s',
  },
  shutdown: { drain_timeout: '10s', kill_timeout: '5s' },
  environment: { instances: 1, strategy: { type: 'rolling', batch: 1, max_unavailable: 0 } },
} as const;

interface NamedMapOptions<V> {
  /** What the whole map is, for when it is not a map at all. */
  what: string;
  /** What a key must look like, matched by `keyPattern`. */
  keyExpected: string;
  keyPattern: RegExp;
  value: V;
}

/** A map whose keys the user names (environments, variables), each key checked. */
function namedMap<V extends z.ZodType>({ what, keyExpected, keyPattern, value }: NamedMapOptions<V>) {
  const key = z.string().regex(keyPattern, { error: (iss) => refusal(keyExpected, iss.input) });
  return z.record(key, value, {
    error: (iss) => (iss.code === 'invalid_type' ? refusal(what, iss.input) : undefined),
  });
}

// `health:` with every line under it commented out is null in YAML; that reads as
// "use the defaults", not as a mistake.
function defaultedWhenEmpty<T extends z.ZodType>(schema: T, whenAbsent: z.input<T>) {
  return z.preprocess((v) => (v === null ? undefined : v), schema.prefault(whenAbsent));
}

// Root, and the ids the server hands out to environments, would undo the isolation
// run.user exists to tune: a deployer could name production's uid, or the server's.
const runUser = field<string>(
  `a user name (such as www-data) or a numeric uid, neither root (0) nor one of ${INSTANCE_IDS.firstUser - 1}-${INSTANCE_IDS.lastUser}, which slipway gives environments`,
  (v) => {
    const text = typeof v === 'number' && Number.isInteger(v) ? String(v) : v;
    if (typeof text !== 'string' || !/^(?:\d{1,10}|[a-z_][a-z0-9_.-]{0,31}\$?)$/i.test(text) || text === 'root') return null;
    const uid = /^\d+$/.test(text) ? Number(text) : null;
    if (uid !== null && (uid === 0 || uid > 4294967294 || (uid >= INSTANCE_IDS.group && uid <= INSTANCE_IDS.lastUser))) return null;
    return text;
  },
);

const run = section({
  command,
  port_env: matching('an environment variable name such as PORT', ENV_VAR_NAME).prefault(
    CONFIG_DEFAULTS.run.port_env,
  ),
  user: runUser.optional(),
  memory: field('a memory size of at least 6m with a unit, such as 256m or 1g', parseMemoryBytes).optional(),
}).superRefine((r, ctx) => {
  const unknown = unknownPortReferences(r.command.command, r.port_env);
  if (unknown !== null) ctx.addIssue({ code: 'custom', path: ['command'], message: unknown });
}).transform((r) => ({
  ...r.command,
  portEnv: r.port_env,
  ...(r.user !== undefined ? { user: r.user } : {}),
  ...(r.memory !== undefined ? { memoryBytes: r.memory } : {}),
}));

const health = section({
  path: matching('a URL path starting with / (e.g. /healthz)', /^\/\S*$/).prefault(CONFIG_DEFAULTS.health.path),
  interval: durationMs.prefault(CONFIG_DEFAULTS.health.interval),
  timeout: durationMs.prefault(CONFIG_DEFAULTS.health.timeout),
  healthy_threshold: wholeNumber(1).prefault(CONFIG_DEFAULTS.health.healthy_threshold),
  unhealthy_threshold: wholeNumber(1).prefault(CONFIG_DEFAULTS.health.unhealthy_threshold),
  start_deadline: durationMs.prefault(CONFIG_DEFAULTS.health.start_deadline),
  steady_interval: durationMs.optional(),
})
  .transform((h) => ({
    path: h.path,
    intervalMs: h.interval,
    timeoutMs: h.timeout,
    healthyThreshold: h.healthy_threshold,
    unhealthyThreshold: h.unhealthy_threshold,
    startDeadlineMs: h.start_deadline,
    // Only when written: a config that does not name it keeps the hash it had before the key existed.
    ...(h.steady_interval !== undefined ? { steadyIntervalMs: h.steady_interval } : {}),
  }))
  .superRefine((h, ctx) => {
    // A deadline shorter than this fails every deploy, however healthy the service.
    const neededMs = Math.max(h.healthyThreshold * h.intervalMs, h.timeoutMs);
    if (h.startDeadlineMs < neededMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['start_deadline'],
        message:
          `${formatDurationMs(h.startDeadlineMs)} is too short to see ${h.healthyThreshold} healthy ` +
          `probe(s) ${formatDurationMs(h.intervalMs)} apart with a ${formatDurationMs(h.timeoutMs)} ` +
          `timeout; make it at least ${formatDurationMs(neededMs)}`,
      });
    }
    // Written below interval it could only be raised to interval: say so rather than ignore it.
    if (h.steadyIntervalMs !== undefined && h.steadyIntervalMs < h.intervalMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['steady_interval'],
        message:
          `${formatDurationMs(h.steadyIntervalMs)} is shorter than interval (${formatDurationMs(h.intervalMs)}); ` +
          `a serving instance is never probed more often than interval: make it at least ${formatDurationMs(h.intervalMs)}, or leave it out`,
      });
    }
  });

const shutdown = section({
  drain_timeout: durationMs.prefault(CONFIG_DEFAULTS.shutdown.drain_timeout),
  kill_timeout: durationMs.prefault(CONFIG_DEFAULTS.shutdown.kill_timeout),
}).transform((s) => ({ drainTimeoutMs: s.drain_timeout, killTimeoutMs: s.kill_timeout }));

const environment = section({
  runtime: runtimeName.prefault('process'),
  resources: resourcesSection.optional(),
  instances: wholeNumber(1, 64).prefault(CONFIG_DEFAULTS.environment.instances),
  listen: listenAddress,
  strategy: defaultedWhenEmpty(strategy, { type: 'rolling' }),
  analysis: defaultedWhenEmpty(analysisSection, {}),
  watch: watchSection,
  keep_releases: wholeNumber(1, 1000).optional(),
  notifications: defaultedWhenEmpty(notificationsSection, []),
  config: defaultedWhenEmpty(
    namedMap({
      what: 'a map of environment variable names to values',
      keyExpected: 'an environment variable name (letters, digits and _, not starting with a digit)',
      keyPattern: ENV_VAR_NAME,
      value: configValue,
    }),
    {},
  ),
  secrets: defaultedWhenEmpty(
    namedMap({
      what: 'a map of environment variable names to where each secret is kept',
      keyExpected: 'an environment variable name (letters, digits and _, not starting with a digit)',
      keyPattern: ENV_VAR_NAME,
      value: secretReference,
    }),
    {},
  ),
  kubernetes: kubernetesSection.optional(),
  proxy: defaultedWhenEmpty(proxySection, {}),
  ...hostRoutingShape,
  tls: tlsSection.optional(),
  record: recordSection.optional(),
  // The release pipeline's gates (pipeline-section.ts); they go to ServiceConfig.pipeline.
  ...environmentGateShape,
}).superRefine((e, ctx) => {
  if (e.runtime === 'process' && e.resources) ctx.addIssue({ code: 'custom', path: ['resources'], message: PROCESS_RESOURCES_REFUSAL });
  checkTlsAgainstEnvironment(e, ctx);
  if (e.strip_prefix !== undefined && e.path_prefix === undefined) {
    ctx.addIssue({ code: 'custom', path: ['strip_prefix'], message: 'strip_prefix needs a path_prefix to strip; add path_prefix: (e.g. /api) or remove strip_prefix' });
  }
  // Through a Gateway no request passes slipway's router, which is what reads hosts: and path_prefix:.
  if (e.kubernetes?.traffic === 'gateway') {
    for (const key of ['hosts', 'path_prefix', 'tls'] as const) {
      if (e[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `with kubernetes traffic: gateway slipway's router does not route this environment; give the HTTPRoute's host names in kubernetes.hostnames and remove ${key}, or set traffic: router` });
    }
  }
  if (e.runtime === 'kubernetes' && e.kubernetes === undefined) {
    ctx.addIssue({ code: 'custom', path: ['kubernetes'], message: 'runtime: kubernetes needs a kubernetes: section with at least namespace and image' });
  }
  // An HTTPRoute splits by weight alone: it cannot keep a user on one side by a header's value.
  if (e.kubernetes?.traffic === 'gateway' && e.strategy.type === 'canary' && e.strategy.sticky !== null) {
    ctx.addIssue({ code: 'custom', path: ['strategy', 'sticky'], message: 'sticky canary needs slipway\'s router; with kubernetes traffic: gateway remove sticky, or set traffic: router' });
  }
  // Through a Gateway no request passes slipway's router, so only Prometheus can judge a canary.
  if (e.runtime === 'kubernetes' && e.kubernetes?.traffic === 'gateway' && e.strategy.type === 'canary') {
    e.strategy.steps.forEach((step, i) => {
      if ('analysis' in step && step.analysis.prometheus.length === 0) {
        ctx.addIssue({ code: 'custom', path: ['strategy', 'steps', i, 'analysis'], message: 'with kubernetes traffic: gateway slipway\'s router sees no request; give this analysis step prometheus: checks (docs/kubernetes.md), or set traffic: router' });
      }
    });
  }
  // Shadow copies are made by slipway's router: through a Gateway it sees no request to copy.
  if (e.runtime === 'kubernetes' && e.kubernetes?.traffic === 'gateway') {
    if (e.strategy.type === 'canary') e.strategy.steps.forEach((step, i) => {
      if ('shadow' in step) ctx.addIssue({ code: 'custom', path: ['strategy', 'steps', i, 'shadow'], message: 'with kubernetes traffic: gateway slipway\'s router sees no request to copy; remove the shadow step, or set traffic: router' });
    });
    if (e.record !== undefined) ctx.addIssue({ code: 'custom', path: ['record'], message: 'with kubernetes traffic: gateway slipway\'s router sees no request to record; remove record:, or set traffic: router' });
    if (e.strategy.type === 'blue-green' && e.strategy.shadow) ctx.addIssue({ code: 'custom', path: ['strategy', 'shadow'], message: 'with kubernetes traffic: gateway slipway\'s router sees no request to copy; remove shadow:, or set traffic: router' });
  }
});

const environments = namedMap({
  what: 'a map of environment names (e.g. staging) to their settings',
  keyExpected: 'an environment name (lowercase letters, digits and -, starting with a letter, at most 31 characters)',
  keyPattern: ENVIRONMENT_NAME,
  value: environment,
})
  .refine((envs) => Object.keys(envs).length > 0, { error: 'define at least one environment, e.g. staging' })
  .transform((envs) => ({
    specs: Object.fromEntries(
      Object.entries(envs).map(([name, e]) => [
        name,
        { name, runtime: e.runtime, resources: e.resources ?? null, instances: e.instances, listen: e.listen, strategy: e.strategy, config: e.config, secrets: e.secrets, analysis: e.analysis, watchMs: e.watch.watchMs, watchMaxErrorRate: e.watch.watchMaxErrorRate, notifications: e.notifications, kubernetes: e.kubernetes, proxy: e.proxy, ...hostRouting(e), ...(e.tls !== undefined ? { tls: e.tls } : {}), ...(e.record !== undefined ? { record: e.record } : {}), ...(e.keep_releases !== undefined ? { keepReleases: e.keep_releases } : {}) },
      ]),
    ),
    gates: Object.fromEntries(
      Object.entries(envs).map(([name, e]): [string, WrittenGates] => [
        name,
        { provision: e.provision, acceptance: e.acceptance, approval: e.approval, freeze: e.freeze, backup: e.backup, restore: e.restore },
      ]),
    ),
  }));

/**
 * The shape and the per-field rules. The rules across environments (listen clashes,
 * port_env in config) are in validateConfigData: use that, not this alone.
 */
export const serviceConfigSchema: z.ZodType<ServiceConfig> = section({
  service: matching(
    'a service name (lowercase letters, digits and -, starting with a letter, at most 63 characters)',
    SERVICE_NAME,
  ),
  run,
  image: defaultedWhenEmpty(imageSection, {}),
  health: defaultedWhenEmpty(health, {}),
  shutdown: defaultedWhenEmpty(shutdown, {}),
  logs: defaultedWhenEmpty(logsSection, {}),
  environments,
  build: commandSection.optional(),
  test: commandSection.optional(),
  pipeline: z.preprocess((v) => (v === null ? {} : v), pipelineSection.optional()),
})
  .transform((c): ServiceConfig => {
    const pipeline = assemblePipeline({ build: c.build, test: c.test, pipeline: c.pipeline, gates: c.environments.gates });
    return {
      service: c.service,
      run: c.run,
      image: c.image,
      health: c.health,
      shutdown: c.shutdown,
      logs: c.logs,
      environments: c.environments.specs,
      ...(pipeline ? { pipeline } : {}),
    };
  })
  .superRefine((c, ctx) => {
    if (!c.pipeline) return;
    for (const [key, env] of [['staging', c.pipeline.stagingEnv], ['production', c.pipeline.productionEnv]] as const) {
      if (!c.environments[env]) {
        ctx.addIssue({ code: 'custom', path: ['pipeline', key], message: `the pipeline's ${key} environment "${env}" is not under environments:; define it or name another with pipeline.${key}` });
      }
    }
    if (c.pipeline.replay && c.environments[c.pipeline.productionEnv] && !c.environments[c.pipeline.productionEnv]!.record) {
      ctx.addIssue({ code: 'custom', path: ['pipeline', 'replay'], message: `pipeline.replay replays the requests production records; add record: (e.g. record: { percent: 5, paths: [/api/*] }) to environments.${c.pipeline.productionEnv}` });
    }
    if (c.pipeline.stagingEnv === c.pipeline.productionEnv) {
      ctx.addIssue({ code: 'custom', path: ['pipeline', 'production'], message: 'the pipeline needs two different environments for staging and production' });
    }
  });

export type DataValidation = { ok: true; config: ServiceConfig } | { ok: false; issues: PathIssue[] };

/** Validates parsed slipway.yaml data, reporting every problem, not just the first. */
export function validateConfigData(data: unknown): DataValidation {
  const parsed = serviceConfigSchema.safeParse(data, {
    error: (iss) => (iss.code === 'invalid_type' ? refusal(`a ${iss.expected}`, iss.input) : undefined),
  });
  // Run on the raw data so they are reported even when the shape check failed elsewhere.
  const issues = checkAcrossEnvironments(data, CONFIG_DEFAULTS.run.port_env);
  if (!parsed.success) issues.unshift(...parsed.error.issues.map(fromZodIssue));
  return issues.length === 0 && parsed.success ? { ok: true, config: parsed.data } : { ok: false, issues };
}

function fromZodIssue(iss: z.core.$ZodIssue): PathIssue {
  const path = iss.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  if (iss.code === 'invalid_key') {
    return { path, at: 'key', message: iss.issues.map((i) => i.message).join('; ') };
  }
  const at = iss.code === 'custom' && iss.params?.['at'] === 'key' ? 'key' : 'value';
  return { path, at, message: iss.message };
}
