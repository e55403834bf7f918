// Real open-source apps from npm behind slipway, used as a new user would: each is
// `npm install`ed into its own service directory with a slipway.yaml, deployed with
// the real CLI to one slipway server on a scratch data directory, and then used
// through the router and straight at its instance. Every difference is printed;
// the figures (requests, errors, req/s, p50/p99, bytes, seconds) come as one table.
//
//   node --import tsx bench/real-apps.ts [--rounds 3] [--gets 300] [--no-browser]
//                                        [--apps json-server,node-red,verdaccio]
//
// - json-server: a CRUD sequence, then bursts of GETs (router against direct, and
//   against nginx in front of the same instance where nginx is installed);
// - Node-RED: the editor page, its /comms WebSocket, the editor in Chromium for
//   10 s, a flow deployed through the admin API (HTTP endpoint and WebSocket echo);
// - Verdaccio: `npm publish` of a 50 MiB incompressible package, its tarball read
//   back (sha256), and a publish over the environment's proxy.max_body (413).
//
// One server carries the three apps, each its own service with its own environment:
// a server holds several services as long as their environment names differ, and
// one server instead of three leaves more of a small machine to the apps. Everything
// it starts (server, router, instances, browser) is stopped and the scratch
// directory removed at the end, also when a step fails or on Ctrl-C.

import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, runCli, scratchDir, shutdownEverything, startServerProcess, type ServerProcess } from '../test/support/harness.ts';
import { BenchReport } from './lib/bench-report.ts';
import { installApp, writeJsonServer, writeNodeRed, writeVerdaccio, type AppName, type AppService } from './lib/real-app-services.ts';
import { checkJsonServer, checkNodeRed, checkVerdaccio, type ScenarioOptions } from './lib/real-app-scenarios.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    gets: { type: 'string', default: '300' },
    'no-browser': { type: 'boolean', default: false },
    apps: { type: 'string', default: 'json-server,node-red,verdaccio' },
  },
});

const APPS: Record<AppName, { write: (dir: string, listen: string) => AppService; check: (o: ScenarioOptions & { browser: boolean }) => Promise<void> }> = {
  'json-server': { write: writeJsonServer, check: checkJsonServer },
  'node-red': { write: writeNodeRed, check: checkNodeRed },
  verdaccio: { write: writeVerdaccio, check: checkVerdaccio },
};
const isApp = (a: string): a is AppName => a in APPS;
const apps = values.apps.split(',').map((a) => a.trim()).filter(isApp);
if (apps.length !== values.apps.split(',').length) throw new Error(`--apps: choose among ${Object.keys(APPS).join(', ')}, got ${values.apps}`);

const work = scratchDir('slipway-real-apps-');
const dataDir = join(work, '.slipway');
const report = new BenchReport();
let server: ServerProcess | null = null;
let cleaned = false;

async function cleanUp(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  const t0 = performance.now();
  await shutdownEverything(server?.url ?? null, dataDir).catch((e: unknown) => console.error('shutdown:', e));
  if (server && server.child.exitCode === null) await server.stop();
  // Some minutes on a disk mounted with discard: ~300 MiB of node_modules and packages.
  rmSync(work, { recursive: true, force: true });
  console.log(`stopped the server, router and instances and removed ${work} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void cleanUp().finally(() => process.exit(130)));
}

const cli = (service: AppService, ...args: string[]) => runCli(args, { cwd: service.dir, dataDir, timeoutMs: 600_000 });

/** npm install, the app's config and slipway.yaml, then `slipway validate` as a new user would. */
async function prepare(app: AppName, write: (dir: string, listen: string) => AppService): Promise<AppService> {
  const dir = join(work, app);
  const installSeconds = await installApp(dir, app);
  const service = write(dir, `127.0.0.1:${await freePort()}`);
  const v = await cli(service, 'validate');
  report.check(v.code === 0, `${app}: slipway validate`, `${v.stdout.trim()}${v.stderr.trim()} (npm install ${installSeconds.toFixed(1)} s)`);
  return service;
}

async function deploy(service: AppService): Promise<void> {
  const t0 = performance.now();
  const r = await cli(service, 'deploy', service.env);
  const seconds = (performance.now() - t0) / 1000;
  const packed = /packed .*/.exec(r.stdout)?.[0] ?? '';
  if (!report.check(r.code === 0, `${service.app}: slipway deploy ${service.env}`, `${packed}; ${seconds.toFixed(1)} s`)) {
    throw new Error(`deploy of ${service.app} failed:\n${(r.stdout + r.stderr).slice(-3000)}`);
  }
}

/** The ready instance's port, as `slipway status --json` gives it. */
async function instancePort(service: AppService): Promise<number> {
  const r = await cli(service, 'status', '--json');
  // Environments are keyed <service>/<environment>; `name` is the environment's own name.
  const status = JSON.parse(r.stdout) as { environments: { name: string; instances: { port: number | null; state: string }[] }[] };
  const port = status.environments.find((e) => e.name === service.env)?.instances.find((i) => i.state === 'ready')?.port;
  if (!port) throw new Error(`no ready instance of ${service.env} in slipway status:\n${r.stdout.slice(0, 2000)}`);
  return port;
}

/** On a failure, the server's and the instances' last lines, before the scratch directory goes. */
function printLogTails(): void {
  const tail = (file: string) => readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  const files = [join(work, 'server.log')];
  const logs = join(dataDir, 'logs');
  if (existsSync(logs)) for (const env of readdirSync(logs)) for (const f of readdirSync(join(logs, env))) files.push(join(logs, env, f));
  for (const f of files.filter((x) => existsSync(x) && statSync(x).isFile())) console.log(`\n--- ${f.slice(work.length + 1)}\n${tail(f)}`);
}

try {
  console.log(`real apps behind slipway; scratch ${work}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} on this machine`);
  const services: AppService[] = [];
  for (const app of apps) services.push(await prepare(app, APPS[app].write));
  server = await startServerProcess(dataDir);
  for (const s of services) await deploy(s);
  const options = { report, work, rounds: Number(values.rounds), gets: Number(values.gets), browser: !values['no-browser'] };
  for (const s of services) await APPS[s.app].check({ ...options, router: `http://${s.listen}`, direct: `http://127.0.0.1:${await instancePort(s)}` });
} catch (e) {
  report.check(false, 'the bench ran to the end', e instanceof Error ? e.message : String(e));
} finally {
  report.print();
  if (report.failures.length > 0) printLogTails();
  console.log(report.failures.length === 0 ? '\nall checks passed' : `\n${report.failures.length} check(s) failed:\n- ${report.failures.join('\n- ')}`);
  await cleanUp();
}
process.exitCode = report.failures.length === 0 ? 0 : 1;
