// Test support (not used by slipway itself): loopback ports for test servers.

import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Test ports come from below the kernel's ephemeral range (32768-60999 on Linux).
// A port the kernel picked (listen(0)) and that we closed again is free only until
// the next outgoing connection anywhere on the machine takes it as its local port:
// CI once failed when a server's listener found its "free" port held that way
// (EADDRINUSE). Ports below the range are never handed out by the kernel.
//
// A port is free now, but the test listens on it later (a deploy, seconds on), so
// two test processes must never be handed the same one: each port handed out is
// reserved by a file named after it, made exclusively and holding the process's
// pid, until the process exits. A reservation whose process is gone is taken over.
// (Splitting the range by VITEST_POOL_ID is not enough: in a run with groupOrder,
// two workers of the second group were both given pool id 1.)
// SLIPWAY_TEST_PORTS=<first>-<last> gives a run its own range, so two test runs on
// one machine (two checkouts) never pick the same ports.
const [FIRST, LAST] = (process.env.SLIPWAY_TEST_PORTS ?? '20000-31999').split('-').map(Number) as [number, number];
const SIZE = LAST - FIRST + 1;
const RESERVED = join(tmpdir(), `slipway-test-ports-${FIRST}-${LAST}`);
let nextOffset = (process.pid * 7919) % SIZE; // spread the starts of concurrent processes over the range
const mine: string[] = [];

/** A loopback port nothing listens on now, reserved for this process: never handed to another test process while it lives. */
export async function freePort(): Promise<number> {
  mkdirSync(RESERVED, { recursive: true });
  for (let attempt = 0; attempt < SIZE; attempt++) {
    const port = FIRST + (nextOffset++ % SIZE);
    if (!reserve(port)) continue;
    if (await canListen(port)) return port;
  }
  throw new Error(`freePort: no free port in ${FIRST}-${LAST}`);
}

/** Takes the port's reservation file, or one left by a process that is gone; false if a live process holds it. */
function reserve(port: number): boolean {
  const file = join(RESERVED, String(port));
  for (let tries = 0; tries < 2; tries++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      if (mine.length === 0) process.once('exit', release);
      mine.push(file);
      return true;
    } catch {
      if (isHeldByLiveProcess(file)) return false;
      try {
        unlinkSync(file);
      } catch {
        // Another process took it over first; the next try tells.
      }
    }
  }
  return false;
}

function isHeldByLiveProcess(file: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(file, 'utf8'));
  } catch {
    return false; // gone meanwhile
  }
  if (!Number.isInteger(pid) || pid <= 0) return true; // being written: leave it
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function release(): void {
  for (const file of mine) {
    try {
      unlinkSync(file);
    } catch {
      // Already taken over.
    }
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
