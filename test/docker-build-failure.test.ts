// A Dockerfile whose build fails, deployed through the server and the CLI on a real
// Docker engine: what the failing step printed is what the deploy shows, as the
// user would read it in a terminal or a CI log.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker, dockerIsAvailable, ensureNodeImage, removeContainersOf } from './support/docker.ts';
import { freePort, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';

const available = await dockerIsAvailable();
const SERVICE = 'dxbuild';

describe.skipIf(!available)('a docker build that fails', { timeout: 120_000 }, () => {
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let baseTag: string;

  beforeAll(async () => {
    baseTag = (await ensureNodeImage()).tag;
    const work = scratchDir();
    app = join(work, 'app');
    dataDir = join(work, '.slipway');
    writeService(app, { service: SERVICE, envs: { staging: { instances: 1, port: await freePort(), extraYaml: 'runtime: docker' } } });
    server = await startServerProcess(dataDir);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
    if (dataDir) await removeContainersOf(dataDir);
    for (const image of await docker.listImages({ filters: { reference: [`slipway/${SERVICE}`] } }).catch(() => [])) {
      await docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
    }
  });

  it('shows the failing step and its last lines of output, without the builder\'s colour codes and chatter', async () => {
    // As an `npm ci` that fails does: a dozen lines on stderr, the cause among the last ones.
    const script = "for (let i = 1; i <= 12; i++) console.error('npm ERR! line ' + i); console.error('npm ERR! missing: left-pad@1.3.0'); process.exit(1)";
    writeFileSync(join(app, 'Dockerfile'), [`FROM ${baseTag}`, 'COPY . /app', `RUN ["node", "-e", ${JSON.stringify(script)}]`, ''].join('\n'));
    const r = await runCli(['deploy', 'staging'], { cwd: app, dataDir });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const said = r.stdout + r.stderr;
    expect(said).toMatch(/E_DEPLOY_FAILED.*building the image of dxbuild from Dockerfile failed: The command .* returned a non-zero code: 1/);
    expect(said).toMatch(/Step 3\/\d+ : RUN \["node", "-e"/);
    for (let i = 3; i <= 12; i++) expect(said).toContain(`npm ERR! line ${i}\n`);
    expect(said).toContain('npm ERR! missing: left-pad@1.3.0');
    // Terminal colour codes and the builder's own bookkeeping are not what went wrong.
    expect(said).not.toContain('\x1b');
    expect(said).not.toMatch(/Removing intermediate container|---> Running in/);
  });
});
