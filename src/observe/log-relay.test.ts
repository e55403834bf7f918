import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { logRelayCommand, relayLog, type LogSink } from './log-relay.ts';
import { parseLogLine, type LogRecord } from './log-records.ts';
import { RotatingLogFile, rotatedPaths } from './rotating-log-file.ts';

const SECRET = 'sk_live_relay_secret_0123456789';
const dir = mkdtempSync(join(tmpdir(), 'slipway-relay-'));
const tags = { env: 'staging', release: 4, instance: 'staging-4-abc' };

/** A sink in memory, parsed back into records. */
function memorySink(): LogSink & { records(): LogRecord[]; text(): string } {
  const chunks: Buffer[] = [];
  return {
    write: (b) => void chunks.push(Buffer.from(b)),
    text: () => Buffer.concat(chunks).toString('utf8'),
    records: () => Buffer.concat(chunks).toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogRecord),
  };
}

/** The relay program as the runtime starts it: stdout on stdin, stderr on fd 4, values to mask on fd 3. */
function startRelay(logPath: string, fd3: string | null, extra: string[] = []) {
  const [node, ...args] = logRelayCommand();
  const logFd = openSync(logPath, 'a');
  const child = spawn(node!, [...args, '--log', logPath, '--env', 'staging', '--release', '4', '--instance', 'i-1', '--stderr-fd', '4', ...extra], {
    stdio: ['pipe', 'ignore', logFd, 'pipe', 'pipe'], detached: true,
  });
  closeSync(logFd);
  child.stdin!.on('error', () => undefined);
  if (fd3 !== null) (child.stdio[3] as Writable).end(fd3);
  else (child.stdio[3] as Writable).end();
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, stdin: child.stdin!, stderr: child.stdio[4] as Writable, exited };
}

const records = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => parseLogLine(l, tags));

describe('relayLog', () => {
  it('masks secrets split across chunks and makes each line a tagged record when its newline arrives', async () => {
    const sink = memorySink();
    const input = new PassThrough();
    const errInput = new PassThrough();
    const done = relayLog({ input, errInput, sink, secrets: [SECRET], tags, now: () => 1000 });
    input.write(`first ${SECRET.slice(0, 5)}`);
    input.write(`${SECRET.slice(5, 17)}`);
    input.write(`${SECRET.slice(17)} end\n`);
    await sleep(10);
    errInput.write('ERROR the disk is on fire\nsomething on stderr\n');
    await sleep(10);
    input.write(`{"level":50,"msg":"payment failed","token":"${SECRET}","order":7}\nsecond line, no newline yet`);
    await sleep(30);
    expect(sink.text()).not.toContain(SECRET);
    expect(sink.records().map((r) => [r.stream, r.level, r.msg])).toEqual([
      ['stdout', 'info', 'first *** end'],
      ['stderr', 'error', 'ERROR the disk is on fire'],
      ['stderr', 'warn', 'something on stderr'],
      ['stdout', 'error', 'payment failed'],
    ]);
    const json = sink.records()[3]!;
    expect(json).toMatchObject({ ts: 1000, env: 'staging', release: 4, instance: 'staging-4-abc', fields: { token: '***', order: 7 } });
    input.end(` ${SECRET}`);
    errInput.end();
    const stats = await done;
    expect(sink.records().at(-1)).toMatchObject({ msg: 'second line, no newline yet ***', stream: 'stdout' });
    expect(stats.bytesLost).toBe(0);
    expect(stats.linesDropped).toBe(0);
  });

  it('writes an unfinished line after a quiet spell, holding back only what may start a secret', async () => {
    const sink = memorySink();
    const input = new PassThrough();
    const done = relayLog({ input, sink, secrets: [SECRET], tags, idleFlushMs: 30 });
    const progress = 'progress: 10%... 20%... 30%... 40%... ';
    input.write(`${progress}${SECRET.slice(0, 4)}`);
    await sleep(150);
    // All but the last (longest secret - 1) bytes: enough to be useful, never the start of a secret.
    expect(sink.records().map((r) => [r.msg, r.partial])).toEqual([[progress.slice(0, progress.length + 4 - (SECRET.length - 1)).trimEnd(), true]]);
    input.end(`${SECRET.slice(4)} done\n`);
    await done;
    expect(sink.text()).not.toContain(SECRET.slice(0, 8));
    expect(sink.records().map((r) => r.msg).join('')).toContain('*** done');
  });

  it('counts what it cannot write and keeps draining its input', async () => {
    const input = new PassThrough();
    const sink: LogSink = { write: () => { throw new Error('ENOSPC'); } };
    const done = relayLog({ input, sink, secrets: [], tags });
    input.end('a line that cannot be written\n');
    expect((await done).bytesLost).toBeGreaterThan(0);
  });

  it('behind a slow disk, drops whole lines, says how many, and never writes half a line', async () => {
    const sink = memorySink();
    const slow: LogSink = { write: (b) => { const until = Date.now() + 5; while (Date.now() < until); sink.write(b); } };
    const input = new PassThrough();
    const done = relayLog({ input, sink: slow, secrets: [SECRET], tags, maxQueueBytes: 64 * 1024 });
    const line = (i: number) => `line ${String(i).padStart(6, '0')} ${SECRET} ${'x'.repeat(80)}\n`;
    let written = 0;
    for (let i = 0; i < 20_000; i++) {
      input.write(line(i));
      written++;
      if (i % 500 === 0) await sleep(0);
    }
    input.end();
    const stats = await done;
    expect(stats.linesDropped).toBeGreaterThan(0);
    const out = sink.records();
    const kept = out.filter((r) => r.stream === 'stdout');
    const notices = out.filter((r) => r.stream === 'relay');
    expect(notices.length).toBeGreaterThan(0);
    expect(notices[0]!.msg).toMatch(/dropped/);
    // Every line that made it is whole and masked.
    for (const r of kept) expect(r.msg).toMatch(new RegExp(`^line \\d{6} \\*\\*\\* x{80}$`));
    expect(sink.text()).not.toContain(SECRET.slice(0, 10));
    expect(kept.length + stats.linesDropped).toBeGreaterThanOrEqual(written - 2);
  });
});

describe('RotatingLogFile', () => {
  it('keeps an instance log under (files + 1) × size, newest in the plain name', () => {
    const path = join(dir, 'rotate.log');
    const f = new RotatingLogFile(path, { maxFileBytes: 10_000, maxFiles: 2 });
    for (let i = 0; i < 1000; i++) f.write(Buffer.from(`${String(i).padStart(5, '0')} ${'y'.repeat(94)}\n`));
    f.close();
    const files = rotatedPaths(path, 2).filter(existsSync);
    expect(files).toHaveLength(3);
    const total = files.reduce((n, p) => n + statSync(p).size, 0);
    expect(total).toBeLessThanOrEqual(30_000);
    expect(readFileSync(path, 'utf8').trimEnd().split('\n').at(-1)).toMatch(/^00999 /);
    expect(existsSync(`${path}.3`)).toBe(false);
  });
});

describe('the log relay process', () => {
  it('masks what it is told to on fd 3, tells stdout from stderr, ignores SIGTERM, and exits once its inputs close', async () => {
    const file = join(dir, 'process.log');
    const r = startRelay(file, JSON.stringify({ redact: [SECRET] }));
    r.stdin.write('ready\n');
    for (let i = 0; i < 200 && !(existsSync(file) && readFileSync(file, 'utf8').includes('ready')); i++) await sleep(25);
    r.stdin.write(`one ${SECRET.slice(0, 10)}`);
    r.stderr.write(`warning: on stderr ${SECRET}\n`);
    await sleep(50);
    r.child.kill('SIGTERM'); // the relay stays for the last lines
    await sleep(50);
    r.stdin.write(`${SECRET.slice(10)}\n`);
    r.stdin.end(`last words ${SECRET}\n`);
    r.stderr.end();
    expect(await r.exited).toBe(0);
    expect(readFileSync(file, 'utf8')).not.toContain(SECRET);
    const got = records(file);
    expect(got.map((x) => [x.stream, x.msg])).toEqual([
      ['stdout', 'ready'], ['stderr', 'warning: on stderr ***'], ['stdout', 'one ***'], ['stdout', 'last words ***'],
    ]);
    expect(got[0]).toMatchObject({ env: 'staging', release: 4, instance: 'i-1', level: 'info' });
    expect(got[1]!.level).toBe('warn');
  });

  it('without the values to mask, writes none of the output (only that it could not)', async () => {
    const file = join(dir, 'no-fd3.log');
    const r = startRelay(file, null);
    r.stdin.end(`leak? ${SECRET}\n`);
    r.stderr.end(`leak? ${SECRET}\n`);
    expect(await r.exited).toBe(1);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(SECRET);
    expect(text).toMatch(/cannot read the values to mask on fd 3/);
  });
});
