// An instance that writes 100 MB of logs as fast as it can: its writes are not
// held up by the log relay, and its logs stay within the configured rotation
// limit on disk, whole lines only, with what was dropped counted.

import { cpSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE, apiFetch, freePort, getJson, liveInstanceRows, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';

// Writes `mb` megabytes of 210-byte lines to stdout in 64 KB writes, synchronously
// (stdout to a pipe blocks on Linux when the pipe is full), and says how long it took.
const FLOOD_SERVER = `
import http from 'node:http';
const pad = 'x'.repeat(200);
http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/flood') {
    const mb = Number(url.searchParams.get('mb'));
    const chunk = Buffer.from(Array.from({ length: 312 }, (_, i) => 'flood ' + String(i).padStart(3, '0') + ' ' + pad + '\\n').join(''));
    const t0 = performance.now();
    let bytes = 0;
    while (bytes < mb * 1024 * 1024) { process.stdout.write(chunk); bytes += chunk.length; }
    process.stdout.write('flood done\\n');
    res.end(JSON.stringify({ ms: performance.now() - t0, bytes }));
    return;
  }
  res.end('ok');
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

describe('an instance flooding its log', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let port: number;

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'flood');
    dataDir = join(work, '.slipway');
    cpSync(EXAMPLE, app, { recursive: true });
    writeFileSync(join(app, 'server.js'), FLOOD_SERVER);
    port = await freePort();
    writeService(app, { envs: { flood: { instances: 1, port } } });
    writeFileSync(join(app, 'slipway.yaml'), `${readFileSync(join(app, 'slipway.yaml'), 'utf8')}logs:\n  max_file_size: 2MB\n  max_files: 2\n`);
    server = await startServerProcess(dataDir);
    const r = await runCli(['deploy', 'flood'], { cwd: app, dataDir, timeoutMs: 120_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('writes 100 MB without being blocked, and its log stays within max_file_size × (max_files + 1)', async () => {
    const t0 = Date.now();
    const res = await fetch(`http://127.0.0.1:${port}/flood?mb=100`, { signal: AbortSignal.timeout(90_000) });
    const flood = (await res.json()) as { ms: number; bytes: number };
    console.log(`100 MB of log lines written by the instance in ${Math.round(flood.ms)} ms (${Math.round(flood.bytes / 1048576 / (flood.ms / 1000))} MB/s), request took ${Date.now() - t0} ms`);
    expect(flood.bytes).toBeGreaterThanOrEqual(100 * 1024 * 1024);
    // Not blocked: a relay that stalled the writer to the disk's pace of JSON records would take far longer.
    expect(flood.ms).toBeLessThan(30_000);
    // Still serving.
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);

    const id = liveInstanceRows(dataDir).find((i) => i.env === 'hello/flood')!.id;
    const dir = join(dataDir, 'logs', 'hello.flood');
    // Let the relay finish what it queued.
    let last = '';
    for (let i = 0; i < 100; i++) {
      const text = readFileSync(join(dir, `${id}.log`), 'utf8');
      if (text.includes('flood done') && text === last) break;
      last = text;
      await new Promise((r) => setTimeout(r, 200));
    }
    const files = readdirSync(dir).filter((f) => f.startsWith(id));
    const total = files.reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    console.log(`log files: ${files.join(', ')}; ${total} bytes on disk`);
    expect(files.sort()).toEqual([`${id}.log`, `${id}.log.1`, `${id}.log.2`]);
    expect(existsSync(join(dir, `${id}.log.3`))).toBe(false);
    expect(total).toBeLessThanOrEqual(3 * 2 * 1024 * 1024);
    // Whole records only, each a whole line of the instance's or a notice of what was dropped.
    const records = files.flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean)).map((l) => JSON.parse(l) as { msg: string; stream: string; fields?: { linesDropped?: number } });
    for (const r of records.filter((x) => x.stream === 'stdout')) expect(r.msg).toMatch(/^(flood \d{3} x{200}|flood done)$/);
    const dropped = records.filter((x) => x.stream === 'relay').reduce((n, x) => n + (x.fields?.linesDropped ?? 0), 0);
    console.log(`records kept in the rotated files: ${records.length}; lines dropped and counted: ${dropped}`);
    expect(records.some((x) => x.msg === 'flood done')).toBe(true);

    // And the logs can be read back, newest first.
    const logs = await getJson<{ records: { msg: string }[] }>(`${server.url}/api/environments/flood/logs?grep=flood%20done`);
    expect(logs.records.map((r) => r.msg)).toEqual(['flood done']);
    expect((await apiFetch(`${server.url}/api/environments/flood/logs?lines=5`)).status).toBe(200);
  }, 120_000);
});
