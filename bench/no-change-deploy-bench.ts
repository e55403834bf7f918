// How long `slipway deploy` takes when nothing changed, for a service directory of
// about 100 MB (incompressible: 100 files of 1 MiB random bytes beside the example
// service), now that the CLI asks the server (plan) before uploading, against the
// first deploy, which uploads. A real server, router and instance; the CLI run as a
// user runs it.
//
//   node --import tsx bench/no-change-deploy-bench.ts [--mb 100] [--runs 3]
//
// Prints the first deploy's time, each no-change deploy's, and where a deploy's
// time goes: the CLI's own start (`slipway --version`), the stat walk that tells an
// unchanged tree (scan alone: what a no-change deploy pays since the CLI remembers
// the digest of the tree it packed last, artefact/pack-cache.ts), the pack a changed
// tree still pays, and the upload a no-change deploy paid before it asked first.

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { knownDigest, packDirectory, scanDirectory } from '../src/artefact/index.ts';
import { ApiClient } from '../src/cli/api-client.ts';
import { adminToken, freePort, runCli, scratchDir, shutdownEverything, startServerProcess, writeService } from '../test/support/harness.ts';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '100' }, runs: { type: 'string', default: '3' } } });
const work = scratchDir('slipway-nochange-bench-');
const app = join(work, 'hello');
const dataDir = join(work, '.slipway');
writeService(app, { envs: { bench: { instances: 1, port: await freePort() } } });
mkdirSync(join(app, 'data'));
for (let i = 0; i < Number(values.mb); i++) writeFileSync(join(app, 'data', `blob-${i}.bin`), randomBytes(1024 * 1024));

const server = await startServerProcess(dataDir);
const timed = async (label: string) => {
  const t0 = performance.now();
  const r = await runCli(['deploy', 'bench'], { cwd: app, dataDir, timeoutMs: 300_000 });
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`${label} failed: ${r.stdout}${r.stderr}`);
  console.log(`${label.padEnd(22)} ${(ms / 1000).toFixed(2)} s  ${r.stdout.split('\n').filter((l) => /already runs|packed|unchanged since/.test(l)).join(' | ')}`);
  return ms;
};
try {
  await timed('first deploy (upload)');
  const runs: number[] = [];
  for (let i = 0; i < Number(values.runs); i++) runs.push(await timed(`no-change deploy ${i + 1}`));
  const t2 = performance.now();
  await runCli(['--version'], { cwd: app, dataDir });
  console.log(`${'CLI start alone'.padEnd(22)} ${((performance.now() - t2) / 1000).toFixed(2)} s`);
  const t3 = performance.now();
  const tree = await scanDirectory({ dir: app });
  console.log(`${'scan alone'.padEnd(22)} ${((performance.now() - t3) / 1000).toFixed(2)} s  (${tree.fileCount} files, remembered: ${knownDigest(tree) ? 'yes' : 'no'})`);
  const known = knownDigest(tree);
  if (known) {
    const api = new ApiClient(server.url, adminToken(dataDir)!);
    const body = { artefact: known.digest, config: { text: readFileSync(join(app, 'slipway.yaml'), 'utf8'), file: 'slipway.yaml' }, force: false };
    const t4 = performance.now();
    await api.plan('hello/bench', body);
    const t5 = performance.now();
    await api.deploy('hello/bench', body);
    console.log(`${'plan API alone'.padEnd(22)} ${((t5 - t4) / 1000).toFixed(2)} s`);
    console.log(`${'deploy API alone'.padEnd(22)} ${((performance.now() - t5) / 1000).toFixed(2)} s  (answers "unchanged")`);
  }
  const outFile = join(tmpdir(), `slipway-bench-${process.pid}.tar.gz`);
  const t0 = performance.now();
  const packed = await packDirectory({ dir: app, outFile });
  console.log(`${'pack alone'.padEnd(22)} ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  // What a no-change deploy paid before it asked first: the upload of the same artefact again.
  const t1 = performance.now();
  await new ApiClient(server.url, adminToken(dataDir)!).uploadArtefact(packed.file, packed.digest, 'hello');
  console.log(`${'upload alone (saved)'.padEnd(22)} ${((performance.now() - t1) / 1000).toFixed(2)} s`);
  rmSync(outFile, { force: true });
  runs.sort((a, b) => a - b);
  console.log(`no-change deploy of ~${values.mb} MB: median ${(runs[Math.floor(runs.length / 2)]! / 1000).toFixed(2)} s`);
} finally {
  await shutdownEverything(server.url, dataDir);
  rmSync(work, { recursive: true, force: true });
}
