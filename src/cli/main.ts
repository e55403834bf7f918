// The `slipway` command. Local work (reading slipway.yaml, packing the directory)
// happens here; everything that touches state goes to the server over its API.

import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import pc from 'picocolors';
import { SlipwayError } from '../core/errors.ts';
import { CONFIG_FILE_NAME, formatConfigIssue, readConfigText } from '../config/index.ts';
import { validateServiceConfig } from '../config/validate-service.ts';
import { runInit } from './init-command.ts';
import { positiveInt } from './positive-int.ts';
import { slipwayVersion } from './version.ts';
import { DEFAULT_DATA_DIR } from '../store/data-dir.ts';
import { DEFAULT_ROUTER_WORKERS, MAX_ROUTER_WORKERS } from '../core/router-workers.ts';
import { ApiClient, findServer, findToken, followRollout } from './api-client.ts';
import { serverUnit } from './server-unit.ts';
import { registerAuthCommands } from './auth-commands.ts';
import { runDeploy } from './deploy-command.ts';
import { serviceHere } from './service-here.ts';
import { serviceDirFor } from './service-dir.ts';
import { registerConfigCommands } from './config-commands.ts';
import { registerLogsCommands } from './logs-commands.ts';
import { registerRenderCommand } from './render-command.ts';
import { registerPipelineCommands } from './pipeline-commands.ts';
import { registerCiKeyCommands, registerCiReleaseCommand } from './ci-release-command.ts';
import { registerDashboardCommands } from './dashboard-commands.ts';
import { registerPolicyCommands } from './policy-commands.ts';
import { registerTeardownCommands } from './teardown-commands.ts';
import { declaredEnvironments, formatStrays, strayEnvironments } from './stray-environments.ts';
import { registerTrafficCommands } from './traffic-commands.ts';
import { interruptedDetail } from './interrupt-note.ts';
import { formatEvent, formatRolloutLine, formatStatus, printError } from './output.ts';
import { fetchReleases, formatReleases } from './release-output.ts';
import { MAX_PAGE_LIMIT } from '../api/schemas.ts';

interface GlobalOpts {
  dataDir: string;
  server?: string;
  token?: string;
  service?: string;
  json?: boolean;
}

const program = new Command();
program
  .name('slipway')
  .description('Deploy web services safely: staging then production, rolling with zero downtime, one-command rollback.')
  .option('--data-dir <dir>', 'where the server keeps its state (default: $SLIPWAY_DATA_DIR, else .slipway)', process.env.SLIPWAY_DATA_DIR || DEFAULT_DATA_DIR)
  .option('--server <url>', 'the slipway server to talk to (default: $SLIPWAY_SERVER, else the one running on --data-dir, else the one this user runs on the machine)')
  .option('--token <token>', 'API token (default: $SLIPWAY_TOKEN, else admin.token in --data-dir)')
  .option('--service <name>', 'the service whose environments bare names like `production` mean (default: $SLIPWAY_SERVICE, else service: of ./slipway.yaml); `shop/production` names one directly')
  .option('--json', 'print machine-readable JSON instead of text')
  .version(slipwayVersion(), '-V, --version', "print slipway's version")
  .showHelpAfterError()
  // `slipway deploy --help` lists --json, --server and --token too: they work after any command.
  .configureHelp({ showGlobalOptions: true })
  .configureOutput({ outputError: (str) => printError(new SlipwayError('E_BAD_REQUEST', usageMessage(str)), isJsonRequested()) });

function isJsonRequested(): boolean {
  return process.argv.includes('--json');
}

/**
 * commander's own refusals (an unknown option or command, a missing argument, a bad
 * flag value) read like every other error: `error [E_BAD_REQUEST] ...`, and under
 * --json the one JSON document on stdout; the help after one still goes to stderr.
 * Subcommands inherit this output.
 */
function usageMessage(text: string): string {
  return text.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ');
}

function noteOnStderr(s: string): void {
  process.stderr.write(`${pc.dim(s)}\n`);
}

function globals(cmd: Command): GlobalOpts {
  return cmd.optsWithGlobals() as GlobalOpts;
}

function client(cmd: Command): ApiClient {
  const g = globals(cmd);
  const dataDirChosen = program.getOptionValueSource('dataDir') === 'cli' || !!process.env.SLIPWAY_DATA_DIR;
  const found = findServer({ server: g.server, dataDir: g.dataDir, dataDirChosen });
  return new ApiClient(checkedServerUrl(found.url, found.source), findToken({ token: g.token, dataDir: found.dataDir }), serviceHere({ service: g.service }));
}

/** `--server 7070` or `--server localhost:7070` is a mistake to name, not an unreachable server. */
function checkedServerUrl(url: string, source: string): string {
  if (URL.canParse(url) && /^https?:$/.test(new URL(url).protocol)) return url;
  throw new SlipwayError('E_BAD_REQUEST', `${source} must be the server's URL, e.g. http://127.0.0.1:7070, not "${url}"`, { field: source });
}

function out(cmd: Command, data: unknown, human: () => string): void {
  if (globals(cmd).json) process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
  else process.stdout.write(`${human()}\n`);
}

function parseRouterWorkers(v: string): number {
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= MAX_ROUTER_WORKERS)) throw new InvalidArgumentError(`expected a whole number from 1 to ${MAX_ROUTER_WORKERS}`);
  return n;
}

/** $SLIPWAY_ROUTER_WORKERS, else the default; a bad value is refused before anything starts. */
function routerWorkersFromEnv(): number {
  const v = process.env.SLIPWAY_ROUTER_WORKERS;
  if (v === undefined || v === '') return DEFAULT_ROUTER_WORKERS;
  try {
    return parseRouterWorkers(v);
  } catch (e) {
    throw new SlipwayError('E_BAD_REQUEST', `SLIPWAY_ROUTER_WORKERS: ${(e as Error).message}, got "${v}"`);
  }
}

/** A data directory the server cannot make or write (a file, read-only, not this user's) is a bad --data-dir, not a bug. */
function dataDirRefusal(e: unknown, dataDir: string): SlipwayError | null {
  const sys = e as NodeJS.ErrnoException;
  const root = resolve(dataDir);
  const isInside = typeof sys.path === 'string' && (resolve(sys.path) === root || resolve(sys.path).startsWith(`${root}/`));
  // SQLite names no path, but its only files (the lock, state.db) are in the data directory.
  const isSqlite = sys.code === 'SQLITE_CANTOPEN' || sys.code === 'SQLITE_READONLY';
  if (!isSqlite && (!isInside || !['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST'].includes(sys.code ?? ''))) return null;
  return new SlipwayError('E_BAD_REQUEST', `--data-dir ${dataDir} cannot be used: ${sys.message}; give a directory this user can create and write (--data-dir or SLIPWAY_DATA_DIR)`, { field: 'dataDir', path: sys.path }, { cause: e });
}

function parseListen(v: string): { host: string; port: number } {
  const m = /^(?:(.+):)?(\d{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError('expected HOST:PORT or PORT, e.g. 127.0.0.1:7070');
  return { host: m[1] ?? '127.0.0.1', port };
}

program
  .command('init')
  .description('write a commented slipway.yaml for the service in this directory')
  .option('--service <name>', 'service name (default: the directory name)')
  .option('--command <cmd>', 'how to start one instance (default: guessed from package.json, requirements.txt/pyproject.toml or index.html)')
  .option('--force', 'overwrite an existing slipway.yaml')
  .action((o: { service?: string; command?: string; force?: boolean }, cmd: Command) => {
    const r = runInit({ dir: process.cwd(), service: o.service ?? globals(cmd).service, command: o.command, force: !!o.force });
    out(cmd, r, () => `${r.summary}\nwrote ${r.file} for service "${r.service}"; read its comments, then check it with \`slipway validate\``);
  });

program
  .command('validate')
  .description("check slipway.yaml and report every problem with file:line:col, and that run.command's program exists in this directory, node_modules/.bin or PATH")
  .option('-f, --file <path>', 'config file', CONFIG_FILE_NAME)
  .option('--strict', 'fail on warnings too (plain values that look like secrets)')
  .action((o: { file: string; strict?: boolean }, cmd: Command) => {
    const dir = serviceDirFor('.', { isDefault: cmd.getOptionValueSource('file') === 'default', note: noteOnStderr });
    const path = resolve(dir, o.file);
    if (!existsSync(path)) throw new SlipwayError('E_CONFIG_NOT_FOUND', `${o.file} not found; create one with \`slipway init\``);
    const r = validateServiceConfig(readConfigText(path), o.file, { serviceDir: dirname(path), pathEnv: process.env.PATH ?? '' });
    if (r.ok) {
      const failed = !!o.strict && r.warnings.length > 0;
      const label = failed ? pc.red('error') : pc.yellow('warning');
      out(cmd, { ok: !failed, service: r.config.service, environments: Object.keys(r.config.environments), warnings: r.warnings }, () =>
        [...r.warnings.map((w) => `${label} ${formatConfigIssue(w)}`),
          failed ? `${pc.red('refused')} ${o.file}: ${r.warnings.length} warning(s), and --strict` : `${pc.green('ok')} ${o.file}: service ${r.config.service}, environments ${Object.keys(r.config.environments).join(', ')}${r.warnings.length ? ` (${r.warnings.length} warning(s))` : ''}`,
        ].join('\n'));
      if (failed) process.exitCode = 1;
      return;
    }
    // The program check needs a config that parses: say so rather than let a later run surprise.
    out(cmd, { ok: false, issues: r.issues }, () => [...r.issues.map(formatConfigIssue), pc.dim("(run.command's program is looked for once these are fixed)")].join('\n'));
    process.exitCode = 1;
  });

program
  .command('server')
  .description('run the control plane (API, reconciler, router supervisor) in the foreground')
  .addOption(new Option('--listen <addr>', 'API address, host:port').argParser(parseListen).default({ host: '127.0.0.1', port: 7070 }, '127.0.0.1:7070'))
  .addOption(new Option('--log-level <level>', "the server's own log level").choices(['trace', 'debug', 'info', 'warn', 'error']).default(process.env.SLIPWAY_LOG_LEVEL ?? 'info'))
  .addOption(new Option('--log-format <format>', "the server's own log lines: json (for collectors) or pretty (for people)").choices(['json', 'pretty']).default(process.env.SLIPWAY_LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json'), 'pretty on a terminal, else json'))
  .addOption(new Option('--router-workers <n>', `the router's worker processes, 1 to ${MAX_ROUTER_WORKERS} (default ${DEFAULT_ROUTER_WORKERS}, or $SLIPWAY_ROUTER_WORKERS): two or more keep serving when one dies; on a small host one serves more requests per second (docs/router.md). A running router is changed with no gap`).argParser(parseRouterWorkers))
  .action(async (o: { listen: { host: string; port: number }; logLevel: string; logFormat: 'json' | 'pretty'; routerWorkers?: number }, cmd: Command) => {
    const routerWorkers = o.routerWorkers ?? routerWorkersFromEnv();
    const { startServer } = await import('../server.ts');
    const dataDir = globals(cmd).dataDir;
    const server = await startServer({ dataDir, host: o.listen.host, port: o.listen.port, logLevel: o.logLevel, logFormat: o.logFormat, routerWorkers }).catch((e: unknown) => {
      throw dataDirRefusal(e, dataDir) ?? e;
    });
    const stop = () => void server.close();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await server.closed;
  });

program.commands.find((c) => c.name() === 'server')!
  .command('unit')
  .description('print a systemd unit that runs this server on the host: started at boot, restarted after a crash, and stopped or restarted without stopping the router and instances')
  .addHelpText('after', "\nIt runs `slipway server` with this command's --data-dir and `server`'s --listen and --router-workers, e.g.\n  slipway --data-dir /var/lib/slipway server --listen 127.0.0.1:7070 unit > /etc/systemd/system/slipway.service\n  systemctl daemon-reload && systemctl enable --now slipway")
  .action((_o: unknown, cmd: Command) => {
    const server = cmd.parent!.opts() as { listen: { host: string; port: number }; routerWorkers?: number };
    process.stdout.write(serverUnit({ dataDir: globals(cmd).dataDir, listen: server.listen, routerWorkers: server.routerWorkers }));
  });

program
  .command('deploy')
  .description('send what changed in this directory (its manifest, then only the files the server lacks: docs/deploy.md) and roll it out to <env>; waits and shows progress; with --json, `upload` counts what was sent')
  .argument('<env>', 'environment name from slipway.yaml')
  .option('-d, --dir <path>', 'service directory', '.')
  .option('-f, --file <path>', 'config file, relative to --dir', CONFIG_FILE_NAME)
  .option('--detach', 'return once the rollout is accepted')
  .option('--force', 'deploy even if nothing changed since the stable release')
  .action(async (env: string, o: { dir: string; file: string; detach?: boolean; force?: boolean }, cmd: Command) => {
    const isDefault = cmd.getOptionValueSource('dir') === 'default' && cmd.getOptionValueSource('file') === 'default';
    const dir = serviceDirFor(o.dir, { isDefault, note: noteOnStderr });
    const code = await runDeploy({ client: () => client(cmd), env, dir, file: o.file, detach: !!o.detach, force: !!o.force, json: !!globals(cmd).json });
    process.exitCode = code;
  });

program
  .command('status')
  .description('releases, rollouts, instances, health and traffic weights')
  .argument('[env]', 'one environment (default: all)')
  .action(async (env: string | undefined, _o: unknown, cmd: Command) => {
    const s = await client(cmd).status(env);
    // Environments of this directory's service that its slipway.yaml no longer has.
    const strays = strayEnvironments(s, declaredEnvironments());
    out(cmd, env ? s[0] : { environments: s, notInConfig: strays }, () => [formatStatus(s), formatStrays(strays)].filter(Boolean).join('\n\n'));
  });

program
  .command('releases')
  .description('the releases of an environment, newest first (the newest 50 unless --limit or --all), and which a rollback can go to (not one removed by release retention)')
  .argument('<env>')
  .option('-n, --limit <n>', `how many of the newest (1 to ${MAX_PAGE_LIMIT}; default 50)`, positiveInt)
  .option('--all', 'every release, paged through')
  .action(async (env: string, o: { limit?: number; all?: boolean }, cmd: Command) => {
    if (o.all && o.limit !== undefined) throw new SlipwayError('E_BAD_REQUEST', 'give --limit N or --all, not both');
    const c = client(cmd);
    const r = await fetchReleases(c.releases.bind(c), env, o);
    out(cmd, r, () => formatReleases(r));
  });

program
  .command('rollback')
  .description('roll <env> back to the previous stable release (or --to N) by the rolling path')
  .argument('<env>')
  .option('--to <number>', 'release number to go back to', positiveInt)
  .option('--detach', 'return once the rollback is accepted')
  .action(async (env: string, o: { to?: number; detach?: boolean }, cmd: Command) => {
    const c = client(cmd);
    const json = !!globals(cmd).json;
    const r = await c.rollback(env, o.to !== undefined ? { to: o.to } : {});
    if (!json) process.stdout.write(`rolling ${env} back to #${r.release.number} (rollout #${r.rollout.id})\n`);
    if (o.detach) {
      if (json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      return;
    }
    // With a rollout under way, rollback is its abort: success is then `rolled_back`.
    const wanted = r.rollout.phase === 'aborting' ? 'rolled_back' : 'succeeded';
    const shown = new Set<string>();
    const final = await followRollout(c, r.rollout.id, (e) => !json && process.stdout.write(`${formatEvent(e, shown)}\n`));
    if (json) process.stdout.write(`${JSON.stringify({ release: r.release, rollout: final }, null, 2)}\n`);
    else process.stdout.write(`${formatRolloutLine(final, shown)}\n`);
    process.exitCode = final.phase === wanted ? 0 : 1;
  });

for (const [action, help] of [
  ['pause', 'hold the rollout of <env> at its current step'],
  ['resume', 'carry on a paused rollout'],
  ['promote', 'go past the pause the rollout of <env> waits at (--full: finish it now)'],
  ['abort', 'send all traffic of <env> back to the stable release at once, then stop the new instances'],
] as const) {
  const c = program.command(action).description(help).argument('<env>');
  if (action === 'promote') c.option('--full', 'skip all remaining steps: full size, all traffic, old release stopped');
  if (action === 'abort') c.option('--wait', 'wait until the new instances are stopped');
  c.action(async (env: string, o: { full?: boolean; wait?: boolean }, cmd: Command) => {
    const api = client(cmd);
    const { rollout } = await api.rolloutCommand(env, action, action === 'promote' ? { full: !!o.full } : {});
    if (o.wait && action === 'abort') {
      const final = await followRollout(api, rollout.id, (e) => !globals(cmd).json && process.stdout.write(`${formatEvent(e)}\n`));
      out(cmd, { rollout: final }, () => formatRolloutLine(final));
      return;
    }
    out(cmd, { rollout }, () => formatRolloutLine(rollout));
  });
}

registerConfigCommands(program, { client, out, isJson: (cmd) => !!globals(cmd).json });
registerAuthCommands(program, { client, out, isJson: (cmd) => !!globals(cmd).json });
registerLogsCommands(program, { client, out, isJson: (cmd) => !!globals(cmd).json });
registerRenderCommand(program, { isJson: (cmd) => !!globals(cmd).json });
registerPipelineCommands(program, { client, out, isJson: (cmd) => !!globals(cmd).json });
registerCiReleaseCommand(program, { client, out, isJson: (cmd) => !!globals(cmd).json });
registerCiKeyCommands(program, { client, out, isJson: (cmd) => !!globals(cmd).json });
registerDashboardCommands(program, { client, out, isJson: (cmd) => !!globals(cmd).json });
registerPolicyCommands(program, { client, out, isJson: (cmd) => !!globals(cmd).json });
registerTeardownCommands(program, { client, out, isJson: (cmd) => !!globals(cmd).json });
registerTrafficCommands(program, { client, out, isJson: (cmd) => !!globals(cmd).json });

program
  .command('demo')
  .description('start a server, deploy the bundled example to staging and production, then v2 under load')
  .option('--once', 'stop everything it started and exit when done (default: keep running until Ctrl-C)')
  .action(async (o: { once?: boolean }) => {
    const { runDemo } = await import('./demo.ts');
    process.exitCode = await runDemo({ once: !!o.once });
  });

/** `slipway --json --version` (either order, before any command): the version as JSON, as --json promises. */
function isJsonVersion(argv: readonly string[]): boolean {
  const head: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) break;
    head.push(a);
    // The global options that take a value: it is not a command name.
    if (['--data-dir', '--server', '--token', '--service'].includes(a)) i++;
  }
  return head.includes('--json') && (head.includes('--version') || head.includes('-V'));
}

// Commands that handle Ctrl-C themselves, or whose usual end it is (following a stream).
const ENDED_BY_CTRL_C = new Set(['server', 'demo', 'logs', 'events', 'watch-branch']);

/**
 * Ctrl-C stops only the waiting: a deploy, rollback or config change the server
 * has accepted runs on there. Said once, so nobody takes the silence for an undo.
 */
function sayInterrupted(): void {
  process.stderr.write(`\n${pc.yellow('interrupted')}: slipway stopped waiting. ${interruptedDetail()}\n`);
  process.exit(130);
}

program.hook('preAction', (_program, action) => {
  let top = action;
  while (top.parent && top.parent !== program) top = top.parent;
  if (!ENDED_BY_CTRL_C.has(top.name())) process.once('SIGINT', sayInterrupted);
});

if (isJsonVersion(process.argv.slice(2))) process.stdout.write(`${JSON.stringify({ version: slipwayVersion() })}\n`);
else {
  let isSettled = false;
  // A command left waiting on something that can no longer happen (nothing keeps the
  // process alive) would end with exit 0, as if it had done its work: say so, exit 1.
  process.once('beforeExit', () => {
    if (isSettled) return;
    printError(new SlipwayError('E_INTERNAL', 'the command stopped before it finished: what it waited for can no longer happen (a bug in slipway); `slipway status` shows what was done'), isJsonRequested());
    process.exitCode = 1;
  });
  program.parseAsync(process.argv).catch((e: unknown) => {
    printError(e, isJsonRequested());
    process.exitCode = e instanceof SlipwayError && e.code === 'E_CONFIG_INVALID' ? 1 : process.exitCode || 1;
  }).finally(() => {
    isSettled = true;
  });
}
