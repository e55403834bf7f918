// `slipway down`, `slipway remove` and `slipway server stop`: taking things out of
// service on purpose, without `ps` and `kill`. Like every command they only talk to
// the server; `server stop` then watches the processes it named go away.

import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import pc from 'picocolors';
import { SlipwayError } from '../core/errors.ts';
import type { DownAnswerJson, RemoveAnswerJson } from '../api/views.ts';
import type { CommandContext } from './config-commands.ts';
import { formatBytes } from './send-changes.ts';

/** How long `server stop` waits for the server (and with --all, what it started) to be gone. */
const STOP_WAIT_MS = 120_000;

export function registerTeardownCommands(program: Command, ctx: CommandContext): void {
  program
    .command('down')
    .description('stop every instance of <env> and release its listen address; releases and history stay, `slipway deploy <env>` brings it up again')
    .argument('<env>', 'environment name (or service/env)')
    .addHelpText('after', '\nNeeds the deploy permission in <env>. Refused while a rollout runs there (wait, or `slipway abort`).')
    .action(async (env: string, _o: unknown, cmd: Command) => {
      const r = await ctx.client(cmd).down(env);
      ctx.out(cmd, r, () => formatDown(r));
    });

  program
    .command('remove')
    .description('take <env> down, then forget it: its releases, rollouts, config versions and secrets (audit entries stay)')
    .argument('<env>', 'environment name (or service/env)')
    .option('-y, --yes', 'do not ask for confirmation (needed when there is no terminal to ask on)')
    .addHelpText('after', '\nNeeds an admin token. Refused while a rollout runs there. The app\'s own data directory (SLIPWAY_APP_DATA) is left in place.')
    .action(async (env: string, o: { yes?: boolean }, cmd: Command) => {
      const client = ctx.client(cmd);
      const key = client.qualify(env);
      if (!o.yes) await confirm(`remove ${key}? Its releases, rollouts, config versions and secrets are forgotten for good (audit entries stay).`);
      const r = await client.remove(env);
      ctx.out(cmd, r, () => formatRemove(r));
    });

  const server = program.commands.find((c) => c.name() === 'server');
  if (!server) throw new Error('register the server command before the teardown commands');
  server
    .command('stop')
    .description('stop the server of --data-dir (or --server); with --all also every instance and the router it started')
    .option('--all', 'also drain and stop every instance and the router: nothing of the data directory keeps running')
    .addHelpText('after', '\nNeeds an admin token. Without --all, instances and the router keep serving, and the next `slipway server` adopts them.')
    .action(async (o: { all?: boolean }, cmd: Command) => {
      const client = ctx.client(cmd);
      const info = (await client.serverInfo()) as { pid?: number; dataDir?: string; router?: { pid?: number } };
      // Pids are watched only for a server of this machine (its data directory is here); a remote one is watched by its API alone.
      const local = typeof info.dataDir === 'string' && existsSync(info.dataDir);
      const pids = local ? [info.pid, ...(o.all ? [info.router?.pid] : [])].filter((p): p is number => typeof p === 'number') : [];
      await client.shutdown({ stopInstances: !!o.all, stopRouter: !!o.all });
      // The server answers before it stops; it is gone once its API no longer answers and its pid (on this machine) has ended.
      const deadline = Date.now() + STOP_WAIT_MS;
      while (Date.now() < deadline && ((await answers(client.baseUrl)) || pids.some(isRunningHere))) await sleep(100);
      const left = pids.filter(isRunningHere);
      if (left.length || (await answers(client.baseUrl))) {
        throw new SlipwayError('E_INTERNAL', `the server at ${client.baseUrl} was asked to stop, but ${left.length ? `pid ${left.join(', ')} still runs` : 'it still answers'} after ${STOP_WAIT_MS / 1000}s; see its log`);
      }
      const answer = { stopped: true, all: !!o.all, pid: info.pid ?? null, routerPid: o.all ? info.router?.pid ?? null : null, dataDir: info.dataDir ?? null };
      ctx.out(cmd, answer, () => o.all
        ? `${pc.green('stopped')} the server (pid ${info.pid}), its instances and the router (pid ${info.router?.pid ?? '-'}); nothing of ${info.dataDir ?? 'its data directory'} runs any more`
        : `${pc.green('stopped')} the server (pid ${info.pid}); instances and the router keep serving (\`slipway server stop --all\` stops them too)`);
    });
}

function formatDown(r: DownAnswerJson): string {
  const was = r.down.release === null ? '' : ` (it ran #${r.down.release})`;
  if (!r.changed) return `${r.env} is down already, since ${new Date(r.down.at).toISOString()} by ${r.down.by}${was}`;
  return [
    `${pc.green('down')} ${r.env}${was}: ${stoppedWhat(r)}`,
    `its releases and history stay; \`slipway deploy ${r.env}\` brings it up again, \`slipway remove ${r.env}\` forgets it`,
  ].join('\n');
}

/** What down stopped: pods on a cluster (whose Gateway route is deleted), or instances here and their listener. */
function stoppedWhat(r: DownAnswerJson): string {
  if (r.clusterStopped.length > 0) return `${clusterWhat(r.clusterStopped)}, its route deleted`;
  // An address shared by host stays open for the environments still on it.
  const kept = r.listenerKeptFor ?? [];
  if (kept.length > 0) return `${r.stopped.length} instance(s) stopped, its hosts taken off the listener it shares with ${kept.join(', ')}, which keeps serving`;
  return `${r.stopped.length} instance(s) stopped, its listen address released`;
}

function clusterWhat(releases: DownAnswerJson['clusterStopped']): string {
  return `${releases.map((c) => `#${c.release} (${c.replicas} pod(s))`).join(', ')} scaled to 0 on the cluster`;
}

function formatRemove(r: RemoveAnswerJson): string {
  const f = r.forgotten;
  return [
    `${pc.green('removed')} ${r.env}: ${r.clusterStopped.length > 0 ? `${clusterWhat(r.clusterStopped)}, every object of it deleted from the cluster` : `${r.stopped.length} instance(s) stopped`}; forgot ${f.releases} release(s), ${f.rollouts} rollout(s), ${f.configVersions} config version(s), ${f.secretVersions} secret version(s); audit entries stay`,
    // A server older than this command answers without images.
    ...(r.images ? imageLines(r.images) : []),
    ...(r.appDataKept ? [`its app data is left in ${r.appDataKept}: delete it yourself if nothing needs it`] : []),
  ].join('\n');
}

/** Said only for an environment whose releases ran images (a container runtime). */
function imageLines(images: RemoveAnswerJson['images']): string[] {
  const short = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);
  return [
    ...(images.removed.length > 0 ? [`${images.removed.length} image(s) of its releases removed from the Docker engine (${images.removed.map(short).join(', ')}), ${formatBytes(images.bytesFreed)} freed`] : []),
    ...images.kept.map((k) => `image ${short(k.image)} stays: ${k.why}`),
    ...images.failed.map((f) => `${pc.yellow('image')} ${short(f.image)} could not be removed: ${f.error}; remove it by hand (docker image rm -f ${short(f.image)})`),
  ];
}

/** Asks on the terminal; with none (a script, a pipe), refuses: a script says --yes. */
async function confirm(question: string): Promise<void> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new SlipwayError('E_BAD_REQUEST', 'remove forgets an environment for good and there is no terminal to confirm on; pass --yes');
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const a = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
    if (a !== 'y' && a !== 'yes') throw new SlipwayError('E_BAD_REQUEST', 'not confirmed: nothing was removed');
  } finally {
    rl.close();
  }
}

async function answers(baseUrl: string): Promise<boolean> {
  try {
    await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

/** Whether `pid` is a live process on this machine (a zombie counts as gone). */
function isRunningHere(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
