// `slipway token …`, `slipway whoami` and `slipway audit …`: who may do what, and
// the record of what was done. Like every command, they only talk to the server.

import { createWriteStream, type WriteStream } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import pc from 'picocolors';
import { parseDurationMs } from '../core/duration.ts';
import { ROLES, type Role } from '../core/roles.ts';
import type { AuditEntryJson, AuditVerificationJson, TokenView } from '../api/views.ts';
import type { CommandContext } from './config-commands.ts';
import { positiveInt } from './positive-int.ts';

function duration(v: string): number {
  const ms = parseDurationMs(v);
  if (ms === null || ms <= 0) throw new InvalidArgumentError('expected a duration such as 90s, 10m, 12h or 30d');
  return ms;
}

function role(v: string): Role {
  if (!(ROLES as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${ROLES.join(', ')}`);
  return v as Role;
}

function envList(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), ...v.split(',').map((s) => s.trim()).filter(Boolean)];
}

const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace('.000Z', 'Z'));

function tokenLine(t: TokenView): string {
  const status = t.status === 'active' ? pc.green(t.status) : pc.red(t.status);
  return `${t.id}  ${t.user.padEnd(12)} ${t.role.padEnd(9)} ${(t.envs?.join(',') ?? 'all').padEnd(20)} ${status.padEnd(16)} created ${when(t.createdAt)} by ${t.createdBy}` +
    `${t.expiresAt ? `, expires ${when(t.expiresAt)}` : ''}${t.lastUsedAt ? `, last used ${when(t.lastUsedAt)}` : ''}`;
}

export function auditLine(e: AuditEntryJson): string {
  const outcome = e.outcome === 'ok' ? pc.green(e.outcome) : pc.red(e.outcome);
  return `#${String(e.seq).padEnd(5)} ${when(e.at)} ${e.actor.padEnd(14)} ${e.action.padEnd(22)} ${(e.env ?? '-').padEnd(11)} ${(e.target ?? '-').padEnd(20)} ${outcome}`;
}

export function formatVerification(v: AuditVerificationJson): string {
  const lines = [v.ok ? pc.green(`audit log intact: ${v.entries} entries`) : pc.red(`audit log BROKEN at entry ${v.problem!.seq} (${v.problem!.kind}): ${v.problem!.message}`)];
  if (v.checkpoint) lines.push(`signed checkpoint: entry ${v.checkpoint.seq} at ${when(v.checkpoint.at)}, key ${v.checkpoint.keyId}, signature ${v.checkpoint.signatureValid ? 'valid' : pc.red('INVALID')}`);
  if (v.warning) lines.push(pc.yellow(`warning: ${v.warning}`));
  return lines.join('\n');
}

export function registerAuthCommands(program: Command, ctx: CommandContext): void {
  program
    .command('whoami')
    .description('show the user, role and environments of the token in use')
    .action(async (_o, cmd: Command) => {
      const w = await ctx.client(cmd).whoami();
      ctx.out(cmd, w, () => `${w.user} (${w.role}${w.envs ? ` in ${w.envs.join(', ')}; read-only elsewhere` : ''}), token ${w.tokenId}`);
    });

  const token = program.command('token').description('API tokens: who may use slipway, with which role, where (admin only)');
  token
    .command('create')
    .description('make a token; its secret is printed once and never again')
    .requiredOption('--user <name>', 'who the token is for (recorded as the actor of everything done with it)')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}: viewer reads; deployer deploys, pauses, resumes, promotes, aborts, rolls back; approver approves releases; admin does all and manages tokens, config and secrets; ci starts release runs from a CI job`, role)
    .option('--env <names>', 'limit the role to these environments (repeat or comma-separate); elsewhere the token only reads', envList)
    .option('--services <names>', 'limit the role to every environment of these services (repeat or comma-separate); a ci token needs it', envList)
    .option('--expires <duration>', 'stop working after this long, e.g. 30d (a ci token needs it: at most 400d)', duration)
    .addHelpText('after', [
      '',
      'Examples:',
      '  slipway token create --user alice --role deployer --env staging --expires 90d',
      '  slipway token create --user github-shop --role ci --services shop --expires 90d',
      '',
      'A ci token is for a CI job (slipway ci-release): it uploads artefacts and starts release runs of its services,',
      'which then meet every gate; it may not deploy directly, approve, or touch another service.',
      '',
    ].join('\n'))
    .action(async (o: { user: string; role: Role; env?: string[]; services?: string[]; expires?: number }, cmd: Command) => {
      const t = await ctx.client(cmd).createToken({
        user: o.user, role: o.role, ...(o.env ? { envs: o.env } : {}), ...(o.services ? { services: o.services } : {}), ...(o.expires ? { expiresAt: Date.now() + o.expires } : {}),
      });
      ctx.out(cmd, t, () => `${tokenLine(t)}\n\n${t.token}\n\n${pc.yellow('This is the only time the token is shown: hand it to its owner now (they pass it as --token or SLIPWAY_TOKEN).')}`);
    });
  token
    .command('list')
    .description('every token: id, user, role, environments, status (never the secrets)')
    .action(async (_o, cmd: Command) => {
      const r = await ctx.client(cmd).tokens();
      ctx.out(cmd, r, () => (r.tokens.length ? r.tokens.map(tokenLine).join('\n') : 'no tokens'));
    });
  token
    .command('revoke <id>')
    .description('revoke a token at once (its id is in `slipway token list`)')
    .action(async (id: string, _o, cmd: Command) => {
      const t = await ctx.client(cmd).revokeToken(id);
      ctx.out(cmd, t, () => `revoked ${tokenLine(t)}`);
    });

  const audit = program
    .command('audit')
    .description('the audit log: every change, who made it, with which artefact and config; `audit verify` checks it was not altered')
    .option('--env <name>', 'one environment')
    .option('--actor <user>', 'one user')
    .option('--action <name>', 'one action, e.g. deploy, rollback, secret.set')
    .option('--since <duration>', 'only the last …, e.g. 1h or 7d', duration)
    .option('-n, --limit <n>', 'at most this many entries', positiveInt, 1000)
    .action(async (o: { env?: string; actor?: string; action?: string; since?: number; limit: number }, cmd: Command) => {
      const r = await ctx.client(cmd).audit({ env: o.env, actor: o.actor, action: o.action, since: o.since ? Date.now() - o.since : undefined, limit: o.limit });
      ctx.out(cmd, r, () => (r.entries.length ? r.entries.map(auditLine).join('\n') : 'no audit entries match'));
    });
  audit
    .command('verify')
    .description('recompute the hash chain and check the signed checkpoint; names the first entry altered, removed, moved or cut off (exit 1)')
    .action(async (_o, cmd: Command) => {
      const v = await ctx.client(cmd).verifyAudit();
      ctx.out(cmd, v, () => formatVerification(v));
      if (!v.ok) process.exitCode = 1;
    });
  audit
    .command('export')
    .description('write every entry as JSON lines (to --out, or stdout) for safekeeping elsewhere')
    .option('-o, --out <file>', 'file to write (default: stdout)')
    .action(async (o: { out?: string }, cmd: Command) => {
      const client = ctx.client(cmd);
      const sink = o.out ? createWriteStream(o.out, { flags: 'wx' }) : process.stdout;
      let after = 0;
      let count = 0;
      for (;;) {
        const page = await client.audit({ after, limit: 5000 });
        for (const e of page.entries) sink.write(`${JSON.stringify(e)}\n`);
        count += page.entries.length;
        if (page.entries.length < 5000) break;
        after = page.entries.at(-1)!.seq;
      }
      if (o.out) {
        const file = sink as WriteStream;
        await new Promise<void>((res, rej) => {
          file.once('error', rej);
          file.end(res);
        });
        process.stderr.write(`wrote ${count} entries to ${o.out}\n`);
      }
    });
}
