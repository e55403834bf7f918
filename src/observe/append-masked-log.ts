// An instance's output relayed inside the server: for container runtimes, whose
// engine keeps the output while no server reads it. The same masking and writing
// as the log relay process (log-relay.ts), into the same per-instance log file.

import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { relayLog } from './log-relay.ts';

export async function appendMaskedLog(o: { input: Readable; logPath: string; secrets: string[] }): Promise<void> {
  mkdirSync(dirname(o.logPath), { recursive: true });
  const fd = openSync(o.logPath, 'a');
  try {
    await relayLog({ input: o.input, fd, secrets: o.secrets });
  } finally {
    closeSync(fd);
  }
}
