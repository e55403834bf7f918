// The gates every deploy passes, whoever asks (the pipeline or `slipway deploy`):
// when slipway.yaml has a pipeline, its production environment takes only an
// artefact that has succeeded in its staging environment, byte for byte (same
// digest), that a release run had approved when approval is asked for, and
// nothing while a freeze window is open. Rollbacks pass no gate.

import { SlipwayError } from '../core/errors.ts';
import { describeFreeze, openFreezes } from '../core/pipeline/freeze.ts';
import type { ServiceConfig } from '../core/service-config.ts';
import type { StateStore } from '../store/state-store.ts';

export function assertDeployAllowed(o: { store: StateStore; env: string; digest: string; config: ServiceConfig; nowMs: number }): void {
  const p = o.config.pipeline;
  if (!p || o.env !== p.productionEnv) return;
  if (o.store.pipeline.succeededIn(p.stagingEnv, o.digest) === null) {
    throw new SlipwayError(
      'E_GATE_BLOCKED',
      `${o.env} accepts only an artefact that has succeeded in ${p.stagingEnv}, and ${o.digest.slice(0, 19)}… has not; release it with \`slipway release\` (or deploy it to ${p.stagingEnv} first)`,
      { env: o.env, gate: 'staging', digest: o.digest, staging: p.stagingEnv },
    );
  }
  // The sign-off slipway.yaml asks for holds on every path to production, not only the
  // pipeline's: a direct deploy takes only an artefact a release run had approved.
  const approval = p.environments[o.env]?.approval;
  if (approval && approval.count > 0 && !o.store.pipeline.hasApprovedRun(o.digest)) {
    throw new SlipwayError(
      'E_GATE_BLOCKED',
      `${o.env} needs ${approval.count} approval(s) before a deploy (slipway.yaml approval:), and ${o.digest.slice(0, 19)}… has none; release it with \`slipway release\` and have it approved (\`slipway approve <run>\`)`,
      { env: o.env, gate: 'approval', digest: o.digest },
    );
  }
  const frozen = openFreezes(p.environments[o.env]?.freeze ?? [], o.nowMs);
  if (frozen.length > 0) {
    throw new SlipwayError('E_GATE_BLOCKED', `${o.env} is frozen: ${frozen.map(describeFreeze).join('; ')}; deploy after it closes`, {
      env: o.env, gate: 'freeze', until: Math.max(...frozen.map((f) => f.untilMs)),
    });
  }
}
