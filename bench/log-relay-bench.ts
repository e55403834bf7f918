// Throughput of the log relay, and what it costs the instance that writes.
//
//   node --import tsx bench/log-relay-bench.ts [--mb 100] [--lines 200000]
//
// Run it on a quiet machine: wall-clock figures move with the neighbours' load
// (the in-process figure is also given per CPU-second, which moves much less).
//
// 1. records/s the relay makes (mask, parse, wrap as JSON, write to a rotating
//    file), in-process, with no limit on its queue: its own speed, nothing dropped.
// 2. A writer process writing --mb of 210-byte lines, flat out, to /dev/null and
//    then into the real relay process (bundled as the server runs it): how long
//    the writer takes each way, and what the relay kept and dropped.
// 3. The same writer paced at a rate a busy service logs at (50k lines/s): nothing
//    should be dropped, and the lag from write to file is reported.

import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { prepareLogRelay, relayLog } from '../src/observe/log-relay.ts';
import { RotatingLogFile } from '../src/observe/rotating-log-file.ts';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '100' }, lines: { type: 'string', default: '200000' } } });
const MB = Number(values.mb);
const LINES = Number(values.lines);
const dir = mkdtempSync(join(tmpdir(), 'slipway-relay-bench-'));
const tags = { env: 'bench', release: 1, instance: 'bench-1-000000' };
const SECRETS = ['sk_live_bench_secret_0123456789', 'another-secret-value-abcdef'];

async function inProcess(): Promise<void> {
  const input = new PassThrough();
  const file = new RotatingLogFile(join(dir, 'in-process.log'), { maxFileBytes: 64 * 1024 * 1024, maxFiles: 2 });
  const plain = (i: number) => `2026-11-29T10:00:00Z INFO request ${i} GET /api/orders/${i} 200 3.1ms ${'p'.repeat(40)}\n`;
  const json = (i: number) => `{"level":30,"time":1764410400000,"msg":"request","i":${i},"path":"/api/orders/${i}","status":200,"ms":3.1}\n`;
  const chunks: Buffer[] = [];
  let buf = '';
  for (let i = 0; i < LINES; i++) {
    buf += i % 2 ? plain(i) : json(i);
    if (buf.length > 60_000) {
      chunks.push(Buffer.from(buf));
      buf = '';
    }
  }
  chunks.push(Buffer.from(buf));
  const bytes = chunks.reduce((n, c) => n + c.length, 0);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const done = relayLog({ input, sink: file, secrets: SECRETS, tags, maxQueueBytes: Number.MAX_SAFE_INTEGER });
  for (const c of chunks) input.write(c);
  input.end();
  const stats = await done;
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  file.close();
  // CPU time as well as wall time: on a shared machine the wall time mostly measures the neighbours.
  console.log(`in-process: ${LINES} lines (${(bytes / 1048576).toFixed(1)} MB, half JSON, 2 secrets masked) in ${s.toFixed(2)} s wall, ${cpuS.toFixed(2)} s CPU = ${Math.round(stats.linesOut / s).toLocaleString('en')} records/s wall, ${Math.round(stats.linesOut / cpuS).toLocaleString('en')} records per CPU-second (${(bytes / 1048576 / cpuS).toFixed(1)} MB/CPU-s), ${stats.linesDropped} dropped`);
}

const WRITER = `
const pad = 'x'.repeat(200);
const total = Number(process.argv[1]) * 1048576;
const rate = Number(process.argv[2]);
const chunk = Buffer.from(Array.from({ length: 312 }, (_, i) => 'flood ' + String(i).padStart(3, '0') + ' ' + pad + '\\n').join(''));
const t0 = performance.now();
let bytes = 0;
if (rate === 0) {
  while (bytes < total) { process.stdout.write(chunk); bytes += chunk.length; }
  process.stderr.write(String(performance.now() - t0) + ' ' + bytes / chunk.length * 312);
} else {
  // paced: 312 lines per chunk, rate lines/s
  const every = 312 / rate * 1000;
  let next = performance.now();
  const tick = () => {
    while (performance.now() >= next && bytes < total) { process.stdout.write(chunk); bytes += chunk.length; next += every; }
    if (bytes < total) setTimeout(tick, 1); else process.stderr.write(String(performance.now() - t0) + ' ' + bytes / chunk.length * 312);
  };
  tick();
}
`;

function writerToDevNull(mb: number): number {
  const devnull = openSync('/dev/null', 'w');
  const r = spawnSync(process.execPath, ['-e', WRITER, String(mb), '0'], { stdio: ['ignore', devnull, 'pipe'] });
  closeSync(devnull);
  return Number(r.stderr.toString().split(' ')[0]);
}

async function writerThroughRelay(relay: string[], mb: number, rate: number, name: string) {
  const log = join(dir, `${name}.log`);
  const logFd = openSync(log, 'a');
  const [node, ...args] = relay;
  const t0 = performance.now();
  const r = spawn(node!, [...args, '--log', log, '--env', 'bench', '--release', '1', '--instance', name, '--stderr-fd', '4', '--max-file-bytes', String(64 * 1048576), '--max-files', '4'], {
    stdio: ['pipe', 'ignore', logFd, 'pipe', 'pipe'],
  });
  closeSync(logFd);
  (r.stdio[3] as Writable).end(JSON.stringify({ redact: SECRETS }));
  const relayExit = new Promise<number>((ok) => r.once('exit', () => ok(performance.now())));
  const w = spawn(process.execPath, ['-e', WRITER, String(mb), String(rate)], { stdio: ['ignore', r.stdin!, 'pipe'] });
  r.stdin!.destroy();
  (r.stdio[4] as Writable).destroy();
  let err = '';
  w.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  await new Promise((ok) => w.once('exit', ok));
  const [writerMs, written] = err.split(' ').map(Number) as [number, number];
  const relayDone = (await relayExit) - t0;
  const files = readdirSync(dir).filter((f) => f.startsWith(`${name}.log`));
  const bytesOnDisk = files.reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  const lines = files.flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean));
  const kept = lines.filter((l) => l.includes('"stream":"stdout"')).length;
  const dropped = lines.filter((l) => l.includes('"stream":"relay"')).reduce((n, l) => n + ((JSON.parse(l) as { fields?: { linesDropped?: number } }).fields?.linesDropped ?? 0), 0);
  return { writerMs, written, relayDone, kept, dropped, bytesOnDisk };
}

await inProcess();
const relay = await prepareLogRelay(join(dir, 'bin'), (m) => console.log(m));
const devNullMs = writerToDevNull(MB);
console.log(`writer, ${MB} MB of 211-byte lines flat out to /dev/null: ${devNullMs.toFixed(0)} ms`);
const flat = await writerThroughRelay(relay, MB, 0, 'flat');
console.log(`writer, ${MB} MB flat out into the relay: ${flat.writerMs.toFixed(0)} ms (x${(flat.writerMs / devNullMs).toFixed(2)} of /dev/null); relay done after ${flat.relayDone.toFixed(0)} ms; of ${flat.written.toLocaleString('en')} lines, records kept ${flat.kept.toLocaleString('en')}, lines dropped and counted ${flat.dropped.toLocaleString('en')}, ${(flat.bytesOnDisk / 1048576).toFixed(1)} MB on disk (limit 5 x 64 MB)`);
const paced = await writerThroughRelay(relay, Math.min(MB, 20), 50_000, 'paced');
console.log(`writer paced at 50,000 lines/s, ${paced.written.toLocaleString('en')} lines: writer ${paced.writerMs.toFixed(0)} ms, relay done ${(paced.relayDone - paced.writerMs).toFixed(0)} ms after the writer; kept ${paced.kept.toLocaleString('en')}, dropped ${paced.dropped}`);
rmSync(dir, { recursive: true, force: true });
