// What a run request's repository can make the server do. A repository's own config
// can make git run commands (a filter's smudge during `git archive`), so git runs
// without the server's secrets in its environment, and never in slipway's data
// directory, where a deployer's uploaded files are unpacked as the server's own.
// A run request also may not tell a deployer which paths exist on the server.

import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFetch, freePort, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';

const SECRET = 'hunter2-not-for-git-3f9a';

describe('a run request meets git with nothing of the server\'s', { timeout: 120_000 }, () => {
  let work: string;
  let dataDir: string;
  let server: ServerProcess;

  /** A repository of the example service whose config runs `smudge` on every file git archive writes. */
  const makeRepo = async (dir: string, smudge: string): Promise<void> => {
    mkdirSync(dir, { recursive: true });
    writeService(dir, { envs: { staging: { instances: 1, port: await freePort() }, production: { instances: 1, port: await freePort() } } });
    appendFileSync(join(dir, 'slipway.yaml'), 'build: { command: "true" }\npipeline: {}\n');
    writeFileSync(join(dir, '.gitattributes'), '*.js filter=leak\n');
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=Mallory', '-c', 'user.email=m@example.test', ...args], { cwd: dir, encoding: 'utf8' });
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-qm', 'hello');
    git('config', 'filter.leak.smudge', smudge);
  };
  const startRun = async (repo: string) => {
    const res = await apiFetch(`${server.url}/api/pipeline/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ repo, ref: 'main' }) });
    return { status: res.status, json: (await res.json()) as { run?: { id: number }; error?: { code: string; message: string } } };
  };

  beforeAll(async () => {
    work = scratchDir();
    dataDir = join(work, 'data');
    server = await startServerProcess(dataDir, 'server.log', { ...process.env, SLIPWAY_SECRET_STAGING_DB: SECRET, VAULT_TOKEN: SECRET });
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it("runs git's config-given commands without the server's secrets in their environment", async () => {
    const repo = join(work, 'repo');
    const seen = join(work, 'smudge-env');
    // The smudge filter writes what it sees, then passes the file through.
    await makeRepo(repo, `sh -c 'env >> ${seen}; cat'`);
    const r = await startRun(repo);
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    await waitFor('git archive ran the filter', () => existsSync(seen) && readFileSync(seen, 'utf8').includes('PATH='), 60_000);
    const env = readFileSync(seen, 'utf8');
    expect(env).not.toContain(SECRET);
    expect(env).not.toMatch(/^(VAULT_TOKEN|SLIPWAY_SECRET_\w+|SLIPWAY_MASTER_KEY)=/m);
  });

  it("refuses a repository inside the data directory, running nothing of it", async () => {
    const repo = join(dataDir, 'releases', 'planted');
    const ran = join(work, 'planted-ran');
    await makeRepo(repo, `sh -c 'touch ${ran}; cat'`);
    const r = await startRun(repo);
    expect(r.status).toBe(403);
    expect(r.json.error?.code).toBe('E_POLICY_DENIED');
    expect(r.json.error?.message).toMatch(/inside slipway's data directory/);
    // Through a link too.
    const link = join(work, 'link-to-data');
    execFileSync('ln', ['-s', dataDir, link]);
    const viaLink = await startRun(join(link, 'releases', 'planted'));
    expect(viaLink.json.error?.code).toBe('E_POLICY_DENIED');
    await new Promise((res) => setTimeout(res, 500));
    expect(existsSync(ran)).toBe(false);
  });

  it('answers alike for a path that does not exist and a directory that is no repository', async () => {
    const plain = join(work, 'plain-dir');
    mkdirSync(plain);
    const missing = await startRun(join(work, 'no-such-dir'));
    const notRepo = await startRun(plain);
    expect(missing.status).toBe(400);
    expect(notRepo.status).toBe(400);
    const words = (m: string | undefined, path: string) => m?.replace(path, '<path>');
    expect(words(missing.json.error?.message, join(work, 'no-such-dir'))).toBe(words(notRepo.json.error?.message, plain));
    expect(missing.json.error?.message).not.toMatch(/No such file|cannot change/i);
  });
});
