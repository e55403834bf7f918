import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReplayStore, readReplaySample, replayFiles } from './replay-store.ts';

const scratchDir = () => mkdtempSync(join(tmpdir(), 'slipway-replay-store-'));
const line = (i: number, pad = 0) => JSON.stringify({ at: i, method: 'GET', url: `/x/${i}`, headers: {}, pad: 'p'.repeat(pad) });

function storeIn(dir: string, bounds: { sample: number; maxBytes: number } | undefined) {
  const errors: string[] = [];
  return { store: new ReplayStore({ dir, boundsOf: () => bounds, onError: (_env, e) => errors.push(e.message) }), errors };
}

describe('the recorded sample on disk', () => {
  it('keeps at most `sample` requests, the newest, over two files', async () => {
    const dir = scratchDir();
    const { store, errors } = storeIn(dir, { sample: 10, maxBytes: 1024 * 1024 });
    for (let i = 0; i < 57; i++) {
      store.add('shop/production', line(i));
      if (i % 7 === 0) await store.flush();
    }
    await store.flush();
    const sample = await readReplaySample(dir, 'shop/production', 1000);
    expect(sample.length).toBeLessThanOrEqual(10);
    expect(sample.length).toBeGreaterThanOrEqual(5);
    expect(sample.at(-1)!.url).toBe('/x/56');
    expect(sample.map((r) => r.at)).toEqual([...sample.map((r) => r.at)].sort((a, b) => a - b));
    expect(errors).toEqual([]);
  });

  it('keeps at most max_bytes, and drops a line larger than a file\'s half', async () => {
    const dir = scratchDir();
    const { store } = storeIn(dir, { sample: 1000, maxBytes: 4096 });
    for (let i = 0; i < 200; i++) store.add('e/p', line(i, 100));
    store.add('e/p', line(999, 5000));
    await store.flush();
    const files = replayFiles(dir, 'e/p');
    expect(statSync(files.current).size + statSync(files.previous).size).toBeLessThanOrEqual(4096);
    expect((await readReplaySample(dir, 'e/p', 1000)).at(-1)!.url).toBe('/x/199');
    expect(store.counts()['e/p']).toMatchObject({ too_large: 1 });
  });

  it('picks up the count of a file left by an earlier router, and skips a line torn by a crash', async () => {
    const dir = scratchDir();
    const files = replayFiles(dir, 'e/p');
    const first = storeIn(dir, { sample: 10, maxBytes: 1024 * 1024 }).store;
    for (let i = 0; i < 4; i++) first.add('e/p', line(i));
    await first.flush();
    appendFileSync(files.current, '{"at":4,"method":"GE');
    const second = storeIn(dir, { sample: 10, maxBytes: 1024 * 1024 }).store;
    for (let i = 5; i < 7; i++) second.add('e/p', line(i));
    await second.flush();
    // 4 kept + the torn line counted as one: the 5-per-file share is full, so the next lines start a new file.
    expect(readFileSync(files.previous, 'utf8').split('\n').filter(Boolean)).toHaveLength(5);
    expect((await readReplaySample(dir, 'e/p', 100)).map((r) => r.url)).toEqual(['/x/0', '/x/1', '/x/2', '/x/3', '/x/5', '/x/6']);
  });

  it('starts on a new line after a torn one, so only the torn line is lost', async () => {
    const dir = scratchDir();
    const files = replayFiles(dir, 'e/p');
    appendFileSync(files.current, `${line(0)}\n{"at":1,"meth`);
    const { store } = storeIn(dir, { sample: 100, maxBytes: 1024 * 1024 });
    store.add('e/p', line(2));
    await store.flush();
    expect((await readReplaySample(dir, 'e/p', 100)).map((r) => r.url)).toEqual(['/x/0', '/x/2']);
  });

  it('writes nothing for an environment that does not record', async () => {
    const dir = scratchDir();
    const { store } = storeIn(dir, undefined);
    store.add('e/p', line(1));
    await store.flush();
    expect(await readReplaySample(dir, 'e/p', 100)).toEqual([]);
    expect(() => statSync(join(dir, 'e%2Fp.jsonl'))).toThrow();
    expect(store.counts()).toEqual({ 'e/p': { kept: 0, too_large: 0, dropped_overflow: 0, dropped_stopped: 1, dropped_write_failed: 0 } });
  });
});

describe("the keeper's counts", () => {
  const sum = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
  const linesOnDisk = (dir: string, env: string) => {
    const files = replayFiles(dir, env);
    return [files.previous, files.current].flatMap((f) => { try { return readFileSync(f, 'utf8').split('\n').filter(Boolean); } catch { return []; } });
  };

  it('counts kept only what was written: more than `sample` waiting at once is dropped_overflow', async () => {
    const dir = scratchDir();
    const { store } = storeIn(dir, { sample: 10, maxBytes: 1024 * 1024 });
    for (let i = 0; i < 23; i++) store.add('e/p', line(i));
    await store.flush();
    expect(store.counts()['e/p']).toEqual({ kept: 10, too_large: 0, dropped_overflow: 13, dropped_stopped: 0, dropped_write_failed: 0 });
    // Ten written from empty files: five in each.
    expect(linesOnDisk(dir, 'e/p').map((l) => (JSON.parse(l) as { at: number }).at)).toEqual([13, 14, 15, 16, 17, 18, 19, 20, 21, 22]);
  });

  it('counts lines of an environment that stopped recording while they waited dropped_stopped, and writes none', async () => {
    const dir = scratchDir();
    let bounds: { sample: number; maxBytes: number } | undefined = { sample: 100, maxBytes: 1024 * 1024 };
    const store = new ReplayStore({ dir, boundsOf: () => bounds, onError: () => {} });
    for (let i = 0; i < 4; i++) store.add('e/p', line(i));
    await store.flush();
    for (let i = 4; i < 10; i++) store.add('e/p', line(i));
    bounds = undefined;
    store.add('e/p', line(10));
    await store.flush();
    expect(store.counts()['e/p']).toEqual({ kept: 4, too_large: 0, dropped_overflow: 0, dropped_stopped: 7, dropped_write_failed: 0 });
    expect(linesOnDisk(dir, 'e/p')).toHaveLength(4);
  });

  it('counts lines it could not write dropped_write_failed, and says why', async () => {
    const base = scratchDir();
    const dir = join(base, 'replay');
    const { store, errors } = storeIn(dir, { sample: 100, maxBytes: 1024 * 1024 });
    store.add('e/p', line(0));
    await store.flush();
    // The directory replaced by a file: neither made again nor written into.
    rmSync(dir, { recursive: true });
    writeFileSync(dir, '');
    for (let i = 1; i < 6; i++) store.add('e/p', line(i));
    await store.flush();
    expect(store.counts()['e/p']).toEqual({ kept: 1, too_large: 0, dropped_overflow: 0, dropped_stopped: 0, dropped_write_failed: 5 });
    expect(errors).toHaveLength(1);
  });

  it('counts every line it received once, and kept as many as it appended, over rotations and a line too large', async () => {
    const dir = scratchDir();
    const { store } = storeIn(dir, { sample: 8, maxBytes: 64 * 1024 });
    let received = 0;
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 5 + round * 3; i++, received++) store.add('e/p', line(received, received % 17 === 0 ? 40_000 : 10));
      await store.flush();
    }
    const c = store.counts()['e/p']!;
    expect(sum(c)).toBe(received);
    expect(c.too_large).toBeGreaterThan(0);
    expect(c.dropped_overflow).toBeGreaterThan(0);
    // Four lines a file: what the files hold is what the kept count leaves after rotating.
    expect(linesOnDisk(dir, 'e/p')).toHaveLength(4 + (((c.kept - 1) % 4) + 1));
  });
});
