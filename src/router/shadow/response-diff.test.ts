import { describe, expect, it } from 'vitest';
import { diffResponses, type CapturedResponse } from './response-diff.ts';

const json = (v: unknown, status = 200, headers: Record<string, string> = {}): CapturedResponse => ({ status, headers: { 'content-type': 'application/json', ...headers }, body: Buffer.from(JSON.stringify(v)) });
const text = (t: string): CapturedResponse => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: Buffer.from(t) });

describe('diffResponses', () => {
  it('names the one JSON field that changed, by its path in the body', () => {
    const a = json({ items: [{ id: 1, price: 10 }, { id: 2, price: 20 }], total: 30 });
    const b = json({ items: [{ id: 1, price: 10 }, { id: 2, price: 25 }], total: 30 });
    expect(diffResponses(a, b, ['content-type'])).toEqual([{ field: '/body/items/1/price', a: '20', b: '25' }]);
  });

  it('finds nothing in equal answers, whatever the key order of their JSON', () => {
    expect(diffResponses(json({ a: 1, b: [1, 2] }), { ...json({}), body: Buffer.from('{"b":[1,2],"a":1}') }, ['content-type'])).toEqual([]);
  });

  it('tells a field that appeared or vanished, a type change and a longer array', () => {
    const d = diffResponses(json({ a: 1, gone: true, list: [1] }), json({ a: '1', added: null, list: [1, 2] }), []);
    expect(d.map((x) => x.field).sort()).toEqual(['/body/a', '/body/added', '/body/gone', '/body/list/1']);
    expect(d.find((x) => x.field === '/body/gone')).toEqual({ field: '/body/gone', a: 'true', b: '(absent)' });
  });

  it('escapes / and ~ in keys as JSON pointers do', () => {
    expect(diffResponses(json({ 'a/b': 1, 'c~d': 1 }), json({ 'a/b': 2, 'c~d': 2 }), []).map((x) => x.field)).toEqual(['/body/a~1b', '/body/c~0d']);
  });

  it('compares the status and the chosen headers only', () => {
    const a = json({ ok: true }, 200, { 'content-type': 'application/json', etag: '"1"' });
    const b = json({ ok: true }, 404, { 'content-type': 'text/html', etag: '"2"' });
    expect(diffResponses(a, b, ['content-type']).map((x) => x.field)).toEqual(['/status', '/headers/content-type']);
  });

  it('compares text line by line, naming the line', () => {
    expect(diffResponses(text('one\ntwo\nthree'), text('one\n2\nthree\nfour'), [])).toEqual([
      { field: '/body/lines/2', a: 'two', b: '2' },
      { field: '/body/lines/4', a: '(absent)', b: 'four' },
    ]);
  });

  it('compares other bodies whole', () => {
    const bin = (b: number[]): CapturedResponse => ({ status: 200, headers: { 'content-type': 'image/png' }, body: Buffer.from(b) });
    expect(diffResponses(bin([1, 2, 3]), bin([1, 2, 4]), [])).toEqual([{ field: '/body', a: '(3 bytes)', b: '(3 bytes)' }]);
  });

  it('stops at 64 differences in one answer', () => {
    const big = (n: number) => json(Array.from({ length: 200 }, () => n));
    expect(diffResponses(big(1), big(2), [])).toHaveLength(64);
  });
});
