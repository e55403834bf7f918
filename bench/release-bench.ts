// Time from `slipway release` to production done for the example service, as
// committed in examples/hello (its own slipway.yaml, tests and acceptance script;
// only the listen ports are moved to free ones). A real server, router and
// instances; the approval is given by a second user over the API the moment the
// run asks for it, so the figure is the machine's, not a person's.
//
//   node --import tsx bench/release-bench.ts [--releases 2]
//
// Prints each stage's duration and, per release, the time to production done
// (production_deploy succeeded) and to the end of the watch window.

import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EXAMPLE, apiFetch, freePort, getJson, scratchDir, shutdownEverything, startServerProcess } from '../test/support/harness.ts';

interface Stage { name: string; status: string; startedAt: number | null; finishedAt: number | null }
interface RunView { run: { id: number; status: string; stage: string; reason: string | null; createdAt: number }; stages: Stage[] }

const { values } = parseArgs({ options: { releases: { type: 'string', default: '2' } } });
const releases = Number(values.releases);

const work = scratchDir('slipway-release-bench-');
const repo = join(work, 'hello');
const dataDir = join(work, '.slipway');
cpSync(EXAMPLE, repo, { recursive: true });
const [staging, production] = [await freePort(), await freePort()];
const yaml = readFileSync(join(repo, 'slipway.yaml'), 'utf8').replace('127.0.0.1:8081', `127.0.0.1:${staging}`).replace('127.0.0.1:8080', `127.0.0.1:${production}`);
// The example watches production for 2 minutes after a rollout; the figure of interest is up to production done.
writeFileSync(join(repo, 'slipway.yaml'), yaml.replace('    strategy: { type: rolling, batch: 34%, max_unavailable: 0 }', '    strategy: { type: rolling, batch: 34%, max_unavailable: 0 }\n    watch: 5s'));
const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=Bench', '-c', 'user.email=bench@example.test', ...args], { cwd: repo, encoding: 'utf8' });
git('init', '-q', '-b', 'main');
git('add', '-A');
git('commit', '-q', '-m', 'hello: v1');
const server = await startServerProcess(dataDir);
const call = (actor: string, method: string, path: string, body: unknown = {}) =>
  apiFetch(`${server.url}${path}`, { method, headers: { 'content-type': 'application/json', 'x-slipway-actor': actor }, body: JSON.stringify(body) });

try {
  console.log(`release bench: examples/hello (staging 2 instances rolling, production 3 rolling, health window 10s, rollback drill), ${releases} release(s)`);
  for (let n = 1; n <= releases; n++) {
    if (n > 1) {
      const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(join(repo, 'package.json'), JSON.stringify({ ...pkg, version: `1.${n - 1}.0` }, null, 2));
      git('commit', '-q', '-am', `hello: v1.${n - 1}.0`);
      git('tag', `v1.${n - 1}.0`);
    }
    const t0 = Date.now();
    const started = (await (await call('alice', 'POST', '/api/pipeline/runs', { repo, ref: 'HEAD' })).json()) as RunView;
    const id = started.run.id;
    let v: RunView;
    let approvedAt: number | null = null;
    for (;;) {
      v = await getJson<RunView>(`${server.url}/api/pipeline/runs/${id}`);
      if (v.run.status === 'waiting' && v.run.stage === 'approval' && approvedAt === null) {
        await call('bob', 'POST', `/api/pipeline/runs/${id}/approve`);
        approvedAt = Date.now();
      }
      if (v.run.status === 'succeeded' || v.run.status === 'failed') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (v.run.status !== 'succeeded') throw new Error(`run #${id} failed: ${v.run.reason}`);
    const prod = v.stages.find((s) => s.name === 'production_deploy')!;
    console.log(`release ${n} (run #${id}):`);
    for (const s of v.stages) {
      const ms = s.startedAt && s.finishedAt ? s.finishedAt - s.startedAt : 0;
      console.log(`  ${s.name.padEnd(18)} ${s.status.padEnd(10)} ${(ms / 1000).toFixed(1).padStart(6)} s`);
    }
    console.log(`  release → production done: ${((prod.finishedAt! - t0) / 1000).toFixed(1)} s (approval answered ${approvedAt ? ((approvedAt - t0) / 1000).toFixed(1) : '-'} s in)`);
    console.log(`  release → run done (after the 5 s watch): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
} finally {
  await shutdownEverything(server.url, dataDir);
}
