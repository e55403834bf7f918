import { describe, expect, it } from 'vitest';
import { anonymiser } from './replay-anonymise.ts';

const A = '__anonymised__';

describe('anonymising a recorded request', () => {
  const an = anonymiser(['acct-[0-9]{6}']);

  it('replaces query values whose names say secret, and values shaped like credentials or e-mails', () => {
    expect(an.url('/api/x?access_token=abc&page=2&password=hunter2&key=k1')).toBe(`/api/x?access_token=${A}&page=2&password=${A}&key=${A}`);
    expect(an.url('/api/u?email=jane%40example.com&q=shoes')).toBe(`/api/u?email=${A}&q=shoes`);
    expect(an.url('/api/u?next=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc')).toBe(`/api/u?next=${A}`);
    expect(an.url('/plain/path')).toBe('/plain/path');
    expect(an.header('to jane.doe+x@mail.example.org, bob@b.io')).toBe(`to ${A}, ${A}`);
  });

  it('takes time in proportion to the text, so no client can stall the router with a long body', () => {
    // A run of 300,000 letters with no @: the e-mail shape once rescanned it from each
    // letter (about 15 s per 100,000, quadratic); this test would then outlast its timeout.
    const letters = 'a'.repeat(300_000);
    expect(an.body(Buffer.from(letters), 'text/plain')!.toString()).toBe(letters);
    expect(an.url(`/x?q=${letters}`)).toBe(`/x?q=${letters}`);
    expect(an.body(Buffer.from(`${letters}@example.com`), 'text/plain')!.toString()).toBe(A);
  });

  it('applies the configured patterns to the path, the query and header values', () => {
    expect(an.url('/accounts/acct-123456/orders?ref=acct-654321')).toBe(`/accounts/${A}/orders?ref=${A}`);
    expect(an.header('Bearer abc.def')).toBe(A);
    expect(an.header('text/html, acct-000001')).toBe(`text/html, ${A}`);
    expect(an.header('application/json')).toBe('application/json');
  });

  it('masks JSON fields by name and value, form fields by name, and refuses bodies that are not text', () => {
    const json = an.body(Buffer.from(JSON.stringify({ user: { password: 'p', name: 'n', mail: 'a@b.io' }, items: [{ acct: 'acct-111111' }], apiKey: 'sk_live_abcdefgh123' })), 'application/json');
    expect(JSON.parse(json!.toString())).toEqual({ user: { password: A, name: 'n', mail: A }, items: [{ acct: A }], apiKey: A });
    expect(an.body(Buffer.from('user=jo&pass=secret1'), 'application/x-www-form-urlencoded')!.toString()).toBe(`user=jo&pass=${A}`);
    expect(an.body(Buffer.from('see acct-222222 now'), 'text/plain')!.toString()).toBe(`see ${A} now`);
    expect(an.body(Buffer.from([0xff, 0xfe, 0x00, 0x81]), 'application/octet-stream')).toBeNull();
  });
});
