// Entry of the log relay process (see log-relay.ts). Started by the process
// runtime as:
//   log-relay-main --log <file> --env E --release N --instance ID
//                  [--max-file-bytes B] [--max-files K] [--stderr-fd 4]
// with the instance's stdout on stdin, its stderr on the --stderr-fd pipe, and the
// values to mask on file descriptor 3 as JSON, never on the command line or in the
// environment, where `ps` and /proc would show them.

import { closeSync, createReadStream, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { relayLog } from './log-relay.ts';
import { DEFAULT_LOG_LIMITS, RotatingLogFile } from './rotating-log-file.ts';

// Only the end of the input ends the relay: a signal meant for the instance, or a
// terminal hang-up, must not lose the lines still in the pipe.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => undefined);

function usage(problem: string): never {
  process.stderr.write(`[slipway log relay] ${problem}\nusage: log-relay-main --log <file> [--env E] [--release N] [--instance ID] [--max-file-bytes B] [--max-files K] [--stderr-fd FD] (values to mask as JSON on fd 3)\n`);
  process.exit(2);
}

function wholeNumber(v: string | undefined, name: string, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) usage(`${name} must be a whole number ≥ ${min}, got "${v}"`);
  return n;
}

let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      log: { type: 'string' }, env: { type: 'string', default: '' }, release: { type: 'string' }, instance: { type: 'string', default: '' },
      'max-file-bytes': { type: 'string' }, 'max-files': { type: 'string' }, 'stderr-fd': { type: 'string' },
    },
    strict: true,
  }).values;
}
try {
  args = parse();
} catch (e) {
  usage((e as Error).message);
}
const logPath = args.log ?? usage('missing --log <file>');
const limits = {
  maxFileBytes: wholeNumber(args['max-file-bytes'], '--max-file-bytes', DEFAULT_LOG_LIMITS.maxFileBytes, 4096),
  maxFiles: wholeNumber(args['max-files'], '--max-files', DEFAULT_LOG_LIMITS.maxFiles, 0),
};
const release = args.release === undefined ? null : wholeNumber(args.release, '--release', 0, 0);
const stderrFd = args['stderr-fd'] === undefined ? null : wholeNumber(args['stderr-fd'], '--stderr-fd', 4, 3);

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
const errInput = stderrFd === null ? undefined : createReadStream('', { fd: stderrFd, highWaterMark: 64 * 1024 });
if (secrets === null) {
  // Without the values to mask, passing the output through could write a secret:
  // drain the pipes (so the instance never blocks) and write nothing of them.
  errInput?.resume();
  process.stdin.resume();
  process.stdin.once('end', () => process.exit(1));
} else {
  let file: RotatingLogFile;
  try {
    file = new RotatingLogFile(logPath, limits);
  } catch (e) {
    // Still drained: a relay that died would make the instance's writes fail.
    process.stderr.write(`[slipway log relay] cannot open ${logPath} (${(e as Error).message}); discarding the instance's output\n`);
    errInput?.resume();
    process.stdin.resume();
    await new Promise((r) => process.stdin.once('end', r));
    process.exit(1);
  }
  const stats = await relayLog({
    input: process.stdin, ...(errInput ? { errInput } : {}), sink: file, secrets,
    tags: { env: args.env ?? '', release, instance: args.instance ?? '' },
  });
  file.close();
  process.exitCode = stats.bytesLost > 0 ? 1 : 0;
}
