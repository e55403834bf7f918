// What a deploy of a ~100 MB tree shaped like node_modules (thousands of small
// text files) costs now that the CLI sends a manifest and only the blobs the server
// lacks: the first deploy (every blob), a no-change deploy, a deploy with one file
// changed, and a no-change deploy right after that change (the edited file is too
// fresh to be remembered by stat, so the manifest is sent and the server names the
// artefact it assembled). A real server, router and instance; the CLI run as a user
// runs it, with --detach (the time until the release's rollout has started; each
// rollout is waited for before the next deploy). For comparison, what the old path
// paid for any change: packing the whole tree (and the size of the tarball it sent).
//
//   node --import tsx bench/blob-deploy-bench.ts [--mb 100] [--files-per-package 24]

import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packDirectory } from '../src/artefact/index.ts';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService } from '../test/support/harness.ts';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '100' }, 'files-per-package': { type: 'string', default: '24' } } });
const targetBytes = Number(values.mb) * 1024 * 1024;
const perPackage = Number(values['files-per-package']);

const work = scratchDir('slipway-blob-bench-');
const app = join(work, 'hello');
const dataDir = join(work, '.slipway');
writeService(app, { envs: { bench: { instances: 1, port: await freePort() } } });

// Text like minified JavaScript compresses about 3:1; base64 of random bytes about 4:3.
// Half of each: sizes from 200 B to 40 kB, most of them small, as in node_modules.
let written = 0;
let files = 0;
for (let p = 0; written < targetBytes; p++) {
  const dir = join(app, 'node_modules', `package-${p}`, 'lib');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(app, 'node_modules', `package-${p}`, 'package.json'), JSON.stringify({ name: `package-${p}`, version: '1.0.0', main: 'lib/f0.js' }, null, 2));
  for (let f = 0; f < perPackage && written < targetBytes; f++) {
    const size = Math.floor(200 + Math.random() ** 3 * 40_000);
    const raw = randomBytes(Math.ceil(size / 2));
    const text = f % 2 === 0 ? raw.toString('base64') : `function f${f}(a,b){return a+b;}\n`.repeat(Math.ceil(size / 34)).slice(0, size / 2) + raw.toString('base64').slice(0, size / 2);
    writeFileSync(join(dir, `f${f}.js`), text);
    written += text.length;
    files += 1;
  }
}
console.log(`tree: ${files.toLocaleString('en-US')} files, ${(written / 1e6).toFixed(1)} MB in node_modules/ (${Number(values.mb)} MiB asked)`);
// Older than the slack for coarse timestamps, so the first deploy's tree is remembered by stat.
await new Promise((r) => setTimeout(r, 2100));

interface Upload { via: string; files: number; sentFiles: number; alreadyOnServer: number; sentBytes: number; wireBytes: number; hashedFiles: number }
const server = await startServerProcess(dataDir);
const stable = async () => (await getJson<EnvironmentStatus>(`${server.url}/api/environments/hello%2Fbench`)).stable?.number ?? 0;
const mb = (n: number) => (n < 10_000 ? `${n} B` : `${(n / 1e6).toFixed(2)} MB`);
const timed = async (label: string) => {
  const before = await stable();
  const t0 = performance.now();
  const r = await runCli(['--json', 'deploy', 'bench', '--detach'], { cwd: app, dataDir, timeoutMs: 600_000 });
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`${label} failed: ${r.stdout}${r.stderr}`);
  const answer = JSON.parse(r.stdout) as { upload: Upload; unchanged: boolean };
  const u = answer.upload;
  console.log(`${label.padEnd(34)} ${(ms / 1000).toFixed(2).padStart(6)} s   sent ${String(u.sentFiles).padStart(6)} of ${u.files} files, ${mb(u.sentBytes).padStart(9)} (${mb(u.wireBytes)} on the wire), hashed ${u.hashedFiles} files, via ${u.via}${answer.unchanged ? ', unchanged' : ''}`);
  if (!answer.unchanged) await waitFor('the rollout to finish', async () => (await stable()) > before, 300_000);
  return ms;
};
try {
  await timed('first deploy');
  await timed('no-change deploy');
  await timed('no-change deploy (again)');
  writeFileSync(join(app, 'node_modules', 'package-0', 'lib', 'f1.js'), `// changed ${Date.now()}\n`);
  await timed('one file changed');
  await timed('no-change right after the change');
  const t0 = performance.now();
  const packed = await packDirectory({ dir: app, outFile: join(tmpdir(), `slipway-blob-bench-${process.pid}.tar.gz`) });
  console.log(`${'old path: pack alone, any change'.padEnd(34)} ${((performance.now() - t0) / 1000).toFixed(2).padStart(6)} s   a tarball of ${mb(packed.bytes)}, sent whole`);
  rmSync(packed.file, { force: true });
} finally {
  await shutdownEverything(server.url, dataDir);
  rmSync(work, { recursive: true, force: true });
}
