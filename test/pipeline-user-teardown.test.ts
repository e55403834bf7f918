// The pipeline user of a service (on a root server: the uid its release-run commands
// run as, with a HOME under releases/.pipeline.<service>) goes with the service's last
// environment: `slipway remove` of it removes that HOME, the checkouts of its runs and
// whatever still runs as the uid, and drops the uid from the machine-wide record. Not
// while another environment of the service is left, nor while a run of it is unfinished.

import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFetch, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';
import { processesOf } from './support/processes.ts';

interface RunView {
  run: { id: number; status: string };
  stages: { name: string; status: string; reason: string | null; outputTail: string }[];
}

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)("a service's pipeline user on a root server", { timeout: 180_000 }, () => {
  let work: string;
  let dataDir: string;
  let repo: string;
  let uids: string;
  let server: ServerProcess;
  // Where the test lets the acceptance command end: readable by the pipeline's user.
  const go = join(tmpdir(), `slipway-acceptance-go-${process.pid}-${Date.now()}`);
  const cli = (...args: string[]) => runCli(args, { cwd: repo, dataDir, timeoutMs: 90_000 });
  const home = () => join(dataDir, 'releases', '.pipeline.hello', '.home');
  const serverLog = () => readFileSync(join(work, 'server.log'), 'utf8');
  let uid = 0;

  beforeAll(async () => {
    work = scratchDir();
    dataDir = join(work, 'data');
    repo = join(work, 'repo');
    // The machine's own uid record: giving the pipeline user up kills every process of
    // its uid, so the uid must be this server's alone among all the tests' servers.
    uids = process.env.SLIPWAY_UID_REGISTRY ?? '/var/lib/slipway/uids';
    server = await startServerProcess(dataDir, 'server.log');
    writeService(repo, {
      envs: {
        // The acceptance test holds the run unfinished until the test lets it fail.
        staging: { instances: 1, port: await freePort(), extraYaml: `acceptance: { command: ${JSON.stringify(`while ! test -e ${go}; do sleep 0.1; done; exit 1`)} }` },
        production: { instances: 1, port: await freePort() },
        qa: { instances: 1, port: await freePort() },
      },
    });
    // The build leaves a daemon that cleared its environment, so no command's marker finds it.
    // The build waits until the daemon runs without the marker: until then it is a
    // process of the command, which the command's end kills (on a loaded machine the
    // build could end before `env -i` had run, and the daemon was killed as its own).
    const build = [
      'echo "uid=$(id -u)"',
      'echo cached > "$HOME/cache"',
      `env -i setsid sh -c 'touch "$0"; exec sleep 4545' "$HOME/daemon-up" </dev/null >/dev/null 2>&1 &`,
      'while [ ! -e "$HOME/daemon-up" ]; do sleep 0.05; done',
    ].join('\n');
    appendFileSync(join(repo, 'slipway.yaml'), `build: { command: ${JSON.stringify(build)} }\npipeline: {}\n`);
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=Alice', '-c', 'user.email=a@example.test', ...args], { cwd: repo, encoding: 'utf8' });
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-qm', 'hello');
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
    for (const pid of uid ? processesOf(uid, 'sleep\u00004545') : []) process.kill(pid, 'SIGKILL');
    rmSync(go, { force: true });
  });

  it('stays while a run is unfinished or another environment is left, and goes with the last environment or the last run kept for', async () => {
    const res = await apiFetch(`${server.url}/api/pipeline/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ repo, ref: 'main' }) });
    expect(res.status).toBe(202);
    const id = ((await res.json()) as RunView).run.id;
    const view = () => getJson<RunView>(`${server.url}/api/pipeline/runs/${id}`);
    let v: RunView | null = null;
    await waitFor('staging deployed and its acceptance test running', async () => {
      v = await view();
      return v.stages.find((s) => s.name === 'acceptance')?.status === 'running' || v.run.status === 'failed';
    }, 90_000);
    const build = v!.stages.find((s) => s.name === 'build')!;
    expect(build.status, `${build.reason}: ${build.outputTail}`).toBe('succeeded');
    uid = Number(/uid=(\d+)/.exec(build.outputTail)?.[1]);
    expect(uid).toBeGreaterThanOrEqual(61185);
    const record = join(uids, String(uid));
    expect(readFileSync(record, 'utf8').trim()).toBe(home());
    expect(readFileSync(join(home(), 'cache'), 'utf8')).toBe('cached\n');
    expect(processesOf(uid, 'sleep\u00004545')).toHaveLength(1);

    // The last environment goes while the run still runs as the user: all of it stays, and the log says why.
    const first = await cli('remove', 'staging', '--yes');
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(existsSync(home())).toBe(true);
    expect(existsSync(record)).toBe(true);
    expect(serverLog()).toMatch(/no environment of hello is left, but its pipeline user \(HOME and uid\) is kept: run #\d+ of hello is unfinished/);

    writeFileSync(go, '');
    await waitFor('the run to fail at acceptance', async () => (await view()).run.status === 'failed', 60_000);
    // The run it was kept for has ended: the user goes now, as it would have with the
    // last environment (before, nothing gave it up until an environment went again).
    await waitFor('the pipeline user to be given up', () => !existsSync(home()), 10_000);
    expect(existsSync(join(dataDir, 'pipeline', `run-${id}`))).toBe(false);
    expect(existsSync(record) ? readFileSync(record, 'utf8').trim() : null).not.toBe(home());
    await waitFor('the daemon the build left to be gone', () => processesOf(uid, 'sleep\u00004545').length === 0, 5_000);
    expect(serverLog()).toMatch(/no environment of hello is left: its pipeline user's HOME and run directories are removed and its uid released/);

    // A second run makes the user again (its build leaves another daemon) and deploys
    // staging; its acceptance fails at once. Staging is left: the user stays.
    const again = await apiFetch(`${server.url}/api/pipeline/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ repo, ref: 'main' }) });
    expect(again.status).toBe(202);
    const id2 = ((await again.json()) as RunView).run.id;
    await waitFor('the second run to fail at acceptance', async () => (await getJson<RunView>(`${server.url}/api/pipeline/runs/${id2}`)).run.status === 'failed', 90_000);
    const build2 = (await getJson<RunView>(`${server.url}/api/pipeline/runs/${id2}`)).stages.find((s) => s.name === 'build')!;
    expect(build2.status, `${build2.reason}: ${build2.outputTail}`).toBe('succeeded');
    uid = Number(/uid=(\d+)/.exec(build2.outputTail)?.[1]);
    const record2 = join(uids, String(uid));
    expect(existsSync(home())).toBe(true);
    expect(readFileSync(record2, 'utf8').trim()).toBe(home());
    expect(processesOf(uid, 'sleep\u00004545')).toHaveLength(1);

    // Two environments; one removed, the other left: the user stays.
    const qa = await cli('deploy', 'qa');
    expect(qa.code, qa.stdout + qa.stderr).toBe(0);
    const second = await cli('remove', 'staging', '--yes');
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(existsSync(home())).toBe(true);
    expect(readFileSync(record2, 'utf8').trim()).toBe(home());
    expect(processesOf(uid, 'sleep\u00004545')).toHaveLength(1);

    // The last one: the HOME, the pipeline directory, the run's checkout, the daemon and the uid's entry go.
    const last = await cli('remove', 'qa', '--yes');
    expect(last.code, last.stdout + last.stderr).toBe(0);
    expect(existsSync(join(dataDir, 'releases', '.pipeline.hello'))).toBe(false);
    expect(existsSync(join(dataDir, 'pipeline', `run-${id2}`))).toBe(false);
    // Its claim is gone: the entry is removed, or (on a machine where other servers
    // take uids meanwhile, as the other test files' do) already another HOME's.
    expect(existsSync(record2) ? readFileSync(record2, 'utf8').trim() : null).not.toBe(home());
    await waitFor('the second daemon to be gone', () => processesOf(uid, 'sleep\u00004545').length === 0, 5_000);
    expect(serverLog().match(/no environment of hello is left: its pipeline user's HOME and run directories are removed and its uid released/g)).toHaveLength(2);
  });
});
