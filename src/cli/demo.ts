// `slipway demo`: the whole foundation in one command. It copies the bundled example
// service to a scratch directory, starts a real server (and so the router), deploys
// v1 to staging then production, then v2 to both by rolling while a client sends
// traffic, and reports how many requests failed (the answer should be 0).

import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pc from 'picocolors';
import { parseDocument } from 'yaml';
import { errorMessage } from '../core/errors.ts';
import { ApiClient, findToken } from './api-client.ts';
import { runDeploy } from './deploy-command.ts';
import { terminalSafe } from './output.ts';
import { percentile, startTraffic, type Traffic } from './traffic.ts';

const EXAMPLE_DIR = fileURLToPath(new URL('../../examples/hello', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/slipway.js', import.meta.url));

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** The example listens on 8081/8080; on a machine where those are taken, the demo picks others. */
async function pickListenPorts(configPath: string): Promise<{ staging: number; production: number }> {
  let text = readFileSync(configPath, 'utf8');
  const ports = { staging: 8081, production: 8080 };
  for (const env of ['staging', 'production'] as const) {
    if (!(await portIsFree(ports[env]))) {
      const p = await freePort();
      text = text.replace(`127.0.0.1:${ports[env]}`, `127.0.0.1:${p}`);
      ports[env] = p;
    }
  }
  writeFileSync(configPath, text);
  return ports;
}

/**
 * The example asks for one approval, by a second person, before production; the
 * demo is one person deploying directly, so its scratch copy (only) asks for none.
 */
function waiveApproval(configPath: string): void {
  const doc = parseDocument(readFileSync(configPath, 'utf8'));
  if (!doc.hasIn(['environments', 'production', 'approval'])) return;
  doc.setIn(['environments', 'production', 'approval', 'count'], 0);
  writeFileSync(configPath, doc.toString());
  process.stdout.write(pc.dim('the example asks for 1 approval before production (slipway release, then slipway approve by a second person);\n'
    + 'this scratch copy asks for none, so that the demo can deploy directly (docs/pipeline.md)\n'));
}

async function startServerProcess(dataDir: string, logFile: string): Promise<{ child: ChildProcess; url: string }> {
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [BIN, '--data-dir', dataDir, 'server', '--listen', '127.0.0.1:0'], { stdio: ['ignore', fd, fd] });
  const serverJson = join(dataDir, 'server.json');
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode}; see ${logFile}`);
    if (existsSync(serverJson)) {
      const { url } = JSON.parse(readFileSync(serverJson, 'utf8')) as { url: string };
      return { child, url };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`the server did not start within 30s; see ${logFile}`);
}

/**
 * What the demo prints when it stops on an error. The message may quote what the
 * server answered, an app's output among it, so it goes through terminalSafe (the
 * demo has no --json: this is its only form).
 */
export function demoFailureLine(e: unknown): string {
  return `${pc.red('demo failed:')} ${terminalSafe(errorMessage(e))}`;
}

function section(title: string): void {
  process.stdout.write(`\n${pc.bold(pc.cyan(`== ${title}`))}\n`);
}

export async function runDemo(opts: { once: boolean }): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'slipway-demo-'));
  const app = join(work, 'hello');
  const dataDir = join(work, '.slipway');
  cpSync(EXAMPLE_DIR, app, { recursive: true });
  const ports = await pickListenPorts(join(app, 'slipway.yaml'));
  waiveApproval(join(app, 'slipway.yaml'));
  section(`starting the slipway server (data in ${dataDir})`);
  const server = await startServerProcess(dataDir, join(work, 'server.log'));
  const client = new ApiClient(server.url, findToken({ dataDir }));
  process.stdout.write(`API ${server.url}, server log ${join(work, 'server.log')}\n`);
  let traffic: Traffic[] = [];
  let ok = true;
  const cleanup = async () => {
    await Promise.all(traffic.map((t) => t.stop()));
    await client.shutdown({ stopInstances: true, stopRouter: true }).catch(() => undefined);
    await new Promise((r) => (server.child.exitCode !== null ? r(null) : server.child.once('exit', r)));
    rmSync(work, { recursive: true, force: true });
  };
  try {
    const deploy = async (env: string) => {
      section(`deploy ${env}`);
      const code = await runDeploy({ client, env, dir: app, file: 'slipway.yaml', detach: false, force: false, json: false });
      if (code !== 0) ok = false;
    };
    await deploy('staging');
    await deploy('production');
    section('v1 is live; sending traffic to both environments while v2 rolls out');
    const urls = { staging: `http://127.0.0.1:${ports.staging}/`, production: `http://127.0.0.1:${ports.production}/` };
    traffic = [
      startTraffic({ url: urls.staging, concurrency: 4, pauseMs: 2, maxDurationMs: 300_000 }),
      startTraffic({ url: urls.production, concurrency: 8, pauseMs: 2, maxDurationMs: 300_000 }),
    ];
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { version: string };
    writeFileSync(join(app, 'package.json'), JSON.stringify({ ...pkg, version: '2.0.0' }, null, 2));
    await deploy('staging');
    await deploy('production');
    await new Promise((r) => setTimeout(r, 500));
    const [st, pr] = await Promise.all(traffic.map((t) => t.stop()));
    traffic = [];
    section('summary');
    for (const [name, s] of [['staging', st!], ['production', pr!]] as const) {
      const versions = Object.entries(s.versions).map(([v, n]) => `${v}: ${n}`).join(', ');
      const line = `${name.padEnd(10)} requests sent ${s.sent}, failed: ${s.failed}, p50 ${percentile(s.latenciesMs, 0.5).toFixed(1)} ms, p99 ${percentile(s.latenciesMs, 0.99).toFixed(1)} ms (versions seen: ${versions})`;
      process.stdout.write(`${s.failed === 0 ? pc.green(line) : pc.red(line)}\n`);
      if (s.failed > 0) ok = false;
    }
    process.stdout.write(`\nstaging    ${urls.staging}\nproduction ${urls.production}\n`);
    if (!opts.once) {
      process.stdout.write(`\nrunning; try \`curl ${urls.production}\` or \`slipway --server ${server.url} status\`. Press Ctrl-C to stop everything.\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
    }
    return ok ? 0 : 1;
  } catch (e) {
    process.stderr.write(`${demoFailureLine(e)}\n`);
    return 1;
  } finally {
    section('stopping everything the demo started');
    await cleanup();
    process.stdout.write(`done${ok ? '' : pc.red(' (with failures)')}\n`);
  }
}
