// The gates every deploy passes, whoever asks (the pipeline or `slipway deploy`):
// when slipway.yaml has a pipeline, its production environment takes only an
// artefact that has succeeded in its staging environment, byte for byte (same
// digest), that a release run had approved when approval is asked for, and
// nothing while a freeze window is open. Rollbacks pass no gate of these; every
// release, rollbacks included, passes the admin's host policy (PolicyGate below).

import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';
import { envKey, envNameOf } from '../core/env-key.ts';
import { SlipwayError } from '../core/errors.ts';
import { addressKind } from '../core/ip-address.ts';
import { checkEnvironment, checkOutboundUrl, describeViolations, outboundUrlsOf, type PolicyViolation, type ServerAddress } from '../core/policy.ts';
import { describeFreeze, openFreezes } from '../core/pipeline/freeze.ts';
import type { EnvironmentSpec, ExternalSecretSpec, ServiceConfig } from '../core/service-config.ts';
import type { PolicyStore } from '../store/policy-store.ts';
import type { StateStore } from '../store/state-store.ts';

export function assertDeployAllowed(o: { store: StateStore; env: string; digest: string; config: ServiceConfig; nowMs: number }): void {
  const p = o.config.pipeline;
  const name = envNameOf(o.env);
  if (!p || name !== p.productionEnv) return;
  if (o.store.pipeline.succeededIn(envKey(o.config.service, p.stagingEnv), o.digest) === null) {
    throw new SlipwayError(
      'E_GATE_BLOCKED',
      `${o.env} accepts only an artefact that has succeeded in ${p.stagingEnv}, and ${o.digest.slice(0, 19)}… has not; release it with \`slipway release\` (or deploy it to ${p.stagingEnv} first)`,
      { env: o.env, gate: 'staging', digest: o.digest, staging: p.stagingEnv },
    );
  }
  // The sign-off slipway.yaml asks for holds on every path to production, not only the
  // pipeline's: a direct deploy takes only an artefact a release run had approved.
  const approval = p.environments[name]?.approval;
  if (approval && approval.count > 0 && !o.store.pipeline.hasApprovedRun(o.digest)) {
    throw new SlipwayError(
      'E_GATE_BLOCKED',
      `${o.env} needs ${approval.count} approval(s) before a deploy (slipway.yaml approval:), and ${o.digest.slice(0, 19)}… has none; release it with \`slipway release\` and have it approved (\`slipway approve <run>\`)`,
      { env: o.env, gate: 'approval', digest: o.digest },
    );
  }
  const frozen = openFreezes(p.environments[name]?.freeze ?? [], o.nowMs);
  if (frozen.length > 0) {
    throw new SlipwayError('E_GATE_BLOCKED', `${o.env} is frozen: ${frozen.map(describeFreeze).join('; ')}; deploy after it closes`, {
      env: o.env, gate: 'freeze', until: Math.max(...frozen.map((f) => f.untilMs)),
    });
  }
}

/**
 * The admin's host policy (core/policy.ts), checked for every release before
 * anything reads a secret, probes a port or records a thing: a deploy, a config
 * rollout, a rollback and a pipeline's deploys all pass here. Host names in URLs
 * are resolved at check time; the server's own listeners are refused whatever the
 * policy says.
 */
export interface PolicyGateDeps {
  policies: PolicyStore;
  serverListeners: () => ServerAddress[];
  /** Every environment the server knows: one's variable scope must not take in another's. */
  environmentNames: () => string[];
  /** The current value of a webhook's url_from, read only once its reference has passed. */
  readUrl: (env: string, spec: ExternalSecretSpec) => Promise<string>;
  /** Addresses of a host name (default: the system resolver, bounded by a timeout). */
  resolve?: (host: string) => Promise<string[]>;
  /** This machine's interface addresses (default: os.networkInterfaces()). */
  localAddresses?: () => string[];
}

export interface PolicyGateCheck {
  env: string;
  environment: EnvironmentSpec;
  /** Said first in the message when the settings are not the deploy's own, e.g. "rollback to staging#1". */
  subject?: string;
  /**
   * false: only what the settings say as written (no name resolved, no url_from
   * read), for a caller who may not deploy there (a viewer's plan).
   */
  lookUp: boolean;
}

export class PolicyGate {
  /** Host names resolved by the last checks, for the synchronous check in the deploy's transaction. */
  private readonly resolvedNames = new Map<string, string[]>();

  constructor(private readonly deps: PolicyGateDeps) {}

  async assertAllowed(c: PolicyGateCheck): Promise<void> {
    const policy = this.deps.policies.current();
    const base = { policy, env: c.env, environment: c.environment, serverListeners: this.deps.serverListeners(), localAddresses: this.localAddresses(), otherEnvironments: this.deps.environmentNames() };
    refuseIfAny(c, checkEnvironment(c.lookUp ? { ...base, resolved: await this.resolveNames(c.env, c.environment) } : base));
    if (!c.lookUp) return;
    const readUrls = await this.readUrlsOf(c.env, c.environment);
    const resolved = await this.resolveHosts(readUrls.map((u) => u.url));
    refuseIfAny(c, checkEnvironment({ ...base, resolved, readUrls }));
  }

  /**
   * One URL the server is about to call for an environment (a webhook's URL read
   * from url_from at delivery), against the policy now, its name resolved now.
   */
  async assertUrlAllowed(o: { env: string; key: string; url: string }): Promise<void> {
    refuseIfAny({ env: o.env }, checkOutboundUrl({
      policy: this.deps.policies.current(), env: o.env, key: o.key, url: o.url, resolved: await this.resolveHosts([o.url]),
      serverListeners: this.deps.serverListeners(), localAddresses: this.localAddresses(),
    }));
  }

  /** Again in the transaction that records the rollout, against the policy as it is then; names as last resolved. */
  assertAllowedNow(c: Omit<PolicyGateCheck, 'lookUp'>): void {
    refuseIfAny(c, checkEnvironment({
      policy: this.deps.policies.current(), env: c.env, environment: c.environment, otherEnvironments: this.deps.environmentNames(),
      serverListeners: this.deps.serverListeners(), localAddresses: this.localAddresses(), resolved: Object.fromEntries(this.resolvedNames),
    }));
  }

  private localAddresses(): string[] {
    if (this.deps.localAddresses) return this.deps.localAddresses();
    return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
  }

  private resolveNames(env: string, environment: EnvironmentSpec): Promise<Record<string, string[]>> {
    return this.resolveHosts(outboundUrlsOf(env, environment).map((u) => u.url));
  }

  private async resolveHosts(urls: string[]): Promise<Record<string, string[]>> {
    const hosts = new Set<string>();
    for (const url of urls) {
      try {
        const host = new URL(url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
        if (addressKind(host) === null) hosts.add(host);
      } catch {
        // not a URL: the check says so
      }
    }
    const resolve = this.deps.resolve ?? resolveHost;
    const out: Record<string, string[]> = {};
    await Promise.all([...hosts].map(async (h) => {
      out[h] = await resolve(h).catch(() => []);
      this.resolvedNames.set(h, out[h]);
    }));
    if (this.resolvedNames.size > 1000) this.resolvedNames.clear();
    return out;
  }

  private async readUrlsOf(env: string, environment: EnvironmentSpec): Promise<{ key: string; url: string }[]> {
    const hooks = (environment.notifications ?? []).map((w, i) => ({ w, i })).filter(({ w }) => w.urlFrom !== undefined);
    return Promise.all(hooks.map(async ({ w, i }) => ({ key: `environments.${envNameOf(env)}.notifications[${i}].url_from`, url: await this.deps.readUrl(env, w.urlFrom!) })));
  }
}

function refuseIfAny(c: { env: string; subject?: string }, violations: PolicyViolation[]): void {
  if (violations.length === 0) return;
  const first = violations[0]!;
  throw new SlipwayError('E_POLICY_DENIED', `${c.subject ? `${c.subject} refused: ` : ''}${describeViolations(c.env, violations)}`, {
    env: c.env, key: first.key, rule: first.rule, violations: violations.map(({ key, rule, value }) => ({ key, rule, value })),
  });
}

/** A name's addresses now; a name that does not resolve in time has none (checked as written). */
async function resolveHost(host: string): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string[]>((resolve) => {
    timer = setTimeout(() => resolve([]), 2000);
  });
  try {
    return await Promise.race([lookup(host, { all: true }).then((all) => all.map((a) => a.address)), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
