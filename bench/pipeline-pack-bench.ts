// What packing a build's output costs when the build ran as the service's pipeline
// user (a root server): the user tars its checkout into a pipe, root checks and
// unpacks that as an uploaded artefact, and packs its own copy. Against packing the
// checkout directly, as root did before. Needs root (it makes a pipeline user).
//
// Usage: node --import tsx bench/pipeline-pack-bench.ts [--tree DIR] [--rounds 3]
// (default tree: this repository's node_modules/typescript, ~23 MB)

import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { INSTANCE_IDS } from '../src/core/service-config.ts';
import { packDirectory, unpackArtefact } from '../src/artefact/index.ts';
import { pipelineUser, readyRunDirs, removeRunDir, tarAs, untarAs } from '../src/engine/pipeline/pipeline-user.ts';
import { processHostIdentity } from '../src/runtime/process/run-identity.ts';

const { values } = parseArgs({ options: { tree: { type: 'string' }, rounds: { type: 'string', default: '3' } } });
if (process.getuid?.() !== 0) {
  console.error('pipeline-pack-bench: needs root (it makes a pipeline user)');
  process.exit(2);
}
const tree = values.tree ?? join(import.meta.dirname, '..', 'node_modules', 'typescript');
const rounds = Number(values.rounds);
const base = mkdtempSync(join(tmpdir(), 'slipway-pack-bench-'));
// As the data directory is: passable by the instances' group.
chownSync(base, 0, INSTANCE_IDS.group);
chmodSync(base, 0o710);
process.env.SLIPWAY_UID_REGISTRY = join(base, 'uids');
const releases = join(base, 'releases');
const work = join(base, 'pipeline');
mkdirSync(releases, { recursive: true });
const user = pipelineUser(releases, 'bench', processHostIdentity)!;
const ms = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;

const direct: number[] = [];
const asUser: number[] = [];
let bytes = 0;
for (let i = 0; i < rounds; i++) {
  // As before: root packs a tree of root's.
  const plain = join(base, `plain-${i}`);
  cpSync(tree, plain, { recursive: true });
  let t = process.hrtime.bigint();
  const p = await packDirectory({ dir: plain, outFile: join(base, `direct-${i}.tar.gz`) });
  direct.push(ms(t));
  bytes = p.bytes;
  rmSync(plain, { recursive: true, force: true });

  // Now: the tree is the user's (put there as the checkout is), and crosses as a tar stream.
  const runDir = join(work, `run-${i}`);
  const userWork = join(runDir, 'work');
  readyRunDirs([work, runDir], userWork, user);
  const src = join(userWork, 'src');
  const tarred = spawn('tar', ['-c', '-f', '-', '-C', tree, '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await untarAs(user, tarred.stdout, src, { gzip: false });
  t = process.hrtime.bigint();
  const handover = join(runDir, 'handover.tar.gz');
  const copy = join(runDir, 'packed');
  await tarAs(user, src, handover);
  await unpackArtefact({ file: handover, targetDir: copy });
  await packDirectory({ dir: copy, outFile: join(base, `user-${i}.tar.gz`) });
  asUser.push(ms(t));
  removeRunDir(runDir, userWork, user);
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
console.log(`tree: ${tree} (artefact ${(bytes / 1e6).toFixed(1)} MB), ${rounds} rounds`);
console.log(`pack as root (before):            median ${median(direct).toFixed(0)} ms  [${direct.map((x) => x.toFixed(0)).join(', ')}]`);
console.log(`pack via the pipeline user (now): median ${median(asUser).toFixed(0)} ms  [${asUser.map((x) => x.toFixed(0)).join(', ')}]`);
console.log(`ratio: ${(median(asUser) / median(direct)).toFixed(2)}x`);
rmSync(base, { recursive: true, force: true });
