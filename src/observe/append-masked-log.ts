// An instance's output relayed inside the server: for container runtimes, whose
// engine keeps the output while no server reads it. The same masking, records and
// rotation as the log relay process (log-relay.ts), into the same per-instance log file.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import type { LogTags } from './log-records.ts';
import { relayLog } from './log-relay.ts';
import { DEFAULT_LOG_LIMITS, RotatingLogFile, type LogLimits } from './rotating-log-file.ts';

export async function appendMaskedLog(o: { input: Readable; errInput?: Readable; logPath: string; secrets: string[]; tags: LogTags; limits?: LogLimits }): Promise<void> {
  mkdirSync(dirname(o.logPath), { recursive: true });
  const sink = new RotatingLogFile(o.logPath, o.limits ?? DEFAULT_LOG_LIMITS);
  try {
    await relayLog({ input: o.input, ...(o.errInput ? { errInput: o.errInput } : {}), sink, secrets: o.secrets, tags: o.tags });
  } finally {
    sink.close();
  }
}
