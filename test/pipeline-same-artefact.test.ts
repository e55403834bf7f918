// A second pipeline run of a commit already built packs the same bytes, so the same
// artefact: the server keeps the one it has. It used to crash there: the unread
// stream of the new pack opened its file after the stage had removed it, and that
// error, heard by no one, ended the server (every deploy, approval and rollback of
// every service with it).

import { execFileSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFetch, freePort, getJson, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';

interface RunView {
  run: { id: number; status: string; reason: string | null };
  stages: { name: string; status: string; reason: string | null; data: Record<string, unknown> }[];
}

describe('a second pipeline run of the same commit', { timeout: 180_000 }, () => {
  let work: string;
  let dataDir: string;
  let repo: string;
  let server: ServerProcess;

  beforeAll(async () => {
    work = scratchDir();
    dataDir = join(work, 'data');
    repo = join(work, 'repo');
    server = await startServerProcess(dataDir, 'server.log');
    writeService(repo, { envs: { staging: { instances: 1, port: await freePort() }, production: { instances: 1, port: await freePort() } } });
    appendFileSync(join(repo, 'slipway.yaml'), 'pipeline: {}\n');
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=Alice', '-c', 'user.email=a@example.test', ...args], { cwd: repo, encoding: 'utf8' });
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-qm', 'hello');
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  const start = async (): Promise<number> => {
    const res = await apiFetch(`${server.url}/api/pipeline/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ repo, ref: 'main' }) });
    expect(res.status, await res.clone().text()).toBe(202);
    return ((await res.json()) as RunView).run.id;
  };
  const packaged = async (id: number): Promise<RunView['stages'][number]> => {
    let stage: RunView['stages'][number] | undefined;
    await waitFor(`run #${id} past packaging`, async () => {
      const v = await getJson<RunView>(`${server.url}/api/pipeline/runs/${id}`);
      stage = v.stages.find((s) => s.name === 'package');
      return stage?.status === 'succeeded' || stage?.status === 'failed' || v.run.status === 'failed';
    }, 120_000);
    return stage!;
  };

  it('uses the artefact it has, and the server stays up', async () => {
    const first = await packaged(await start());
    expect(first.status, first.reason ?? '').toBe('succeeded');
    const second = await packaged(await start());
    expect(second.status, second.reason ?? '').toBe('succeeded');
    expect(second.data['digest']).toBe(first.data['digest']);
    // Still the same server, answering.
    await new Promise((r) => setTimeout(r, 500));
    expect(server.child.exitCode).toBeNull();
    const health = await apiFetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
  });
});
