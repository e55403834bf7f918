// What the CLI says about a followed pipeline run besides its stage lines: how
// production's watch stands while the run waits through it, and when the run
// fails, the end of the failed stage's output and what to do next.

import pc from 'picocolors';
import type { ApiClient, RunViewJson } from './api-client.ts';
import { watchLine } from './output.ts';

/** Lines of a failed stage's output shown when a followed run fails; `runs show N --output` has the rest. */
const FAILED_OUTPUT_LINES = 30;
/** ...or, for TAP (node --test), from its first failing test, as long as that is no further back than this. */
const FAILED_TAP_LINES = 80;

/** The end of the failed stage's output (a test's assertion, a compiler's error), so that the user need not ask for it. */
export function failedStageOutput(v: RunViewJson): string[] {
  const failed = v.run.status === 'failed' ? v.stages.find((s) => s.status === 'failed' && s.outputTail.trim() !== '') : undefined;
  if (!failed) return [];
  const lines = failed.outputTail.trimEnd().split('\n');
  const firstFailure = lines.findIndex((l) => /^\s*not ok \d/.test(l));
  const from = firstFailure >= 0 && lines.length - firstFailure <= FAILED_TAP_LINES ? firstFailure : Math.max(0, lines.length - FAILED_OUTPUT_LINES);
  const shown = lines.slice(from);
  const cut = lines.length > shown.length ? `, its last ${shown.length} lines (all of it: slipway runs show ${v.run.id} --output)` : '';
  return [pc.bold(`--- output of ${failed.name}${cut}`), ...shown, pc.bold('---')];
}

// A rerun builds the same commit again: a build or a test that fails in the code
// fails again, and only a new commit (a new release) can carry the fix.
const STAGES_OF_THE_COMMIT = new Set(['build', 'test', 'package']);

export function rerunAdvice(v: RunViewJson): string {
  if (STAGES_OF_THE_COMMIT.has(v.run.stage ?? '') && v.run.ci === null) {
    return `commit the fix and run \`slipway release\` again (\`slipway rerun ${v.run.id}\` builds the same commit ${v.run.commit.slice(0, 12)} again: for a cause outside the code, such as a flaky test or a full disk)`;
  }
  return `fix the cause, then: slipway rerun ${v.run.id}`;
}

/** During the watch stage: production's watch as `slipway status` shows it (how long is left, against what). */
export async function watchProgress(api: ApiClient, v: RunViewJson, stage: string): Promise<string> {
  if (stage !== 'watch') return '';
  try {
    const [env] = await api.status(`${v.run.service}/${v.run.productionEnv}`);
    return env?.watch ? `: ${env.env} ${watchLine(env.watch)}` : '';
  } catch {
    return ''; // a progress line only: the next poll tells the run's state
  }
}
