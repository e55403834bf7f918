// `slipway config ...`, `slipway secret ...` and `slipway plan`: an environment's
// config versions and secrets, the parity report between two environments, and
// what a deploy would change. Like every command, they only talk to the server.

import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import pc from 'picocolors';
import { knownDigest, packScanned, rememberPack, scanDirectory } from '../artefact/index.ts';
import { envKey, splitEnvKey } from '../core/env-key.ts';
import { SlipwayError } from '../core/errors.ts';
import { CONFIG_FILE_NAME, parseConfigText, readConfigText, validateConfigText } from '../config/index.ts';
import { secretLikeName } from '../config/secret-guard.ts';
import { suggestKey } from '../config/did-you-mean.ts';
import type { ConfigChangeJson } from '../api/views.ts';
import { followRollout, type ApiClient } from './api-client.ts';
import { formatChange, formatConfigList, formatParity, formatPlan, formatSecretList } from './config-output.ts';
import { formatEvent, formatRolloutLine } from './output.ts';
import { readSecretValue } from './read-secret.ts';
import { formatStrays, strayEnvironments } from './stray-environments.ts';
import { findServiceDir, serviceDirFor } from './service-dir.ts';

export interface CommandContext {
  client(cmd: Command): ApiClient;
  isJson(cmd: Command): boolean;
  out(cmd: Command, data: unknown, human: () => string): void;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** KEY=VALUE arguments; the value is everything after the first "=". */
export function parseAssignments(args: string[]): Record<string, string> {
  const values: Record<string, string> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    const key = eq < 0 ? arg : arg.slice(0, eq);
    if (eq < 0) throw new SlipwayError('E_BAD_REQUEST', `"${key}" is not KEY=VALUE; write it as ${key}=value (to remove a key: slipway config unset)`);
    if (!KEY.test(key)) throw new SlipwayError('E_BAD_REQUEST', `"${key}" cannot be a variable name: use letters, digits and _, not starting with a digit`);
    if (Object.hasOwn(values, key)) throw new SlipwayError('E_BAD_REQUEST', `${key} is given twice`);
    values[key] = arg.slice(eq + 1);
  }
  return values;
}

/** Whether the slipway.yaml here defines the environment: the server may then take a name it has not seen yet. */
function declaredHere(env: string): boolean {
  const file = resolve(findServiceDir() ?? '.', CONFIG_FILE_NAME);
  if (!existsSync(file)) return false;
  const r = validateConfigText(readFileSync(file, 'utf8'), CONFIG_FILE_NAME);
  const named = splitEnvKey(env);
  return r.ok && (named.service === null || named.service === r.config.service) && Object.hasOwn(r.config.environments, named.environment);
}

/** Prints the change, then follows its rollout like `slipway deploy` does; returns the exit code. */
async function report(ctx: CommandContext, cmd: Command, env: string, a: ConfigChangeJson, what: string, detach: boolean): Promise<number> {
  const json = ctx.isJson(cmd);
  if (!json) process.stdout.write(`${formatChange(env, a, what)}\n`);
  if (!a.rollout || detach) {
    if (json) process.stdout.write(`${JSON.stringify(a, null, 2)}\n`);
    return 0;
  }
  const shown = new Set<string>();
  const final = await followRollout(ctx.client(cmd), a.rollout.id, (e) => !json && process.stdout.write(`${formatEvent(e, shown)}\n`));
  if (json) process.stdout.write(`${JSON.stringify({ ...a, rollout: final }, null, 2)}\n`);
  else process.stdout.write(`${formatRolloutLine(final, shown)}\n`);
  return final.phase === 'succeeded' ? 0 : 1;
}

export function registerConfigCommands(program: Command, ctx: CommandContext): void {
  const config = program.command('config').description("an environment's config: values from slipway.yaml and set here, versioned; and parity between environments");

  config
    .command('list')
    .description('every variable the next release of <env> gets, and where it comes from (secrets as ***)')
    .argument('<env>')
    .action(async (env: string, _o: unknown, cmd: Command) => {
      const c = await ctx.client(cmd).config(env);
      ctx.out(cmd, c, () => formatConfigList(c));
    });

  config
    .command('set')
    .description('set plain values for <env> (they override slipway.yaml there); makes a new config version and rolls it out')
    .argument('<env>')
    .argument('<KEY=VALUE...>')
    .option('--no-rollout', 'only record the new config version (the next deploy takes it)')
    .option('--detach', 'return once the rollout is accepted')
    .action(async (env: string, args: string[], o: { rollout: boolean; detach?: boolean }, cmd: Command) => {
      const values = parseAssignments(args);
      for (const key of Object.keys(values)) {
        if (secretLikeName(key)) process.stderr.write(`${pc.yellow('warning')} ${key} looks like a secret: a value on the command line stays in shell history; use \`slipway secret set ${env} ${key}\`\n`);
      }
      const a = await ctx.client(cmd).setConfig(env, { values, rollout: o.rollout, allowNew: declaredHere(env) });
      process.exitCode = await report(ctx, cmd, env, a, `setting ${Object.keys(values).join(', ')}`, !!o.detach);
    });

  config
    .command('unset')
    .description('remove values set with `config set` from <env> (slipway.yaml values are removed in the file)')
    .argument('<env>')
    .argument('<KEY...>')
    .option('--no-rollout', 'only record the new config version')
    .option('--detach', 'return once the rollout is accepted')
    .action(async (env: string, keys: string[], o: { rollout: boolean; detach?: boolean }, cmd: Command) => {
      const bad = keys.find((k) => !KEY.test(k));
      if (bad !== undefined) throw new SlipwayError('E_BAD_REQUEST', `"${bad}" cannot be a variable name: use letters, digits and _, not starting with a digit`);
      const a = await ctx.client(cmd).unsetConfig(env, { keys, rollout: o.rollout, allowNew: false });
      process.exitCode = await report(ctx, cmd, env, a, `unsetting ${keys.join(', ')}`, !!o.detach);
    });

  config
    .command('diff')
    .description('parity report: keys that differ between two environments or exist in one only (secrets compared, never shown)')
    .argument('<env>')
    .argument('<other-env>')
    .action(async (left: string, right: string, _o: unknown, cmd: Command) => {
      const p = await ctx.client(cmd).configDiff(left, right);
      ctx.out(cmd, p, () => formatParity(p));
    });

  config
    .command('history')
    .description("<env>'s config versions, newest first: what changed, who, when")
    .argument('<env>')
    .action(async (env: string, _o: unknown, cmd: Command) => {
      const h = await ctx.client(cmd).configVersions(env);
      ctx.out(cmd, h, () => h.versions.length === 0 ? `${env} has no config versions yet` : h.versions.map((v) => `v${String(v.number).padEnd(4)} ${new Date(v.createdAt).toISOString()}  ${v.createdBy.padEnd(12)} ${v.change}`).join('\n'));
    });

  const secret = program.command('secret').description("an environment's secrets: encrypted at rest, given to its instances only, never shown");

  secret
    .command('set')
    .description('set (or rotate) secret NAME of <env>; the value is read from stdin, or typed hidden at a terminal, never from the command line')
    .argument('<env>')
    .argument('<NAME>')
    .option('--no-rollout', 'only record the new config version (the next deploy takes it)')
    .option('--detach', 'return once the rollout is accepted')
    // A value typed after the name is refused by name below, not as "too many arguments".
    .allowExcessArguments(true)
    .action(async (env: string, name: string, o: { rollout: boolean; detach?: boolean }, cmd: Command) => {
      if (cmd.args.length > 2) {
        // Not echoed. It is in the shell's history by now: say so.
        throw new SlipwayError('E_BAD_REQUEST', `too many arguments: secret values are never taken from the command line, where shell history and \`ps\` keep them (what followed ${name} is in your shell's history now: if it was the secret, rotate it); pipe the value in: printf %s "$VALUE" | slipway secret set ${env} ${name}`);
      }
      if (name.includes('=')) {
        // Not echoed: what follows "=" is probably the secret itself.
        throw new SlipwayError('E_BAD_REQUEST', 'secret values are never taken from the command line, where shell history and `ps` keep them; give only the name, and pipe the value in: printf %s "$VALUE" | slipway secret set ENV NAME');
      }
      if (!KEY.test(name)) throw new SlipwayError('E_BAD_REQUEST', `"${name}" cannot be a variable name: use letters, digits and _, not starting with a digit`);
      const value = await readSecretValue({ env, name });
      const a = await ctx.client(cmd).setSecret(env, name, { value, rollout: o.rollout, allowNew: declaredHere(env) });
      process.exitCode = await report(ctx, cmd, env, a, `setting secret ${name}`, !!o.detach);
    });

  secret
    .command('list')
    .description("<env>'s secrets: names, versions, who set them and when (never values)")
    .argument('<env>')
    .action(async (env: string, _o: unknown, cmd: Command) => {
      const s = await ctx.client(cmd).secrets(env);
      ctx.out(cmd, s, () => formatSecretList(s));
    });

  secret
    .command('rm')
    .description("remove secret NAME from <env>'s config (earlier releases keep theirs, for rollback)")
    .argument('<env>')
    .argument('<NAME>')
    .option('--no-rollout', 'only record the new config version')
    .option('--detach', 'return once the rollout is accepted')
    .action(async (env: string, name: string, o: { rollout: boolean; detach?: boolean }, cmd: Command) => {
      if (!KEY.test(name)) throw new SlipwayError('E_BAD_REQUEST', `"${name}" cannot be a variable name: use letters, digits and _, not starting with a digit`);
      const a = await ctx.client(cmd).removeSecret(env, name, { rollout: o.rollout });
      process.exitCode = await report(ctx, cmd, env, a, `removing secret ${name}`, !!o.detach);
    });

  program
    .command('plan')
    .description('what `slipway deploy <env>` would change (artefact, config keys, instances, strategy), without doing it')
    .argument('<env>')
    .option('-d, --dir <path>', 'service directory', '.')
    .option('-f, --file <path>', 'config file, relative to --dir', CONFIG_FILE_NAME)
    .action(async (env: string, o: { dir: string; file: string }, cmd: Command) => {
      const isDefault = cmd.getOptionValueSource('dir') === 'default' && cmd.getOptionValueSource('file') === 'default';
      const dir = resolve(serviceDirFor(o.dir, { isDefault, note: (s) => process.stderr.write(`${pc.dim(s)}\n`) }));
      const configPath = resolve(dir, o.file);
      if (!existsSync(configPath)) throw new SlipwayError('E_CONFIG_NOT_FOUND', `${configPath} not found; create one with \`slipway init\``);
      const text = readConfigText(configPath);
      const parsed = parseConfigText(text, o.file);
      const named = splitEnvKey(env);
      if (named.service !== null && named.service !== parsed.service) {
        throw new SlipwayError('E_SERVICE_MISMATCH', `${env} is an environment of service "${named.service}", and ${o.file} is service "${parsed.service}"`);
      }
      if (!parsed.environments[named.environment]) {
        const close = suggestKey(named.environment, Object.keys(parsed.environments));
        throw new SlipwayError('E_ENV_UNKNOWN', `${o.file} has no environment "${named.environment}"${close ? `; did you mean "${close}"?` : ''}; it has: ${Object.keys(parsed.environments).join(', ')}`);
      }
      // Packed only for its digest: nothing is uploaded.
      const outFile = join(tmpdir(), `slipway-plan-${process.pid}-${Date.now()}.tar.gz`);
      try {
        // The digest of the tree packed last time when nothing changed since (artefact/pack-cache.ts).
        const tree = await scanDirectory({ dir, outFile });
        let digest = knownDigest(tree)?.digest;
        if (!digest) {
          const packed = await packScanned(tree, outFile);
          rememberPack(tree, packed);
          digest = packed.digest;
        }
        const client = ctx.client(cmd);
        const p = await client.plan(envKey(parsed.service, named.environment), { artefact: digest, config: { text, file: o.file } });
        const strays = strayEnvironments(await client.status(), { service: parsed.service, names: Object.keys(parsed.environments) });
        ctx.out(cmd, { ...p, notInConfig: strays }, () => [formatPlan(p), formatStrays(strays)].filter(Boolean).join('\n'));
      } finally {
        rmSync(outFile, { force: true });
      }
    });
}
