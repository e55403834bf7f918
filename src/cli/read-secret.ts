// A secret's value for `slipway secret set`: from stdin when it is piped in, or
// typed at a prompt that does not echo when stdin is a terminal. Never from a
// command-line argument, which shell history and `ps` would keep.

import { SlipwayError } from '../core/errors.ts';

const MAX_BYTES = 64 * 1024;

/** Everything on stdin, less one final newline (`echo` adds one; `printf %s` does not). */
export async function readPipedValue(input: NodeJS.ReadableStream = process.stdin): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of input) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    bytes += b.length;
    if (bytes > MAX_BYTES) throw new SlipwayError('E_BAD_REQUEST', `the value on stdin is over ${MAX_BYTES} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Reads a line from the terminal in raw mode, echoing nothing. */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  // Raw (no echo) before the question shows: whoever answers it is never echoed.
  stdin.setRawMode(true);
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let value = '';
    const done = (err: Error | null) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(null);
        if (ch === '\u0003') return done(new SlipwayError('E_BAD_REQUEST', 'cancelled; nothing was changed'));
        if (ch === '\u0004') return done(value ? null : new SlipwayError('E_BAD_REQUEST', 'no value given; nothing was changed'));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.resume();
    stdin.on('data', onData);
  });
}

export async function readSecretValue(o: { env: string; name: string }): Promise<string> {
  if (!process.stdin.isTTY) {
    const value = await readPipedValue();
    if (value === '') {
      throw new SlipwayError('E_BAD_REQUEST', `no value on stdin for ${o.name}; pipe it in, e.g. \`printf %s "$VALUE" | slipway secret set ${o.env} ${o.name}\`, or run the command in a terminal to type it`);
    }
    return value;
  }
  const value = await promptHidden(`value of ${o.name} for ${o.env} (not shown): `);
  const again = await promptHidden('again, to be sure: ');
  if (value !== again) throw new SlipwayError('E_BAD_REQUEST', 'the two values differ; nothing was changed');
  if (value === '') throw new SlipwayError('E_BAD_REQUEST', 'no value given; nothing was changed');
  return value;
}
