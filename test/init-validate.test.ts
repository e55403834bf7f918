// `slipway init` then `slipway validate` on the projects a newcomer brings (issue
// 22): a Node project, Python projects and a static site, each in a scratch
// directory, through the real CLI. What init guesses must validate where the
// program exists, and validate must name a program that does not, at file:line:col.

import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, scratchDir } from './support/harness.ts';

function project(name: string, files: Record<string, string>): string {
  const dir = join(scratchDir('slipway-init-'), name);
  mkdirSync(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const cli = (dir: string, ...args: string[]) => runCli(args, { cwd: dir, dataDir: join(dir, '.slipway') });

interface Issue { line: number; col: number; path: string; message: string }

describe('slipway init guesses the command, and validate checks its program', () => {
  it('a Node project: the start script becomes the command, $PORT as ${PORT}, and it validates', async () => {
    const dir = project('shop', {
      'package.json': JSON.stringify({ name: 'shop', main: 'lib/index.js', scripts: { start: 'node server.js --port $PORT' }, engines: { node: '>=20' } }),
      'server.js': "app.get('/healthz', ok);",
    });
    const init = await cli(dir, '--json', 'init');
    expect(init.code, init.stderr).toBe(0);
    expect(JSON.parse(init.stdout)).toMatchObject({ service: 'shop', kind: 'node', command: 'node server.js --port ${PORT}', healthPath: '/healthz' });
    const text = readFileSync(join(dir, 'slipway.yaml'), 'utf8');
    expect(text).toMatch(/^ {2}command: node server\.js --port \$\{PORT\}$/m);
    expect(text).toMatch(/# Guessed from package.json's start script/);
    expect(text).toMatch(/# package.json wants node >=20; the node on this machine is v\d+/);
    const v = await cli(dir, 'validate');
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toMatch(/^ok slipway\.yaml: service shop/m);
  });

  it('a Node project without a start script runs main; a start script that needs a shell runs npm start', async () => {
    const main = project('api', { 'package.json': JSON.stringify({ main: 'src/api.js' }), 'src/api.js': '' });
    expect(JSON.parse((await cli(main, '--json', 'init')).stdout)).toMatchObject({ command: 'node src/api.js', healthPath: '/' });
    expect((await cli(main, 'validate')).code).toBe(0);
    const shelly = project('web', { 'package.json': JSON.stringify({ scripts: { start: 'npm run build && node dist/server.js' } }) });
    expect(JSON.parse((await cli(shelly, '--json', 'init')).stdout)).toMatchObject({ command: 'npm start' });
    expect((await cli(shelly, 'validate')).code).toBe(0);
  });

  it('a Python project with gunicorn: the guess names it, and validate says it is not installed here', async () => {
    const dir = project('orders', { 'requirements.txt': 'flask==3.0.0\ngunicorn==22.0.0\n', 'app.py': 'app = Flask(__name__)\n' });
    const init = await cli(dir, '--json', 'init');
    expect(JSON.parse(init.stdout)).toMatchObject({ kind: 'python', command: 'gunicorn --bind 127.0.0.1:${PORT} app:app', healthPath: '/' });
    expect(readFileSync(join(dir, 'slipway.yaml'), 'utf8')).toMatch(/# No \/healthz was found in the code/);
    const v = await cli(dir, '--json', 'validate');
    expect(v.code).toBe(1);
    const issues = (JSON.parse(v.stdout) as { issues: Issue[] }).issues;
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ path: 'run.command', message: expect.stringMatching(/"gunicorn" is neither in node_modules\/\.bin nor on PATH/) as unknown });
    const line = readFileSync(join(dir, 'slipway.yaml'), 'utf8').split('\n')[issues[0]!.line - 1]!;
    expect(line.slice(issues[0]!.col - 1)).toBe('gunicorn --bind 127.0.0.1:${PORT} app:app');
  });

  it('a Python project with a virtualenv of its own runs its tools by path, and validates', async () => {
    const dir = project('inventory', { 'requirements.txt': 'fastapi\nuvicorn\n', 'main.py': '', '.venv/bin/python3': '', '.venv/bin/uvicorn': '#!/bin/sh\n' });
    chmodSync(join(dir, '.venv/bin/uvicorn'), 0o755);
    const init = await cli(dir, '--json', 'init');
    expect(JSON.parse(init.stdout)).toMatchObject({ command: '.venv/bin/uvicorn main:app --host 127.0.0.1 --port ${PORT}' });
    expect((await cli(dir, 'validate')).code).toBe(0);
  });

  it('a plain Python script is run with python3', async () => {
    const dir = project('worker', { 'pyproject.toml': '[project]\nname = "worker"\n', 'server.py': '' });
    expect(JSON.parse((await cli(dir, '--json', 'init')).stdout)).toMatchObject({ command: 'python3 server.py' });
    expect((await cli(dir, 'validate')).code).toBe(0);
  });

  it('a static site is served by python3 -m http.server on ${PORT}, probed at /', async () => {
    const dir = project('site', { 'index.html': '<h1>hi</h1>' });
    const init = await cli(dir, '--json', 'init');
    expect(JSON.parse(init.stdout)).toMatchObject({ kind: 'static', command: 'python3 -m http.server ${PORT} --bind 127.0.0.1 --directory .', healthPath: '/' });
    expect((await cli(dir, 'validate')).code).toBe(0);
  });

  it('validate names a program that is not in the tree at file:line:col (more cases: src/config/validate-service.test.ts)', async () => {
    const dir = project('typos', {});
    expect((await cli(dir, 'init', '--command', './strat.sh')).code).toBe(0);
    const v = await cli(dir, 'validate');
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/^slipway\.yaml:\d+:\d+ run\.command: the program \.\/strat\.sh is not a file in the service directory/m);
  });
});
