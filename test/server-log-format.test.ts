// The server's own log on a terminal is one readable line per event; piped (a
// collector, a file, systemd) it stays JSON. The terminal is a real pseudo-terminal
// made by util-linux's `script`.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor } from './support/harness.ts';

let dataDir: string | null = null;
afterEach(async () => {
  if (dataDir) await shutdownEverything(null, dataDir);
  dataDir = null;
});

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

describe('the server log format', () => {
  it('is pretty on a terminal and JSON when piped, by default', async () => {
    const work = scratchDir();
    dataDir = join(work, '.slipway');
    const command = [process.execPath, BIN, '--data-dir', dataDir, 'server', '--listen', '127.0.0.1:0'].map(shellQuote).join(' ');
    const env = { ...process.env };
    delete env.SLIPWAY_LOG_FORMAT;
    const tty = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env });
    let out = '';
    tty.stdout.on('data', (b: Buffer) => (out += b.toString()));
    await waitFor('the server on a terminal to start', () => existsSync(join(dataDir!, 'server.json')) && /router/i.test(out), 60_000);
    const stop = await runCli(['server', 'stop', '--all'], { cwd: work, dataDir });
    expect(stop.code, stop.stdout + stop.stderr).toBe(0);
    await new Promise<void>((r) => (tty.exitCode !== null ? r() : tty.once('exit', () => r())));
    const lines = out.split(/\r?\n/).filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.some((l) => l.trimStart().startsWith('{"level"'))).toBe(false);
    expect(out).toMatch(/\d\d:\d\d:\d\d\.\d{3}.*INFO/);

    const piped = await startServerProcess(dataDir, 'piped.log', env);
    await shutdownEverything(piped.url, dataDir);
    const first = readFileSync(join(work, 'piped.log'), 'utf8').split('\n').find((l) => l.trim() !== '')!;
    expect(JSON.parse(first)).toHaveProperty('level');
  });
});
