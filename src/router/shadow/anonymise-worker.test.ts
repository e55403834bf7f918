// The anonymising thread's bounds, on a real worker thread: what is kept, what is
// dropped and why, when a deployer's pattern backtracks or records pile up.

import { afterEach, describe, expect, it } from 'vitest';
import { AnonymiseWorker, batchBudgetMs, type NotKept } from './anonymise-worker.ts';
import type { RawRecord } from './replay-anonymise.ts';

const raw = (body: string): RawRecord => ({ at: 1, method: 'POST', url: '/api/orders?token=t0k', headers: { accept: 'text/plain' }, body: Buffer.from(body), contentType: 'text/plain' });

type Outcome = { line: string | null; why: NotKept | null };

function submit(w: AnonymiseWorker, patterns: string[], r: RawRecord): Promise<Outcome> {
  return new Promise((resolve) => w.anonymise('shop/production', patterns, r, (line, why) => resolve({ line, why })));
}

let worker: AnonymiseWorker | null = null;
afterEach(async () => {
  await worker?.close();
  worker = null;
});

describe('AnonymiseWorker', () => {
  it('gives back each record anonymised, in order, as one JSON line', async () => {
    worker = new AnonymiseWorker();
    const out = await Promise.all([submit(worker, ['box-[0-9]+'], raw('box-12 and box-7')), submit(worker, [], raw('plain'))]);
    expect(out.map((o) => o.why)).toEqual([null, null]);
    const first = JSON.parse(out[0]!.line!) as { url: string; body: string; headers: Record<string, string> };
    expect(first.url).toBe('/api/orders?token=__anonymised__');
    expect(Buffer.from(first.body, 'base64').toString()).toBe('__anonymised__ and __anonymised__');
    expect(first.headers).toEqual({ accept: 'text/plain' });
    expect(Buffer.from((JSON.parse(out[1]!.line!) as { body: string }).body, 'base64').toString()).toBe('plain');
  });

  it('keeps no record whose body is not text', async () => {
    worker = new AnonymiseWorker();
    expect(await submit(worker, [], { ...raw(''), body: Buffer.from([0xff, 0xfe, 0x00, 0x81]) })).toEqual({ line: null, why: 'not_text' });
  });

  it('refuses records past the queue bound at once, and keeps the others', async () => {
    worker = new AnonymiseWorker(undefined, { maxQueued: 3 });
    const out = await Promise.all(Array.from({ length: 5 }, (_, i) => submit(worker!, [], raw(`n${i}`))));
    expect(out.map((o) => o.why)).toEqual([null, null, null, 'queue_full', 'queue_full']);
  });

  it('drops a batch over budget with the reason, logs it without its content, and keeps what comes after', async () => {
    const warned: string[] = [];
    worker = new AnonymiseWorker({ info: () => {}, warn: (_f, m) => warned.push(m) }, { budgetMs: 300 });
    // Quadratic: about 1.5 s over 64 kB of letters with no x (its budget: 300 ms + 64 kB's share, 316 ms).
    const slow = await submit(worker, ['[a-z]+x'], raw('a'.repeat(64 * 1024)));
    expect(slow).toEqual({ line: null, why: 'too_slow' });
    expect(worker.stalls).toBe(1);
    expect(warned).toEqual([expect.stringContaining('recorded requests of shop/production took more than 316 ms to anonymise and were not kept (1)')]);
    expect(warned.join('\n')).not.toContain('aaaa');
    const next = await submit(worker, ['[a-z]+x'], raw('an ox'));
    expect(next.why).toBeNull();
    expect(Buffer.from((JSON.parse(next.line!) as { body: string }).body, 'base64').toString()).toBe('an __anonymised__');
  });

  it('ends a thread that runs out of its heap: its record is not kept, the log says so without its content, and the next is kept', async () => {
    const warned: string[] = [];
    const heapMb = 16;
    worker = new AnonymiseWorker({ info: () => {}, warn: (_f, m) => warned.push(m) }, {
      // The budget long enough that only the heap limit can end the thread.
      budgetMs: 20_000, resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: 2 },
    });
    expect((await submit(worker, [], raw('warm'))).why).toBeNull();
    // 400,000 small objects (4.5 MB of JSON), walked field by field: several times the heap.
    const json = JSON.stringify(Array.from({ length: 400_000 }, (_, i) => ({ n: i, secret: 'acct-123456' })));
    const big: RawRecord = { ...raw(''), body: Buffer.from(json), contentType: 'application/json' };
    expect(await submit(worker, [], big)).toEqual({ line: null, why: 'thread_failed' });
    expect(worker.stalls).toBe(0);
    expect(warned).toEqual([expect.stringContaining(`recorded requests of shop/production ran out of memory (its heap limit is ${heapMb} MB) and was ended; the records it held were not kept (1)`)]);
    expect(warned.join('\n')).not.toContain('acct-');
    // Right after, the thread is not started again; past the restart gap a new one keeps the next record.
    expect((await submit(worker, [], raw('too soon'))).why).toBe('thread_failed');
    await new Promise((r) => setTimeout(r, 1_100));
    const next = await submit(worker, ['box-[0-9]+'], raw('box-9 shipped'));
    expect(next.why).toBeNull();
    expect(Buffer.from((JSON.parse(next.line!) as { body: string }).body, 'base64').toString()).toBe('__anonymised__ shipped');
  }, 30_000);

  it('gives a batch of large bodies time in proportion to its size, so a sound pattern is not dropped as too slow', async () => {
    expect(batchBudgetMs(0, { budgetMs: 1_000, budgetPerMiBMs: 250 })).toBe(1_000);
    expect(batchBudgetMs(32 * 1024 * 1024, { budgetMs: 1_000, budgetPerMiBMs: 250 })).toBe(9_000);
    // 16 bodies of 1 MiB with a match every 8 bytes: far more than 100 ms of work, well within 100 ms + 16 × 2 s.
    worker = new AnonymiseWorker(undefined, { budgetMs: 100, budgetPerMiBMs: 2_000 });
    const body = 'id-1234 '.repeat(128 * 1024);
    const out = await Promise.all(Array.from({ length: 16 }, () => submit(worker!, ['id-[0-9]+'], raw(body))));
    expect(out.map((o) => o.why)).toEqual(Array(16).fill(null));
    expect(worker.stalls).toBe(0);
  }, 60_000);

  it('keeps nothing once closed', async () => {
    worker = new AnonymiseWorker();
    await worker.close();
    expect(await submit(worker, [], raw('late'))).toEqual({ line: null, why: 'queue_full' });
  });
});
