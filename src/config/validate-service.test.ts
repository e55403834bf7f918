import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateServiceConfig } from './validate-service.ts';

const dir = mkdtempSync(join(tmpdir(), 'slipway-program-'));
writeFileSync(join(dir, 'start.sh'), '#!/bin/sh\n');
writeFileSync(join(dir, 'run.sh'), '#!/bin/sh\n');
chmodSync(join(dir, 'run.sh'), 0o755);
writeFileSync(join(dir, 'server.js'), '');
mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true });
writeFileSync(join(dir, 'node_modules', '.bin', 'json-server'), '#!/bin/sh\n');
chmodSync(join(dir, 'node_modules', '.bin', 'json-server'), 0o755);

const yaml = (command: string, runtime = 'process') => `service: shop
run:
  command: ${command}
environments:
  staging:
    runtime: ${runtime}
    listen: 8081
`;
const validate = (command: string, runtime?: string) => validateServiceConfig(yaml(command, runtime), 'slipway.yaml', { serviceDir: dir, pathEnv: process.env.PATH ?? '' });

describe('validateServiceConfig checks the program of run.command in the service directory', () => {
  it.each([
    ['./strat.sh', /the program \.\/strat\.sh is not a file in the service directory/],
    ['bin/server --port ${PORT}', /the program bin\/server is not a file/],
    ['./start.sh', /the program \.\/start\.sh is not executable; chmod \+x it/],
    ['json-sever db.json', /the program "json-sever" is neither in node_modules\/\.bin nor on PATH here; install it \(npm install json-sever/],
    ['[gunicorn-not-installed-here, app:app]', /"gunicorn-not-installed-here" is neither/],
  ])('refuses %j at run.command', (command, message) => {
    const r = validate(command);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.issues).toHaveLength(1);
      expect(r.issues[0]).toMatchObject({ path: 'run.command', line: 3, col: 12 });
      expect(r.issues[0]!.message).toMatch(message);
    }
  });

  it.each(['./run.sh', 'json-server db.json', 'node server.js', 'sh -c "exec node server.js"', 'python3 -m http.server ${PORT}', '/opt/app/bin/server'])('accepts %j', (command) => {
    const r = validate(command);
    expect(r.ok && r.warnings).toEqual([]);
  });

  it('warns (does not refuse) when an interpreter is given a script that is not there', () => {
    const r = validate('node sever.js');
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.warnings.map((w) => `${w.line}:${w.col} ${w.message}`)).toEqual([expect.stringMatching(/^3:12 node is given sever\.js, which is not a file/)]);
  });

  it('leaves a container runtime alone: its image holds the program', () => {
    expect(validate('./not-here', 'docker').ok).toBe(true);
  });
});
