import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MASK, Redactor, maskForms } from './redactor.ts';
import { StreamRedactor } from './stream-redactor.ts';

/** Feeds `text` cut at the given byte offsets and returns what the stream wrote. */
function streamed(r: Redactor, text: string | Buffer, cuts: number[], maxLineBytes?: number): string {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
  const s = new StreamRedactor(r, maxLineBytes ? { maxLineBytes } : {});
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    if (cut <= from || cut >= bytes.length) continue;
    out.push(s.push(bytes.subarray(from, cut)));
    from = cut;
  }
  out.push(s.push(bytes.subarray(from)), s.end());
  return Buffer.concat(out).toString('utf8');
}

describe('Redactor', () => {
  it('masks every occurrence of every value, and nothing else', () => {
    const r = new Redactor(['s3cret-one', 'tok_abcdef']);
    expect(r.redact('a=s3cret-one b=tok_abcdef c=s3cret-ones s3cret-one')).toBe(`a=${MASK} b=${MASK} c=${MASK}s ${MASK}`);
    expect(r.redact('nothing secret here')).toBe('nothing secret here');
  });

  it('masks a value where it appears JSON-escaped', () => {
    const r = new Redactor(['pa"ss\\word']);
    const line = JSON.stringify({ env: { DB_PASSWORD: 'pa"ss\\word' } });
    expect(line).not.toContain('pa"ss\\word');
    expect(r.redact(line)).toBe(`{"env":{"DB_PASSWORD":"${MASK}"}}`);
  });

  it('masks each line of a multi-line value (a PEM key printed line by line)', () => {
    const pem = '-----BEGIN KEY-----\nMIIBVwIBADANBgkqhkiG9w0BAQEFAASC\nAT8wggE7AgEAAkEAq7BFUpkGp3+XQ\n-----END KEY-----';
    const r = new Redactor([pem]);
    expect(maskForms(pem).every((f) => !f.includes('\n'))).toBe(true);
    const out = r.redact(`key:\n${pem}\n`);
    expect(out).not.toContain('MIIBVwIBADANBgkqhkiG9w0BAQEFAASC');
    expect(out).not.toContain('AT8wggE7AgEAAkEAq7BFUpkGp3+XQ');
  });

  it('masks both of two overlapping secrets whole', () => {
    const r = new Redactor(['abcdWXYZ', 'WXYZ1234']);
    expect(r.redact('[abcdWXYZ1234]')).toBe(`[${MASK}]`);
  });

  it('masks multi-byte characters and leaves the rest of the UTF-8 intact', () => {
    const r = new Redactor(['密码-pässwörd']);
    expect(r.redact('é 密码-pässwörd ✓')).toBe(`é ${MASK} ✓`);
  });
});

describe('StreamRedactor', () => {
  const secret = 'hunter2-XYZ-0123456789';

  it('masks a secret cut at every possible byte, alone and between other text', () => {
    const r = new Redactor([secret]);
    const text = `start ${secret} middle ${secret}\nline two ${secret}\n`;
    const len = Buffer.byteLength(text);
    for (let i = 1; i < len; i++) {
      for (const j of [i + 1, i + 3, i + secret.length - 1]) {
        expect(streamed(r, text, [i, j])).toBe(`start ${MASK} middle ${MASK}\nline two ${MASK}\n`);
      }
    }
  });

  it('masks a secret fed one byte at a time, and inside a multi-byte secret cut mid-character', () => {
    const multi = 'clé-secrète-密码';
    const r = new Redactor([secret, multi]);
    const text = `a ${secret} b ${multi} c\n`;
    const bytes = Buffer.from(text);
    expect(streamed(r, bytes, Array.from({ length: bytes.length }, (_, i) => i))).toBe(`a ${MASK} b ${MASK} c\n`);
  });

  it('writes whole lines at once and holds only the unfinished one', () => {
    const s = new StreamRedactor(new Redactor([secret]));
    expect(s.push(Buffer.from(`one ${secret}\ntwo`)).toString()).toBe(`one ${MASK}\n`);
    expect(s.pendingBytes).toBe(3);
    expect(s.push(Buffer.from(' more\n')).toString()).toBe('two more\n');
    expect(s.end().length).toBe(0);
  });

  it('keeps memory bounded on a line that never ends, still masking secrets cut at any flush', () => {
    const r = new Redactor([secret]);
    const line = `${'x'.repeat(97)}${secret}`.repeat(200); // no newline, 200 secrets
    const s = new StreamRedactor(r, { maxLineBytes: 1000 });
    const out: Buffer[] = [];
    let maxPending = 0;
    for (let i = 0; i < line.length; i += 37) {
      out.push(s.push(Buffer.from(line.slice(i, i + 37))));
      maxPending = Math.max(maxPending, s.pendingBytes);
    }
    out.push(s.end());
    const text = Buffer.concat(out).toString();
    expect(maxPending).toBeLessThanOrEqual(1000 + 37);
    expect(text).not.toContain(secret.slice(0, 8));
    expect(text).toBe(`${'x'.repeat(97)}${MASK}`.repeat(200));
  });

  it('flushSafe writes a partial line but holds back what may start a secret', () => {
    const s = new StreamRedactor(new Redactor([secret]));
    s.push(Buffer.from(`progress 50% ${secret.slice(0, 6)}`));
    const first = s.flushSafe().toString();
    expect(first).not.toContain('hunter');
    s.push(Buffer.from(`${secret.slice(6)} done`));
    expect(first + s.end().toString()).toBe(`progress 50% ${MASK} done`);
  });

  it('for any secrets, text and cuts, the output equals the whole text redacted at once (property)', () => {
    const alphabet = fc.constantFrom('a', 'b', 'c', '\n', 'é', ' ');
    const word = fc.array(alphabet, { minLength: 4, maxLength: 12 }).map((a) => a.join('')).filter((w) => !w.includes('\n') && w.trim().length >= 4);
    fc.assert(
      fc.property(
        fc.array(word, { minLength: 1, maxLength: 3 }),
        fc.array(fc.oneof(alphabet, word), { maxLength: 60 }),
        fc.array(fc.nat(400), { maxLength: 12 }),
        fc.integer({ min: 16, max: 64 }),
        (secrets, pieces, cuts, maxLineBytes) => {
          const r = new Redactor(secrets);
          const text = pieces.join('');
          const out = streamed(r, text, cuts, maxLineBytes);
          // No secret survives, whatever the cuts.
          for (const sec of secrets) expect(out.includes(sec)).toBe(false);
          // Without a forced flush (lines shorter than the limit) the result is exactly the batch one.
          if (text.split('\n').every((l) => Buffer.byteLength(l) <= maxLineBytes)) expect(out).toBe(r.redact(text));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('a URL-shaped secret', () => {
  it('has its password masked alone too, as written and decoded, and its user and host left', () => {
    const r = new Redactor(['postgres://orders:Zx9%21Secret77@db.internal:5432/orders']);
    const line = JSON.stringify({ host: 'db.internal', user: 'orders', password: 'Zx9!Secret77', raw: 'Zx9%21Secret77' });
    const out = r.redact(line);
    expect(out).not.toContain('Zx9!Secret77');
    expect(out).not.toContain('Zx9%21Secret77');
    expect(out).toContain('"host":"db.internal"');
    expect(out).toContain('"user":"orders"');
  });

  it('leaves a password too short to tell from text, and a URL with none, to the whole-value mask', () => {
    expect(maskForms('redis://:abc@cache:6379')).not.toContain('abc');
    expect(maskForms('https://example.com/path?token=x')).toEqual(['https://example.com/path?token=x']);
  });
});
