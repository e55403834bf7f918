// Entry of the log relay process (see log-relay.ts). Started by the process
// runtime as: log-relay-main --log <file>, with the instance's output on stdin and
// the values to mask on file descriptor 3 as JSON, never on the command line or
// in the environment, where `ps` and /proc would show them.

import { closeSync, openSync, readFileSync } from 'node:fs';
import { relayLog } from './log-relay.ts';

// Only the end of the input ends the relay: a signal meant for the instance, or a
// terminal hang-up, must not lose the lines still in the pipe.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => undefined);

const at = process.argv.indexOf('--log');
const logPath = at > 0 ? process.argv[at + 1] : undefined;
if (!logPath) {
  process.stderr.write('usage: log-relay-main --log <file> (values to mask as JSON on fd 3)\n');
  process.exit(2);
}

function readSecrets(): string[] | null {
  try {
    const text = readFileSync(3, 'utf8');
    closeSync(3);
    const parsed = JSON.parse(text) as { redact?: unknown };
    if (!Array.isArray(parsed.redact) || !parsed.redact.every((v) => typeof v === 'string')) throw new Error('"redact" must be a list of strings');
    return parsed.redact;
  } catch (e) {
    process.stderr.write(`[slipway log relay] cannot read the values to mask on fd 3 (${(e as Error).message}); discarding the instance's output\n`);
    return null;
  }
}

const secrets = readSecrets();
if (secrets === null) {
  // Without the values to mask, passing the output through could write a secret:
  // drain the pipe (so the instance never blocks) and write nothing of it.
  process.stdin.resume();
  process.stdin.once('end', () => process.exit(1));
} else {
  const fd = openSync(logPath, 'a');
  const stats = await relayLog({ input: process.stdin, fd, secrets });
  closeSync(fd);
  process.exitCode = stats.bytesLost > 0 ? 1 : 0;
}
