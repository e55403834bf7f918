// Test support (not used by slipway itself): loopback ports for test servers.

import { createServer } from 'node:net';

// Test ports come from below the kernel's ephemeral range (32768-60999 on Linux),
// one block of 1,000 per vitest worker. A port the kernel picked (listen(0)) and
// that we closed again is free only until the next outgoing connection anywhere on
// the machine takes it as its local port: CI once failed when a server's listener
// found its "free" port held that way (EADDRINUSE). Ports below the range are
// never handed out by the kernel, and no two workers share a block.
// SLIPWAY_TEST_PORTS=<first>-<last> gives a run its own range, so two test runs on
// one machine (two checkouts) never pick the same ports.
const [FIRST, LAST] = (process.env.SLIPWAY_TEST_PORTS ?? '20000-31999').split('-').map(Number) as [number, number];
// At most 1,000 ports a block, and at least four blocks however small the range: two
// workers sharing a block could both find a port free before either listens on it.
const BLOCK = Math.max(1, Math.min(1000, Math.floor((LAST - FIRST + 1) / 4)));
const blocks = Math.max(1, Math.floor((LAST - FIRST + 1) / BLOCK));
const worker = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 0);
const blockStart = FIRST + ((Number.isFinite(worker) ? worker : process.pid) % blocks) * BLOCK;
let nextOffset = process.pid % BLOCK; // a different start per process, in case two processes share a block

/** A loopback port nothing listens on now, never the same twice in one test process. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < BLOCK; attempt++) {
    const port = blockStart + (nextOffset++ % BLOCK);
    if (await canListen(port)) return port;
  }
  throw new Error(`freePort: no free port in ${blockStart}-${blockStart + BLOCK - 1}`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
