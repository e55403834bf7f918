import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { logRelayCommand, relayLog } from './log-relay.ts';

const SECRET = 'sk_live_relay_secret_0123456789';
const dir = mkdtempSync(join(tmpdir(), 'slipway-relay-'));

/** The relay program as the runtime starts it: output on stdin, values to mask on fd 3. */
function startRelay(logPath: string, fd3: string | null) {
  const [node, ...args] = logRelayCommand();
  // stderr into the log file, as the process runtime does.
  const logFd = openSync(logPath, 'a');
  const child = spawn(node!, [...args, '--log', logPath], { stdio: ['pipe', 'ignore', logFd, 'pipe'], detached: true });
  closeSync(logFd);
  child.stdin!.on('error', () => undefined);
  if (fd3 !== null) (child.stdio[3] as Writable).end(fd3);
  else (child.stdio[3] as Writable).end();
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, stdin: child.stdin!, exited };
}

describe('relayLog', () => {
  it('masks secrets split across chunks and writes each line when its newline arrives', async () => {
    const file = join(dir, 'in-process.log');
    const fd = openSync(file, 'a');
    const input = new PassThrough();
    const done = relayLog({ input, fd, secrets: [SECRET] });
    input.write(`first ${SECRET.slice(0, 5)}`);
    input.write(`${SECRET.slice(5, 17)}`);
    input.write(`${SECRET.slice(17)} end\nsecond line, no newline yet`);
    await sleep(20);
    expect(readFileSync(file, 'utf8')).toBe('first *** end\n');
    input.end(` ${SECRET}`);
    const stats = await done;
    closeSync(fd);
    expect(readFileSync(file, 'utf8')).toBe('first *** end\nsecond line, no newline yet ***');
    expect(stats.bytesLost).toBe(0);
  });

  it('writes an unfinished line after a quiet spell, holding back only what may start a secret', async () => {
    const file = join(dir, 'idle.log');
    const fd = openSync(file, 'a');
    const input = new PassThrough();
    const done = relayLog({ input, fd, secrets: [SECRET], idleFlushMs: 30 });
    const progress = 'progress: 10%... 20%... 30%... 40%... ';
    input.write(`${progress}${SECRET.slice(0, 4)}`);
    await sleep(120);
    const partial = readFileSync(file, 'utf8');
    // All but the last (longest secret - 1) bytes: enough to be useful, never the start of a secret.
    expect(partial).toBe(progress.slice(0, progress.length + 4 - (SECRET.length - 1)));
    input.end(`${SECRET.slice(4)} done\n`);
    await done;
    closeSync(fd);
    expect(readFileSync(file, 'utf8')).toBe(`${progress}*** done\n`);
  });

  it('counts what it cannot write and keeps draining its input', async () => {
    const input = new PassThrough();
    const done = relayLog({ input, fd: 987_654, secrets: [] }); // not an open descriptor
    input.end('a line that cannot be written\n');
    expect((await done).bytesLost).toBeGreaterThan(0);
  });
});

describe('the log relay process', () => {
  it('masks what it is told to on fd 3, ignores SIGTERM, and exits once its input closes', async () => {
    const file = join(dir, 'process.log');
    const r = startRelay(file, JSON.stringify({ redact: [SECRET] }));
    r.stdin.write('ready\n');
    for (let i = 0; i < 200 && !readFileSync(file, 'utf8').includes('ready'); i++) await sleep(25);
    r.stdin.write(`one ${SECRET.slice(0, 10)}`);
    await sleep(50);
    r.child.kill('SIGTERM'); // the relay stays for the last lines
    await sleep(50);
    r.stdin.write(`${SECRET.slice(10)}\n`);
    r.stdin.end(`last words ${SECRET}\n`);
    expect(await r.exited).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('ready\none ***\nlast words ***\n');
  });

  it('without the values to mask, writes none of the output (only that it could not)', async () => {
    const file = join(dir, 'no-fd3.log');
    const r = startRelay(file, null);
    r.stdin.end(`leak? ${SECRET}\n`);
    expect(await r.exited).toBe(1);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(SECRET);
    expect(text).toMatch(/cannot read the values to mask on fd 3/);
  });
});
