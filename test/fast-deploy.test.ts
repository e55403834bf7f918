// `slipway deploy` asks the server before it uploads (issue 22): a deploy with
// nothing to do, or of an artefact the server holds, sends no artefact; a
// production deploy that a gate refuses is refused before anything is sent. Each
// sending is an audit entry (`blobs.upload` and `artefact.assemble`, or an older
// CLI's `artefact.upload`), which is how these tests count them.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess, type ServiceOptions } from './support/harness.ts';

describe('deploy asks before it uploads', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let service: ServiceOptions;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 60_000 });
  const uploads = async () => (await getJson<{ entries: { action: string }[] }>(`${server.url}/api/audit`)).entries
    .filter((e) => ['artefact.upload', 'blobs.upload', 'artefact.assemble'].includes(e.action)).length;

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    server = await startServerProcess(dataDir);
    service = { envs: { staging: { instances: 1, port: await freePort() }, production: { instances: 1, port: await freePort() } } };
    writeService(app, service);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('a deploy with nothing to do, and one of an artefact the server holds, upload nothing', async () => {
    const first = await cli('deploy', 'staging');
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(await uploads()).toBe(2);
    const again = await cli('deploy', 'staging');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already runs this artefact and config as #1; nothing to do/);
    const prod = await cli('deploy', 'production');
    expect(prod.code, prod.stdout + prod.stderr).toBe(0);
    expect(prod.stdout).toMatch(/the server holds this artefact already: not uploading it/);
    expect(await uploads()).toBe(2);
  });

  it('a production deploy that the staging gate refuses is refused before the artefact is sent', async () => {
    writeService(app, { ...service, version: '2.0.0' });
    const { appendFileSync } = await import('node:fs');
    appendFileSync(join(app, 'slipway.yaml'), 'pipeline:\n  staging: staging\n  production: production\n');
    const artefactsBefore = readdirSync(join(dataDir, 'artefacts')).length;
    const blobsBefore = readdirSync(join(dataDir, 'blobs', 'services', 'hello', 'sha256')).length;
    const r = await cli('deploy', 'production');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/accepts only an artefact that has succeeded in staging/);
    expect(await uploads()).toBe(2);
    expect(readdirSync(join(dataDir, 'artefacts')).length).toBe(artefactsBefore);
    expect(readdirSync(join(dataDir, 'blobs', 'services', 'hello', 'sha256')).length).toBe(blobsBefore);
  });
});
