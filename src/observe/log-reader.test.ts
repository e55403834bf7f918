import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LogFollower, readRecentLogs } from './log-reader.ts';
import { RotatingLogFile } from './rotating-log-file.ts';
import type { LogRecord } from './log-records.ts';

const dir = mkdtempSync(join(tmpdir(), 'slipway-reader-'));
const tags = { env: 'prod', release: 3, instance: 'prod-3-a' };
const rec = (ts: number, msg: string, level: LogRecord['level'] = 'info'): string => `${JSON.stringify({ ts, ...tags, stream: 'stdout', level, msg })}\n`;

describe('readRecentLogs', () => {
  it('reads the newest records from the end, across rotated files, with filters', async () => {
    const path = join(dir, 'recent.log');
    const f = new RotatingLogFile(path, { maxFileBytes: 4096, maxFiles: 3 });
    for (let i = 0; i < 200; i++) f.write(Buffer.from(rec(1000 + i, `line ${i}${i % 10 === 0 ? ' needle' : ''}`, i % 50 === 0 ? 'error' : 'info')));
    f.close();
    const source = { ...tags, logPath: path };
    const last = await readRecentLogs([source], { limit: 5 });
    expect(last.map((r) => r.msg)).toEqual(['line 195', 'line 196', 'line 197', 'line 198', 'line 199']);
    const needles = await readRecentLogs([source], { limit: 100, grep: 'needle', sinceTs: 1150 });
    expect(needles.map((r) => r.ts)).toEqual([1150, 1160, 1170, 1180, 1190]);
    const errors = await readRecentLogs([source], { limit: 100, minLevel: 'warn' });
    expect(errors.map((r) => r.msg)).toEqual(['line 100 needle', 'line 150 needle']); // 0 and 50 were rotated away
    const spanning = await readRecentLogs([source], { limit: 60 });
    expect(spanning.map((r) => r.ts)).toEqual(Array.from({ length: 60 }, (_, i) => 1140 + i));
  });

  it('shows a line that is not a record as it is', async () => {
    const path = join(dir, 'old.log');
    writeFileSync(path, `a plain line from before records\n${rec(5, 'a record')}`);
    const got = await readRecentLogs([{ ...tags, logPath: path }], { limit: 10 });
    expect(got.map((r) => [r.stream, r.msg])).toEqual([['relay', 'a plain line from before records'], ['stdout', 'a record']]);
  });
});

describe('LogFollower', () => {
  it('follows a log through its rotations without losing or repeating a line', async () => {
    const path = join(dir, 'follow.log');
    const f = new RotatingLogFile(path, { maxFileBytes: 2048, maxFiles: 2 });
    f.write(Buffer.from(rec(1, 'before')));
    const source = { ...tags, logPath: path };
    const follower = new LogFollower({});
    await follower.start([source]);
    const seen: string[] = [];
    for (let i = 0; i < 100; i++) {
      f.write(Buffer.from(rec(10 + i, `l${i}`)));
      // Polls now and then, so that some rotations happen between two polls.
      if (i % 7 === 0) seen.push(...(await follower.poll([source])).map((r) => r.msg));
    }
    seen.push(...(await follower.poll([source])).map((r) => r.msg));
    f.close();
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => `l${i}`));
  });
});
