// The heap a process keeps after a full garbage collection: what a leak grows,
// unlike RSS, which swings by 10-20% with when the collector last ran. Read from
// outside through the inspector: SIGUSR1 opens it on 127.0.0.1:9229 (Node's
// default), the DevTools protocol forces a collection and reads
// process.memoryUsage(), and the inspector is closed again at once. For benches on
// scratch processes only: nothing else may hold port 9229 meanwhile.

import { createWriteStream } from 'node:fs';
import WebSocket from 'ws';

const INSPECTOR = 'http://127.0.0.1:9229/json';

export interface HeapFigures {
  heapUsedMb: number;
  /** The heap V8 holds from the system (used or not): the young generation grows it under load. */
  heapTotalMb: number;
  /** Memory outside the heap that objects own (Buffers, ArrayBuffers). */
  externalMb: number;
  rssMb: number;
}

/** Runs `fn` with a DevTools-protocol session on `pid` (opened by SIGUSR1, closed after). */
async function withInspector<T>(pid: number, fn: (call: (method: string, params?: object) => Promise<unknown>, onEvent: (method: string, f: (params: unknown) => void) => void) => Promise<T>): Promise<T> {
  process.kill(pid, 'SIGUSR1');
  let targets: { webSocketDebuggerUrl: string }[] = [];
  for (let i = 0; i < 40 && targets.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
    targets = await fetch(INSPECTOR).then((r) => r.json() as Promise<typeof targets>).catch(() => []);
  }
  if (targets.length === 0) throw new Error(`pid ${pid} opened no inspector on 127.0.0.1:9229`);
  const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl, { maxPayload: 1 << 30 });
  await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
  let id = 0;
  const pending = new Map<number, (v: unknown) => void>();
  const listeners = new Map<string, (params: unknown) => void>();
  ws.on('message', (m) => {
    const d = JSON.parse(String(m)) as { id?: number; result?: unknown; method?: string; params?: unknown };
    if (d.id !== undefined) pending.get(d.id)?.(d.result);
    else if (d.method !== undefined) listeners.get(d.method)?.(d.params);
  });
  const call = (method: string, params: object = {}) => new Promise<unknown>((resolve) => {
    pending.set(++id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
  try {
    return await fn(call, (method, f) => listeners.set(method, f));
  } finally {
    // Closed from inside, after this connection is gone, so the port is free again.
    await call('Runtime.evaluate', { expression: 'setTimeout(() => process._debugEnd(), 100); 0' });
    ws.close();
    await new Promise((r) => setTimeout(r, 300));
  }
}

export function heapAfterGc(pid: number): Promise<HeapFigures> {
  return withInspector(pid, async (call) => {
    await call('HeapProfiler.enable');
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.disable');
    const r = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true }) as { result: { value: string } };
    const m = JSON.parse(r.result.value) as { heapUsed: number; heapTotal: number; external: number; rss: number };
    return { heapUsedMb: m.heapUsed / 1048576, heapTotalMb: m.heapTotal / 1048576, externalMb: m.external / 1048576, rssMb: m.rss / 1048576 };
  });
}

/** Writes a heap snapshot of `pid` (after a full collection) to `file`, for DevTools' comparison view. */
export function writeHeapSnapshot(pid: number, file: string): Promise<void> {
  return withInspector(pid, async (call, onEvent) => {
    const out = createWriteStream(file);
    onEvent('HeapProfiler.addHeapSnapshotChunk', (p) => out.write((p as { chunk: string }).chunk));
    await call('HeapProfiler.enable');
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    await call('HeapProfiler.disable');
    await new Promise<void>((resolve, reject) => out.end(() => resolve()).once('error', reject));
  });
}
