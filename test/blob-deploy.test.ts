// Issue 22: a deploy sends only what changed. The CLI sends the tree's manifest,
// the server names the blobs it lacks, the CLI sends those and the server assembles
// the artefact: byte for byte the tarball the CLI would have packed. Counted from
// both ends: the CLI's `--json` upload counts and the blobs the server stored.

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packDirectory } from '../src/artefact/index.ts';
import { ApiClient } from '../src/cli/api-client.ts';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { adminToken, apiFetch, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';

interface Upload { via: string; files: number; sentFiles: number; alreadyOnServer: number; sentBytes: number; wireBytes: number; hashedFiles: number }

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** The blobs the server holds for a service (each service has its own). */
function storedBlobs(dataDir: string, service = 'hello'): Set<string> {
  const root = join(dataDir, 'blobs', 'services', service, 'sha256');
  const out = new Set<string>();
  for (const p of existsSync(root) ? readdirSync(root) : []) for (const h of readdirSync(join(root, p))) out.add(h);
  return out;
}

const BLOBS_OF_HELLO = { 'content-type': 'application/octet-stream', 'x-slipway-service': 'hello' };

describe('deploys send only what changed', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let port: number;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 120_000 });
  const status = () => getJson<EnvironmentStatus>(`${server.url}/api/environments/hello%2Fstaging`);
  const served = async () => ((await (await fetch(`http://127.0.0.1:${port}/`)).json()) as { version: string }).version;
  const post = (path: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    apiFetch(`${server.url}${path}`, { method: 'POST', headers, body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) });

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    port = await freePort();
    writeService(app, { envs: { staging: { instances: 1, port } } });
    // Like node_modules: many small files, two of them equal (one blob).
    for (let p = 0; p < 5; p++) {
      mkdirSync(join(app, 'node_modules', `pkg-${p}`, 'lib'), { recursive: true });
      writeFileSync(join(app, 'node_modules', `pkg-${p}`, 'package.json'), JSON.stringify({ name: `pkg-${p}` }));
      for (let f = 0; f < 8; f++) writeFileSync(join(app, 'node_modules', `pkg-${p}`, 'lib', `f${f}.js`), randomBytes(2048).toString('hex'));
    }
    writeFileSync(join(app, 'LICENSE-a'), 'same bytes\n');
    writeFileSync(join(app, 'LICENSE-b'), 'same bytes\n');
    // What an older server left: one blob store shared by every service.
    mkdirSync(join(dataDir, 'blobs', 'sha256', 'ab'), { recursive: true });
    writeFileSync(join(dataDir, 'blobs', 'sha256', 'ab', 'ab'.repeat(32)), 'shared');
    server = await startServerProcess(dataDir);
    // Past the slack for coarse timestamps, so the first deploy's tree is remembered.
    await new Promise((r) => setTimeout(r, 2100));
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('sends every file once, then only the one changed, and the new release serves it; rollback still works', async () => {
    const first = await cli('--json', 'deploy', 'staging');
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const firstUpload = (JSON.parse(first.stdout) as { upload: Upload }).upload;
    expect(firstUpload.via).toBe('blobs');
    expect(firstUpload.sentFiles).toBe(firstUpload.files);
    expect(firstUpload.alreadyOnServer).toBe(0);
    const blobsAfterFirst = storedBlobs(dataDir);
    // Two equal files are one blob.
    expect(blobsAfterFirst.size).toBe(firstUpload.files - 1);
    const firstDigest = (await status()).stable!.artefactDigest;
    // The artefact assembled from blobs is the one the packer makes of the same tree.
    expect((await packDirectory({ dir: app, outFile: join(work, 'packed.tar.gz') })).digest).toBe(firstDigest);
    expect(await served()).toBe('1.0.0');

    const nothing = await cli('--json', 'deploy', 'staging');
    expect(nothing.code, nothing.stdout + nothing.stderr).toBe(0);
    const nothingUpload = (JSON.parse(nothing.stdout) as { upload: Upload; unchanged: boolean }).upload;
    expect(nothingUpload).toMatchObject({ via: 'remembered', sentFiles: 0, hashedFiles: 0 });

    writeService(app, { envs: { staging: { instances: 1, port } }, version: '2.0.0' }); // rewrites package.json and slipway.yaml
    const human = await cli('deploy', 'staging', '--detach');
    expect(human.code, human.stdout + human.stderr).toBe(0);
    // slipway.yaml is in the tree too: it was rewritten with the same bytes, so only package.json is new.
    expect(human.stdout).toMatch(/sending 1 of (\d[\d,]*) files \(\d+ B\); \d[\d,]* already on the server/);
    await waitFor('release 2 to be stable', async () => (await status()).stable?.number === 2, 60_000);
    const blobsAfterChange = storedBlobs(dataDir);
    const added = [...blobsAfterChange].filter((h) => !blobsAfterFirst.has(h));
    expect(added).toEqual([sha(readFileSync(join(app, 'package.json')))]);
    await waitFor('the new release to serve', async () => (await served()) === '2.0.0', 30_000);

    const rollback = await cli('rollback', 'staging');
    expect(rollback.code, rollback.stdout + rollback.stderr).toBe(0);
    expect((await status()).stable!.artefactDigest).toBe(firstDigest);
    await waitFor('the first release to serve again', async () => (await served()) === '1.0.0', 30_000);

    // One more file changed after the rollback: that file alone is sent.
    writeFileSync(join(app, 'node_modules', 'pkg-0', 'lib', 'f0.js'), 'changed');
    const third = await cli('--json', 'deploy', 'staging');
    expect(third.code, third.stdout + third.stderr).toBe(0);
    const thirdUpload = (JSON.parse(third.stdout) as { upload: Upload }).upload;
    expect(thirdUpload).toMatchObject({ via: 'blobs', sentFiles: 1, alreadyOnServer: thirdUpload.files - 1, sentBytes: 7 });
    expect(await served()).toBe('2.0.0');
  }, 300_000);

  it('still takes a whole tarball from a CLI from before blobs, and deploys it', async () => {
    const api = new ApiClient(server.url, adminToken(dataDir));
    writeFileSync(join(app, 'OLD-CLI.txt'), 'sent the old way\n');
    const packed = await packDirectory({ dir: app, outFile: join(work, 'old-cli.tar.gz') });
    expect((await api.uploadArtefact(packed.file, packed.digest, 'hello')).digest).toBe(packed.digest);
    const answer = await api.deploy('hello/staging', { artefact: packed.digest, config: { text: readFileSync(join(app, 'slipway.yaml'), 'utf8'), file: 'slipway.yaml' } });
    expect(answer.release.artefactDigest).toBe(packed.digest);
    await waitFor('the tarball\'s release to be stable', async () => (await status()).stable?.artefactDigest === packed.digest, 60_000);
  }, 120_000);

  it('refuses a blob whose bytes do not hash to its name, and keeps nothing of its batch', async () => {
    const good = Buffer.from('a good blob\n');
    const bad = Buffer.from('not what the name says\n');
    const claimed = sha('something else');
    const batch = Buffer.concat([Buffer.from(`${sha(good)} ${good.length}\n`), good, Buffer.from(`${claimed} ${bad.length}\n`), bad]);
    const before = storedBlobs(dataDir);
    const r = await post('/api/blobs', batch, BLOBS_OF_HELLO);
    expect(r.status).toBe(422);
    const err = ((await r.json()) as { error: { code: string; message: string } }).error;
    expect(err.code).toBe('E_ARTEFACT_TAMPERED');
    expect(err.message).toContain(claimed);
    expect(storedBlobs(dataDir)).toEqual(before);
    expect(readdirSync(join(dataDir, 'blobs', 'services', 'hello', 'incoming'))).toEqual([]);

    // The same good blob alone, gzipped as the CLI sends it, is kept.
    const ok = await post('/api/blobs', gzipSync(Buffer.concat([Buffer.from(`${sha(good)} ${good.length}\n`), good])), { ...BLOBS_OF_HELLO, 'content-encoding': 'gzip' });
    expect(ok.status).toBe(201);
    expect(storedBlobs(dataDir).has(sha(good))).toBe(true);

    const cut = await post('/api/blobs', Buffer.concat([Buffer.from(`${sha(bad)} 100\n`), bad]), BLOBS_OF_HELLO);
    expect(cut.status).toBe(400);
    expect(((await cut.json()) as { error: { message: string } }).error.message).toMatch(/ends in the middle of a blob/);
  });

  it('refuses a manifest with an escaping or absolute path, or naming a blob never sent, and stores no artefact', async () => {
    const artefactsBefore = readdirSync(join(dataDir, 'artefacts')).sort();
    const file = (path: string, hex = sha('x')) => ({ type: 'file', path, mode: 0o644, size: 1, sha256: hex });
    for (const path of ['../outside.js', 'lib/../../outside.js', '/etc/passwd', './server.js', 'a//b']) {
      const r = await post('/api/blobs/check', { service: 'hello', entries: [file(path)] });
      expect(r.status, path).toBe(422);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('E_UNSAFE_PATH');
    }
    const link = await post('/api/artefacts/assemble', { service: 'hello', entries: [{ type: 'symlink', path: 'up', target: '../../etc' }] });
    expect(((await link.json()) as { error: { code: string } }).error.code).toBe('E_UNSAFE_PATH');

    const never = sha(randomBytes(16));
    const r = await post('/api/artefacts/assemble', { service: 'hello', entries: [file('server.js', never)] });
    expect(r.status).toBe(409);
    const err = ((await r.json()) as { error: { code: string; details: { missing: string[]; count: number } } }).error;
    expect(err).toMatchObject({ code: 'E_BLOB_MISSING', details: { missing: [never], count: 1 } });

    // A blob damaged on the server's disk (same size, other bytes) is found as it is packed, removed and named.
    const bytes = Buffer.from(`damaged later ${randomBytes(4).toString('hex')}\n`);
    expect((await post('/api/blobs', Buffer.concat([Buffer.from(`${sha(bytes)} ${bytes.length}\n`), bytes]), BLOBS_OF_HELLO)).status).toBe(201);
    const stored = join(dataDir, 'blobs', 'services', 'hello', 'sha256', sha(bytes).slice(0, 2), sha(bytes));
    writeFileSync(stored, Buffer.alloc(bytes.length, 'x'));
    const damaged = await post('/api/artefacts/assemble', { service: 'hello', entries: [file('server.js', sha(bytes))].map((e) => ({ ...e, size: bytes.length })) });
    expect(damaged.status).toBe(409);
    expect(((await damaged.json()) as { error: { code: string; details: { missing: string[] } } }).error).toMatchObject({ code: 'E_BLOB_MISSING', details: { missing: [sha(bytes)] } });
    expect(storedBlobs(dataDir).has(sha(bytes))).toBe(false);

    const unknownKey = await post('/api/blobs/check', { service: 'hello', entries: [{ ...file('a.js'), owner: 'root' }] });
    expect(unknownKey.status).toBe(400);
    expect(readdirSync(join(dataDir, 'artefacts')).sort()).toEqual(artefactsBefore);
  });
  it('keeps each service\'s blobs its own: another service\'s token can neither probe them nor assemble from them', async () => {
    expect(existsSync(join(dataDir, 'blobs', 'sha256')), 'the store an older server shared between services').toBe(false);
    const held = [...storedBlobs(dataDir, 'hello')];
    expect(held.length).toBeGreaterThan(0);
    const made = await post('/api/tokens', { user: 'blog-ci', role: 'deployer', services: ['blog'] });
    expect(made.status).toBe(201);
    const blogToken = ((await made.json()) as { token: string }).token;
    const asBlog = (path: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
      fetch(`${server.url}${path}`, { method: 'POST', headers: { ...headers, authorization: `Bearer ${blogToken}` }, body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) });
    const entries = held.slice(0, 3).map((hex, i) => ({ type: 'file', path: `f${i}.js`, mode: 0o644, size: 1, sha256: hex }));

    // Asking about hello's blobs, sending some, or assembling from them: refused, naming the service.
    for (const [path, body, headers] of [
      ['/api/blobs/check', { service: 'hello', entries }, undefined],
      ['/api/artefacts/assemble', { service: 'hello', entries }, undefined],
      ['/api/blobs', Buffer.from(''), BLOBS_OF_HELLO],
      // A whole tarball (what a CLI from before blobs sends) labelled as hello's.
      ['/api/artefacts', Buffer.from('not a tarball'), { 'content-type': 'application/octet-stream', 'x-slipway-digest': `sha256:${'0'.repeat(64)}`, 'x-slipway-service': 'hello' }],
    ] as const) {
      const r = await asBlog(path, body, headers);
      expect(r.status, path).toBe(403);
      const err = ((await r.json()) as { error: { code: string; message: string } }).error;
      expect(err.code).toBe('E_FORBIDDEN');
      expect(err.message).toContain('for service hello');
    }
    // In its own service, hello's blobs are not there: no answer tells whether another service holds a file.
    const check = await asBlog('/api/blobs/check', { service: 'blog', entries });
    expect(check.status).toBe(200);
    expect(((await check.json()) as { missing: string[] }).missing).toEqual(entries.map((e) => e.sha256));
    const assemble = await asBlog('/api/artefacts/assemble', { service: 'blog', entries });
    expect(assemble.status).toBe(409);
    expect(((await assemble.json()) as { error: { code: string } }).error.code).toBe('E_BLOB_MISSING');
    // A batch must say whose blobs it holds.
    const anon = await asBlog('/api/blobs', Buffer.from(''), { 'content-type': 'application/octet-stream' });
    expect(anon.status).toBe(400);
    expect(((await anon.json()) as { error: { message: string } }).error.message).toContain('x-slipway-service');
    // So must a whole tarball: none is stored without the service it is for.
    const artefactsBefore = readdirSync(join(dataDir, 'artefacts')).sort();
    const unlabelled = await asBlog('/api/artefacts', Buffer.from('not a tarball'), { 'content-type': 'application/octet-stream', 'x-slipway-digest': `sha256:${'0'.repeat(64)}` });
    expect(unlabelled.status).toBe(400);
    expect(((await unlabelled.json()) as { error: { message: string } }).error.message).toContain('x-slipway-service');
    expect(readdirSync(join(dataDir, 'artefacts')).sort()).toEqual(artefactsBefore);
    expect(storedBlobs(dataDir, 'blog').size).toBe(0);

    // hello's artefact (its digest is in hello's status, which readers see) does not
    // run as blog: neither plan nor deploy takes it, even from the admin.
    const helloDigest = (await status()).stable!.artefactDigest;
    const blogPort = await freePort();
    const blogYaml = readFileSync(join(app, 'slipway.yaml'), 'utf8').replace(/^service: hello$/m, 'service: blog').replace(/listen: 127\.0\.0\.1:\d+/, `listen: 127.0.0.1:${blogPort}`);
    for (const path of ['/api/environments/blog%2Fstaging/deploys', '/api/environments/blog%2Fstaging/plan']) {
      const r = await post(path, { artefact: helloDigest, config: { text: blogYaml } });
      expect(r.status, path).toBe(409);
      const err = ((await r.json()) as { error: { code: string; message: string } }).error;
      expect(err.code).toBe('E_SERVICE_MISMATCH');
      expect(err.message).toContain('is service "hello"\'s; this slipway.yaml is service "blog"');
    }
    const envs = (await getJson<{ environments: { env: string }[] }>(`${server.url}/api/environments`)).environments.map((e) => e.env);
    expect(envs).toContain('hello/staging');
    expect(envs).not.toContain('blog/staging');
  });
});

describe('a blob batch the server refuses part-way', () => {
  let work: string;
  let dataDir: string;
  let server: ServerProcess | null = null;

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('fails the deploy with the refusal, never a silent exit 0 with nothing deployed', async () => {
    work = scratchDir();
    const app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    writeService(app, { envs: { staging: { instances: 1, port: await freePort() } } });
    // 32 MiB gzip cannot shrink, past a server that takes 4 MiB of blobs per batch: it
    // answers the moment the batch passes that and reads no more of it.
    mkdirSync(join(app, 'data'));
    for (let i = 0; i < 32; i++) writeFileSync(join(app, 'data', `f${i}.bin`), randomBytes(1024 * 1024));
    server = await startServerProcess(dataDir, 'server.log', { ...process.env, SLIPWAY_MAX_DECOMPRESSED_BYTES: String(4 * 1024 * 1024) });
    const r = await runCli(['deploy', 'staging'], { cwd: app, dataDir, timeoutMs: 60_000 });
    // Before: the upload waited for a body fetch never read again, the CLI's event loop
    // emptied and it exited 0 after its "sending … files" line. The refusal is what it
    // says when its answer arrives before the server closes the connection; when the
    // close comes first, fetch has only the broken pipe to report.
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toMatch(/E_ARTEFACT_INVALID\] the blob batch holds more than 4194304 bytes|E_SERVER_UNREACHABLE/);
    expect(existsSync(join(dataDir, 'artefacts')) ? readdirSync(join(dataDir, 'artefacts')).filter((f) => !f.startsWith('.')) : []).toEqual([]);
  }, 90_000);
});
