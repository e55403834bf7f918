// `slipway policy show` and `slipway policy set`: the admin's host policy, which
// says what each environment's slipway.yaml may ask of this machine (listen
// addresses, secret sources, outbound URLs). Reading it is anyone's; setting it
// needs an admin token. Like every command, they only talk to the server.

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import pc from 'picocolors';
import { SlipwayError } from '../core/errors.ts';
import type { PolicySetBody } from '../api/schemas.ts';
import type { PolicyJson } from '../api/views.ts';
import type { CommandContext } from './config-commands.ts';

const POLICY_HELP = `
The policy file (YAML), per environment, with '*' for every environment:

  environments:
    '*':
      outbound: { allow: ['https://hooks.slack.com/**'] }
    staging:
      listen: ['127.0.0.1:8000-8099']         # absent: any address
      hosts: ['*.staging.example.com']         # absent: any host name
      secrets:
        env: ['SLIPWAY_SECRET_SHARED_*']       # beyond SLIPWAY_SECRET_STAGING_*
        vault: ['shared/**', 'kv:staging/**']  # beyond staging/** in mount secret
        file: ['/run/secrets/staging/*']       # no file unless listed
      outbound:
        allow: ['http://127.0.0.1:9090']       # loopback/private need this
        public: true                           # false: only what allow lists

The whole file replaces the policy; an empty file goes back to the defaults.
See docs/config.md, "The admin's policy".`;

export function formatPolicy(p: PolicyJson): string {
  const out: string[] = [];
  if (p.version) out.push(pc.bold(`policy v${p.version.number}`) + ` set by ${p.version.createdBy} at ${new Date(p.version.createdAt).toISOString()}`);
  else out.push(pc.bold('no policy set') + ': the defaults below hold for every environment');
  if (p.text.trim()) out.push('', p.text.replace(/\s+$/, ''));
  out.push('', pc.bold('where the policy says nothing:'), ...p.defaults.map((d) => `  ${d}`));
  return out.join('\n');
}

function readPolicyFile(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new SlipwayError('E_BAD_REQUEST', `cannot read ${file === '-' ? 'the policy from standard input' : `the policy file ${file}`} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); nothing was changed`, { file }, { cause: e });
  }
}

export function registerPolicyCommands(program: Command, ctx: CommandContext): void {
  const policy = program
    .command('policy')
    .description("the admin's host policy: which listen addresses, secret sources and outbound URLs each environment's slipway.yaml may use")
    .addHelpText('after', POLICY_HELP);

  policy
    .command('show')
    .description('print the policy as set (and the defaults where it says nothing)')
    .action(async (_o: unknown, cmd: Command) => {
      const p = await ctx.client(cmd).policy();
      ctx.out(cmd, p, () => formatPolicy(p));
    });

  policy
    .command('set')
    .description('replace the policy with a YAML file (- reads standard input); admin only; a bad file changes nothing')
    .argument('<file>', 'the policy file, or - for standard input')
    .addHelpText('after', POLICY_HELP)
    .action(async (file: string, _o: unknown, cmd: Command) => {
      const body: PolicySetBody = { text: readPolicyFile(file), file: file === '-' ? 'policy.yaml' : file };
      const p = await ctx.client(cmd).setPolicy(body);
      ctx.out(cmd, p, () => `${pc.green(`policy v${p.version?.number ?? '?'} set`)}: it holds for every deploy, config rollout and rollback from now on`);
    });
}
