// Human output of the config and secret commands: lists, the parity report, plans.
// Secret values never reach here; secrets show as *** with where they live.

import pc from 'picocolors';
import type { ConfigChangeJson, ConfigListJson, DeployPlanJson, ParityJson, SecretListJson } from '../api/views.ts';
import { ago } from './output.ts';

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ').trimEnd()).join('\n');
}

export function formatConfigList(c: ConfigListJson): string {
  const head = `${pc.bold(c.env)}  config ${c.version ? `v${c.version.number} (${c.version.change}, by ${c.version.createdBy} ${ago(c.version.createdAt)})` : 'from slipway.yaml only'}` +
    (c.stable ? `; stable release #${c.stable.number} runs ${c.stable.configVersion ? `v${c.stable.configVersion}` : 'no config version'}` : '; nothing deployed yet') +
    (c.pending ? pc.yellow('; the newest version is not rolled out') : '');
  if (c.entries.length === 0) return `${head}\n  (no keys)`;
  const rows = [['KEY', 'VALUE', 'SOURCE'], ...c.entries.map((e) => e.kind === 'plain'
    ? [e.key, e.value, e.source === 'cli' ? `cli${e.overridesYaml ? ' (overrides slipway.yaml)' : ''}` : 'slipway.yaml']
    : [e.key, '***', `secret: ${e.reference}`])];
  const conflicts = c.conflicts.length ? `\n${pc.red(`both plain and secret (a deploy refuses this): ${c.conflicts.join(', ')}`)}` : '';
  return `${head}\n${table(rows).split('\n').map((l) => `  ${l}`).join('\n')}${conflicts}`;
}

export function formatSecretList(s: SecretListJson): string {
  if (s.secrets.length === 0) return `${s.env} has no secrets; add one with \`slipway secret set ${s.env} NAME\` (the value is read from stdin)`;
  const rows = [['NAME', 'WHERE', 'SET BY', 'SET', 'STABLE RELEASE HAS'], ...s.secrets.map((x) => [
    x.name, x.provider === 'store' ? `store v${x.version} (${x.versions} version${x.versions === 1 ? '' : 's'})` : x.reference,
    x.setBy ?? '-', x.setAt ? ago(x.setAt) : '-', x.inStable ?? pc.yellow('not yet'),
  ])];
  return table(rows);
}

const STATUS_MARK: Record<string, string> = { same: '=', differs: '≠', 'only-left': '<', 'only-right': '>' };

export function formatParity(p: ParityJson): string {
  if (p.rows.length === 0) return `${p.left} and ${p.right} have no config`;
  const differ = p.rows.filter((r) => r.status !== 'same').length;
  const rows = [['', 'KEY', p.left, p.right], ...p.rows.map((r) => [
    STATUS_MARK[r.status]!, `${r.key}${r.kind === 'mixed' ? ' (plain vs secret)' : ''}`, r.left ?? '-', r.right ?? '-',
  ])];
  const body = table(rows).split('\n').map((l) => {
    const mark = l[0];
    return mark === '≠' ? pc.yellow(l) : mark === '<' || mark === '>' ? pc.cyan(l) : l;
  }).join('\n');
  return `${body}\n${differ === 0 ? pc.green('in parity: every key is the same on both sides') : `${differ} of ${p.rows.length} keys differ or exist on one side only (secrets compared by keyed hash, never shown)`}`;
}

export function formatChange(env: string, a: ConfigChangeJson, what: string): string {
  if (a.unchanged) return `${env}: ${what} changes nothing (config v${a.version?.number ?? '-'} already has it)`;
  const v = `${env}: config v${a.version?.number} (${a.version?.change})`;
  if (a.release && a.rollout) return `${v}; release ${env}#${a.release.number} of the same artefact: rollout #${a.rollout.id} (${a.rollout.steps.length} steps)`;
  return `${v} recorded; it reaches the instances with the next deploy or config change`;
}

export function formatPlan(p: DeployPlanJson): string {
  const out: string[] = [];
  out.push(`${pc.bold(`plan for ${p.env}`)} (${p.stable === null ? 'first deploy' : `stable #${p.stable}`})`);
  if (p.unchanged) out.push(pc.green('  nothing would change: same artefact and same config as the stable release'));
  out.push(`  artefact   ${p.artefact.changed ? `${p.artefact.from?.slice(0, 19) ?? 'none'} → ${p.artefact.to.slice(0, 19)}` : `${p.artefact.to.slice(0, 19)} (unchanged)`}`);
  // No version yet (nothing set with `slipway config set`) reads as words, not "v-".
  const version = (n: number | null | undefined) => (n === null || n === undefined ? 'no config version' : `v${n}`);
  out.push(`  config     ${p.configVersion.from === p.configVersion.to ? version(p.configVersion.to) : `${version(p.configVersion.from)} → ${version(p.configVersion.to)}`}`);
  for (const c of p.config) {
    const key = `${c.key}${c.kind === 'secret' ? ' (secret)' : ''}`;
    if (c.change === 'added') out.push(pc.green(`    + ${key} = ${c.to}`));
    else if (c.change === 'removed') out.push(pc.red(`    - ${key} (was ${c.from})`));
    else out.push(pc.yellow(`    ~ ${key}: ${c.from} → ${c.to}`));
  }
  out.push(`  instances  ${p.instances.from === null || p.instances.from === p.instances.to ? p.instances.to : `${p.instances.from} → ${p.instances.to}`}`);
  out.push(`  strategy   ${p.strategy.from === null || p.strategy.from === p.strategy.to ? p.strategy.to : `${p.strategy.from} → ${p.strategy.to}`}`);
  if (p.settings.length) out.push(`  also       ${p.settings.join(', ')} changed`);
  if (!p.unchanged) out.push(`  steps      ${p.steps.map((s, i) => `${i + 1}. ${s}`).join('\n             ')}`);
  if (p.limited) out.push(pc.yellow(`  note       ${p.limited}`));
  return out.join('\n');
}
