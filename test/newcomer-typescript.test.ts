// A TypeScript service (tsc into dist/, `npm run build`) deployed by a newcomer
// before building it: a release is the directory as it is, so its instance dies
// with "Cannot find module .../dist/server.js". validate warned "check the name";
// deploy said nothing before uploading. Both now say to run the build first, and
// once it has run the same deploy goes through without a word. `slipway init`, run
// before the first build, probed "/" (it looked for /healthz in dist/ only) and
// said nothing of the build. And `slipway deploy stagin` listed the environments
// without the one meant.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, scratchDir, shutdownEverything, startServerProcess, type ServerProcess } from './support/harness.ts';

const SOURCE = `import http from 'node:http';
http.createServer((req, res) => { res.end(req.url === '/healthz' ? 'ok' : 'orders in typescript'); }).listen(Number(process.env.PORT), '127.0.0.1');
`;

describe('a TypeScript service deployed before its build', () => {
  const work = scratchDir('slipway-ts-');
  const app = join(work, 'orders');
  const dataDir = join(work, '.slipway');
  let server: ServerProcess | null = null;
  let port = 0;

  beforeAll(async () => {
    port = await freePort();
    mkdirSync(join(app, 'src'), { recursive: true });
    writeFileSync(join(app, 'src', 'server.ts'), SOURCE);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'orders', version: '1.0.0', type: 'module', scripts: { build: 'tsc -p tsconfig.json', start: 'node dist/server.js' } }));
    writeFileSync(join(app, 'slipway.yaml'), [
      'service: orders',
      'run: { command: node dist/server.js }',
      'health: { path: /healthz, interval: 200ms, healthy_threshold: 1, start_deadline: 10s }',
      'shutdown: { drain_timeout: 1s, kill_timeout: 2s }',
      'environments:',
      `  staging: { listen: "127.0.0.1:${port}" }`,
      '',
    ].join('\n'));
    server = await startServerProcess(dataDir);
  }, 120_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  }, 60_000);

  it('init, before any build, finds /healthz in the TypeScript source and says to build before deploying', async () => {
    const fresh = join(work, 'fresh');
    mkdirSync(join(fresh, 'src'), { recursive: true });
    writeFileSync(join(fresh, 'src', 'server.ts'), SOURCE);
    writeFileSync(join(fresh, 'package.json'), JSON.stringify({ name: 'fresh', version: '1.0.0', scripts: { build: 'tsc', start: 'node dist/server.js' } }));
    const r = await runCli(['init'], { cwd: fresh, dataDir });
    expect(r.code, r.stderr).toBe(0);
    const yaml = readFileSync(join(fresh, 'slipway.yaml'), 'utf8');
    expect(yaml).toContain('command: node dist/server.js');
    // Not "/": the home page would do, but the service has a health endpoint.
    expect(yaml).toMatch(/^ {2}path: \/healthz/m);
    expect(yaml).toContain('# Nor is anything built: run npm run build before slipway deploy');
  });

  it('a misspelt environment name is refused with the name it is close to', async () => {
    for (const command of ['deploy', 'plan']) {
      const r = await runCli([command, 'stagin'], { cwd: app, dataDir });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('E_ENV_UNKNOWN');
      expect(r.stderr).toContain('slipway.yaml has no environment "stagin"; did you mean "staging"?; it has: staging');
    }
  });

  it('validate and deploy say to run `npm run build` first', async () => {
    const v = await runCli(['validate'], { cwd: app, dataDir });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/warning slipway\.yaml:\d+:\d+ run\.command: node is given dist\/server\.js, which is not a file in the service directory .*run `npm run build` here before deploying/);

    const d = await runCli(['deploy', 'staging'], { cwd: app, dataDir });
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/^warning node is given dist\/server\.js, which is not a file in the service directory .*run `npm run build` here before deploying/m);
    expect(d.stdout).toContain('Cannot find module');
  }, 60_000);

  it('after the build (dist/server.js, as tsc writes it) the deploy goes through with no warning', async () => {
    mkdirSync(join(app, 'dist'));
    writeFileSync(join(app, 'dist', 'server.js'), SOURCE);
    const d = await runCli(['deploy', 'staging'], { cwd: app, dataDir });
    expect(d.code, d.stdout + d.stderr).toBe(0);
    expect(d.stderr).not.toContain('warning');
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('orders in typescript');
  }, 60_000);
});
