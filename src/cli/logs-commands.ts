// `slipway logs`: the instances' own output, as structured records, filtered on
// the server (release, instance, time, text, level) and followed live.

import { InvalidArgumentError, Option, type Command } from 'commander';
import pc from 'picocolors';
import { parseDurationMs } from '../core/duration.ts';
import { LOG_LEVEL_NAMES, type LogsQuery } from '../api/schemas.ts';
import type { LogRecordJson } from './api-client.ts';
import type { SlipwayEvent } from '../core/events.ts';
import type { CommandContext } from './config-commands.ts';
import { positiveInt } from './positive-int.ts';
import { terminalSafe } from './output.ts';

const LEVEL_COLOUR: Record<string, (s: string) => string> = {
  trace: pc.dim, debug: pc.dim, info: pc.green, warn: pc.yellow, error: pc.red, fatal: pc.red,
};
/** Fields shown by the line itself (time, level, message), not repeated after it. */
const SHOWN = new Set(['msg', 'message', 'level', 'time', 'ts', 'timestamp']);

function since(v: string): string {
  if (parseDurationMs(v) === null && !Number.isFinite(Date.parse(v))) throw new InvalidArgumentError('expected a duration such as 30s, 10m or 2h, or an ISO time');
  return v;
}

/** One record as a line: time, instance, level, message, then the instance's other fields as JSON. */
export function formatLogRecord(r: LogRecordJson): string {
  const time = r.ts ? new Date(r.ts).toISOString().replace('T', ' ').slice(0, 23) : ''.padEnd(23);
  const level = (LEVEL_COLOUR[r.level] ?? ((s: string) => s))(r.level.toUpperCase().padEnd(5));
  const extra = r.fields ? Object.fromEntries(Object.entries(r.fields).filter(([k]) => !SHOWN.has(k))) : {};
  const rest = Object.keys(extra).length ? ` ${pc.dim(JSON.stringify(extra))}` : '';
  const stream = r.stream === 'stdout' ? '' : ` ${pc.dim(`[${r.stream}]`)}`;
  return `${pc.dim(time)} ${pc.cyan(r.instance)}${stream} ${level} ${terminalSafe(r.msg)}${rest}`;
}

export function formatEventLine(e: SlipwayEvent): string {
  const time = new Date(e.ts).toISOString().replace('T', ' ').slice(0, 23);
  const colour = e.level === 'error' ? pc.red : e.level === 'warn' ? pc.yellow : (s: string) => s;
  return `${pc.dim(time)} ${pc.dim(`#${e.id}`)} ${pc.cyan(e.type.padEnd(19))} ${colour(terminalSafe(e.message))}`;
}

export function registerLogsCommands(program: Command, ctx: CommandContext): void {
  program
    .command('events')
    .description('follow slipway\'s events (rollouts, steps, analysis, approvals, instances) as they happen; Ctrl-C to stop')
    .option('--env <env>', 'only this environment')
    .option('--types <list>', 'comma-separated event types or prefixes, e.g. rollout.*,analysis.result')
    .option('--after <id>', 'first replay the kept events after this id (0: all of them)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected an event id (a whole number)');
      return n;
    })
    .addHelpText('after', '\nThe stream is resumed from the last event seen if the connection drops. With --json, one event per line.\nEvent types: see docs/observability.md.')
    .action(async (o: { env?: string; types?: string; after?: number }, cmd: Command) => {
      const json = ctx.isJson(cmd);
      await ctx.client(cmd).followEvents(o, (e) => process.stdout.write(json ? `${JSON.stringify(e)}\n` : `${formatEventLine(e)}\n`));
    });


  program
    .command('logs')
    .description("the instances' output (stdout and stderr) in <env>, as records: a JSON line keeps its fields, other lines get a time, stream and level")
    .argument('<env>')
    .option('--release <n>', 'only instances of release number N', positiveInt)
    .option('--instance <id>', 'only this instance')
    .option('--since <time>', 'only records since then: a duration back from now (30s, 10m, 2h) or an ISO time', since)
    .option('--grep <text>', "only records whose message or fields contain this text (plain, case-sensitive)")
    .addOption(new Option('--level <level>', 'only records at this level or above').choices([...LOG_LEVEL_NAMES]))
    .option('-n, --lines <n>', 'how many recent records', positiveInt, 100)
    .option('-f, --follow', 'keep printing new records as they are written (Ctrl-C to stop)')
    .addHelpText('after', '\nWith --json, one record per line (NDJSON), as the API sends them.\nExamples:\n  slipway logs production --since 10m --level warn\n  slipway logs staging --release 4 --grep "payment failed" -f')
    .action(async (env: string, o: { release?: number; instance?: string; since?: string; grep?: string; level?: LogsQuery['level']; lines: number; follow?: boolean }, cmd: Command) => {
      const c = ctx.client(cmd);
      const json = ctx.isJson(cmd);
      const print = (r: LogRecordJson) => process.stdout.write(json ? `${JSON.stringify(r)}\n` : `${formatLogRecord(r)}\n`);
      const q: LogsQuery = {
        lines: o.lines,
        ...(o.release !== undefined ? { release: o.release } : {}),
        ...(o.instance ? { instance: o.instance } : {}),
        ...(o.since ? { since: o.since } : {}),
        ...(o.grep ? { grep: o.grep } : {}),
        ...(o.level ? { level: o.level } : {}),
      };
      if (o.follow) {
        await c.followLogs(env, q, print);
        return;
      }
      const { records } = await c.logs(env, q);
      for (const r of records) print(r);
      // An empty answer is not an error, but a bare prompt reads like one; a script gets nothing.
      if (records.length === 0 && !json) {
        const filtered = o.release !== undefined || o.instance || o.since || o.grep || o.level;
        process.stderr.write(`no log records of ${c.qualify(env)}${filtered ? ' match these filters' : ': its instances have written nothing yet'}\n`);
      }
    });
}
