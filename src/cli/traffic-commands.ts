// `slipway maintenance on|off`, `slipway pause-traffic` and `slipway resume-traffic`:
// closing an environment's door for a while without stopping its instances. Like
// every command, they only talk to the server, which records the state and pushes
// it to the router. (traffic.ts, beside this file, is the load generator the demo
// and the tests use; it has nothing to do with these commands.)

import type { Command } from 'commander';
import pc from 'picocolors';
import { formatDurationMs, parseDurationMs } from '../core/duration.ts';
import { SlipwayError } from '../core/errors.ts';
import type { TrafficGateJson } from '../api/views.ts';
import type { CommandContext } from './config-commands.ts';
import { terminalSafe } from './output.ts';

const MAINTENANCE_HELP = `
While on, the router answers every request of the environment with 503, a
Retry-After header and the message: an HTML page for browsers (Accept: text/html),
JSON for everything else. Instances keep running and their health checks go on;
ACME challenges are still answered. A deploy during maintenance runs as usual, but
no client reaches the new release until maintenance is off. The state is kept by
the server and the router: it survives restarts of both.

Examples:
  slipway maintenance on production --message "Moving to a new database; back by 10:30 UTC" --retry-after 600
  slipway maintenance off production`;

const PAUSE_HELP = `
The router holds new requests of the environment (it does not fail them) until
\`slipway resume-traffic\`, or until --max has passed, whichever comes first; then it
sends them on in the order they arrived. Requests already under way are not
touched. At most --queue-limit requests wait at once; past that they get a 503
saying so. Held clients wait all that time: keep --max below their own timeouts.

Example (a database migration that must see no writes):
  slipway pause-traffic production --max 10s && ./migrate && slipway resume-traffic production`;

function parseWholeNumber(flag: string, text: string, o: { min: number; max: number }): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < o.min || n > o.max) {
    throw new SlipwayError('E_BAD_REQUEST', `${flag} must be a whole number from ${o.min} to ${o.max}, not "${text}"; nothing was changed`, { field: flag });
  }
  return n;
}

/** "10s", "500ms", "2m": a unit is required (a bare 10 could be seconds or ms). */
function parseMax(text: string): number {
  const ms = /^\s*\d+(\.\d+)?\s*$/.test(text) ? null : parseDurationMs(text);
  if (ms === null) throw new SlipwayError('E_BAD_REQUEST', `--max must be a duration with its unit, like 10s, 500ms or 2m, not "${text}"; nothing was changed`, { field: '--max' });
  return ms;
}

function formatGates(env: string, a: TrafficGateJson): string {
  const lines: string[] = [];
  if (a.maintenance) {
    lines.push(`${pc.yellow(`${env} is in maintenance`)}: every request gets 503 (Retry-After: ${a.maintenance.retryAfterSeconds}s) with "${terminalSafe(a.maintenance.message)}"`);
    lines.push(`  on since ${new Date(a.maintenance.since).toISOString()} by ${terminalSafe(a.maintenance.by)}; instances keep running; \`slipway maintenance off\` lifts it`);
  }
  if (a.pause) {
    lines.push(`${pc.yellow(`${env}'s traffic is paused`)}: new requests are held until ${new Date(a.pause.untilMs).toISOString()} at the latest (at most ${a.pause.queueLimit} at once)`);
    lines.push('  `slipway resume-traffic` sends them on now, in arrival order');
  }
  return lines.join('\n');
}

export function registerTrafficCommands(program: Command, ctx: CommandContext): void {
  const maintenance = program
    .command('maintenance')
    .description("answer every request of an environment with 503 and a message while its instances keep running (on), or serve it again (off)")
    .addHelpText('after', MAINTENANCE_HELP);

  maintenance
    .command('on')
    .description('put <env> in maintenance: the router answers 503 + Retry-After + the message')
    .argument('<env>', 'environment name (production) or service/environment (shop/production)')
    .option('--message <text>', 'what clients are told (HTML page or JSON): one line of plain text, at most 1000 characters; default: a generic "down for maintenance"')
    .option('--retry-after <seconds>', 'the Retry-After header, in seconds (1 to 86400)', '120')
    .addHelpText('after', MAINTENANCE_HELP)
    .action(async (env: string, o: { message?: string; retryAfter: string }, cmd: Command) => {
      const retryAfterSeconds = parseWholeNumber('--retry-after', o.retryAfter, { min: 1, max: 86_400 });
      const api = ctx.client(cmd);
      const a = await api.maintenance(env, true, { ...(o.message !== undefined ? { message: o.message } : {}), retryAfterSeconds });
      ctx.out(cmd, a, () => `${a.changed ? '' : pc.dim('(already so) ')}${formatGates(a.env, a)}`);
    });

  maintenance
    .command('off')
    .description('take <env> out of maintenance: the router serves it again at once')
    .argument('<env>', 'environment name (production) or service/environment (shop/production)')
    .action(async (env: string, _o: unknown, cmd: Command) => {
      const a = await ctx.client(cmd).maintenance(env, false);
      ctx.out(cmd, a, () => [a.changed ? `${pc.green(a.env)} serves again: maintenance is off` : `${a.env} was not in maintenance`, formatGates(a.env, a)].filter(Boolean).join('\n'));
    });

  program
    .command('pause-traffic')
    .description('hold new requests of <env> in the router (not failing them) for at most --max, then send them on in arrival order')
    .argument('<env>', 'environment name (production) or service/environment (shop/production)')
    .requiredOption('--max <duration>', 'the longest requests are held, e.g. 10s (100ms to 10m); then they go on by themselves')
    .option('--queue-limit <n>', 'how many requests may wait at once; past it they get a 503', '10000')
    .addHelpText('after', PAUSE_HELP)
    .action(async (env: string, o: { max: string; queueLimit: string }, cmd: Command) => {
      const maxMs = parseMax(o.max);
      const queueLimit = parseWholeNumber('--queue-limit', o.queueLimit, { min: 1, max: 100_000 });
      const a = await ctx.client(cmd).pauseTraffic(env, { maxMs, queueLimit });
      ctx.out(cmd, a, () => `holding new requests of ${a.env} for at most ${formatDurationMs(maxMs)}\n${formatGates(a.env, a)}`);
    });

  program
    .command('resume-traffic')
    .description('end the pause of <env> now: held requests go on in arrival order')
    .argument('<env>', 'environment name (production) or service/environment (shop/production)')
    .action(async (env: string, _o: unknown, cmd: Command) => {
      const a = await ctx.client(cmd).resumeTraffic(env);
      ctx.out(cmd, a, () => [a.changed ? `${pc.green(a.env)}: traffic resumed; held requests sent on in arrival order` : `${a.env}'s traffic was not paused`, formatGates(a.env, a)].filter(Boolean).join('\n'));
    });
}
