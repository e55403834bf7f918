// A release run's commands are the deployer's code. On a server running as root they
// run as an unprivileged user of the service's pipeline: they can write their
// checkout and nothing of slipway's, and nothing they start outlives the command.

import { execFileSync } from 'node:child_process';
import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFetch, freePort, getJson, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';
import { processesOf } from './support/processes.ts';

interface RunView {
  run: { id: number; status: string };
  stages: { name: string; status: string; reason: string | null; outputTail: string }[];
}

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('release-run commands on a root server', { timeout: 120_000 }, () => {
  let work: string;
  let dataDir: string;
  let repo: string;
  let server: ServerProcess;

  beforeAll(async () => {
    work = scratchDir();
    dataDir = join(work, 'data');
    repo = join(work, 'repo');
    server = await startServerProcess(dataDir);
    writeService(repo, { envs: { staging: { instances: 1, port: await freePort() }, production: { instances: 1, port: await freePort() } } });
    // The build tries what a hostile deployer would: read the server's tokens and state,
    // and leave a daemon behind. The test checks it may write its own checkout.
    const build = [
      'echo "uid=$(id -u) groups=$(id -G)"',
      `cat ${join(dataDir, 'admin.token')} >/dev/null 2>&1 && echo TOKEN-READ || echo TOKEN-REFUSED`,
      `cat ${join(dataDir, 'state.db')} >/dev/null 2>&1 && echo STATE-READ || echo STATE-REFUSED`,
      'echo built > built.txt && echo CHECKOUT-WRITTEN',
      'echo "home=$HOME" && touch "$HOME/cache" && echo HOME-WRITTEN',
      'setsid sleep 4242 </dev/null >/dev/null 2>&1 &',
      // This one keeps the build's output open: the build must still end when its shell does.
      'setsid sleep 4343 &',
    ].join('\n');
    appendFileSync(join(repo, 'slipway.yaml'), `build: { command: ${JSON.stringify(build)} }\ntest: { command: "cat built.txt && id -u" }\npipeline: {}\n`);
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=Alice', '-c', 'user.email=a@example.test', ...args], { cwd: repo, encoding: 'utf8' });
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-qm', 'hello');
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it("runs build and test as the service's own unprivileged user, who reads nothing of slipway's and leaves nothing running", async () => {
    const res = await apiFetch(`${server.url}/api/pipeline/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ repo, ref: 'main' }) });
    expect(res.status).toBe(202);
    const id = ((await res.json()) as RunView).run.id;
    let view: RunView | null = null;
    await waitFor('the test stage finished', async () => {
      view = await getJson<RunView>(`${server.url}/api/pipeline/runs/${id}`);
      return ['succeeded', 'failed'].includes(view.stages.find((s) => s.name === 'test')?.status ?? '') || view.run.status === 'failed';
    }, 60_000);
    const stage = (name: string) => view!.stages.find((s) => s.name === name)!;
    const build = stage('build');
    expect(build.status, `${build.reason}: ${build.outputTail}`).toBe('succeeded');
    const uid = Number(/uid=(\d+)/.exec(build.outputTail)?.[1]);
    expect(uid).toBeGreaterThanOrEqual(61185);
    expect(build.outputTail).toMatch(/groups=61184\n/);
    expect(build.outputTail).toContain('TOKEN-REFUSED');
    expect(build.outputTail).toContain('STATE-REFUSED');
    expect(build.outputTail).toContain('CHECKOUT-WRITTEN');
    expect(build.outputTail).toContain('HOME-WRITTEN');
    expect(build.outputTail).toMatch(/home=.*releases\/\.pipeline\.hello\/\.home/);
    const test = stage('test');
    expect(test.status, test.reason ?? '').toBe('succeeded');
    expect(test.outputTail).toContain(`built\n${uid}`);
    // The build's daemon was killed when the build ended.
    expect(processesOf(uid, 'sleep\u00004242')).toEqual([]);
    expect(processesOf(uid, 'sleep\u00004343')).toEqual([]);
    // No environment's instances have the pipeline's uid.
    const envHomes = readdirSync(join(dataDir, 'releases')).filter((d) => !d.startsWith('.pipeline.'));
    for (const d of envHomes) {
      try {
        expect(execFileSync('stat', ['-c', '%u', join(dataDir, 'releases', d, '.home')], { encoding: 'utf8' }).trim()).not.toBe(String(uid));
      } catch (e) {
        if (!String(e).includes('No such file')) throw e;
      }
    }
  });
});
