// What the CLI prints when the server refuses a deploy with an error that quotes an
// app's output (a Docker build whose failing step wrote terminal escapes: a window
// title, a screen clear, a cursor move: the server leaves them out of a build's
// lines), or when a rollout ends with a reason that quotes a failed instance's last
// log lines (shown as text, never as sequences the terminal would act on).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerIsAvailable, ensureNodeImage, removeContainersOf } from './support/docker.ts';
import { freePort, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';

const available = await dockerIsAvailable();
// What the build step prints: a window title (OSC 0), a screen clear, a cursor move home.
const HOSTILE = '\\033]0;owned\\007\\033[2J\\033[Hbuild step broke';

describe.skipIf(!available)('the error a failed build quotes', { timeout: 120_000 }, () => {
  let app: string;
  let dataDir: string;
  let server: ServerProcess;

  beforeAll(async () => {
    const base = await ensureNodeImage();
    const work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    writeService(app, { envs: { staging: { instances: 1, port: await freePort(), extraYaml: 'runtime: docker' } } });
    writeFileSync(join(app, 'Dockerfile'), [`FROM ${base.tag}`, `RUN printf '${HOSTILE}\\n'; exit 3`, ''].join('\n'));
    server = await startServerProcess(dataDir);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
    if (dataDir) await removeContainersOf(dataDir);
  });

  it('reaches the terminal with what the step printed, its escapes left out', async () => {
    const r = await runCli(['deploy', 'staging'], { cwd: app, dataDir });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('E_DEPLOY_FAILED');
    // The step's own words, on a line of their own, without the title, clear and cursor move it wrote.
    expect(r.stderr).toMatch(/^\s+build step broke$/m);
    // NO_COLOR is set: not one escape of any kind reaches stderr.
    expect(r.stderr).not.toContain('\x1b');
    expect(r.stderr).not.toContain('\x07');
  });

  it('has none of them in the message of --json output either', async () => {
    const r = await runCli(['deploy', 'staging', '--json'], { cwd: app, dataDir });
    expect(r.code).not.toBe(0);
    const { error } = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    expect(error.code).toBe('E_DEPLOY_FAILED');
    expect(error.message).toMatch(/\n\s+build step broke(\n|$)/);
    expect(error.message).not.toMatch(/[\x07\x1b]/);
  });
});

describe('the reason a failed rollout quotes', { timeout: 60_000 }, () => {
  let app: string;
  let dataDir: string;
  let server: ServerProcess;

  beforeAll(async () => {
    const work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    writeService(app, { envs: { staging: { instances: 1, port: await freePort() } }, health: { startDeadline: '5s' } });
    // An app that writes the escapes to its log and exits before it is healthy.
    writeFileSync(join(app, 'server.js'), `process.stdout.write('${HOSTILE.replaceAll('\\033', '\\x1b').replaceAll('\\007', '\\x07')}\\n'); process.exit(3);\n`);
    server = await startServerProcess(dataDir);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('reaches the terminal with the app\'s escapes shown as text, on every line deploy prints', async () => {
    const r = await runCli(['deploy', 'staging'], { cwd: app, dataDir });
    expect(r.code).toBe(1);
    // The lines are quoted once, by the event that first gives the reason; the end points back.
    expect(r.stdout).toMatch(/exited before it became healthy; last log lines:/);
    expect(r.stdout).toMatch(/rollout #\d+ deploy → #1 failed — instance \S+ exited before it became healthy \(its last log lines are above\)/);
    expect(r.stdout).toContain('\\x1b]0;owned\\x07\\x1b[2J\\x1b[Hbuild step broke');
    expect(r.stdout).not.toContain('\x1b');
    expect(r.stdout).not.toContain('\x07');
  });
});
