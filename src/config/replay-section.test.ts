import { describe, expect, it } from 'vitest';
import { validateConfigText } from './load-config.ts';
import { nestedRepetition } from './replay-section.ts';

const base = (production: string, pipeline = '') => `service: hello
run:
  command: node server.js
environments:
  staging:
    listen: 127.0.0.1:8081
  production:
    listen: 127.0.0.1:8080
${production.split('\n').map((l) => `    ${l}`).join('\n')}
${pipeline}`;

describe('record: and pipeline.replay in slipway.yaml', () => {
  it('reads every key, methods upper-cased and header names lower-cased', () => {
    const r = validateConfigText(base(
      'record: { percent: 2.5, methods: [get, POST], paths: [/api/*], headers: [Accept, X-Tenant], bodies: true, anonymise: ["\\\\d{16}", "user-[0-9]+"], sample: 500, max_bytes: 2mb, max_body: 16kb }',
      'pipeline:\n  replay: { ignore: [/body/updatedAt], compare_headers: [Content-Type, ETag], max_diff_rate: 2%, min_requests: 5, inconclusive: fail, timeout: 3s }\n',
    ), 'slipway.yaml');
    expect(r.ok, JSON.stringify(!r.ok && r.issues)).toBe(true);
    if (!r.ok) return;
    expect(r.config.environments.production!.record).toEqual({
      percent: 2.5, methods: ['GET', 'POST'], paths: ['/api/*'], headers: ['accept', 'x-tenant'], bodies: true, anonymise: ['\\d{16}', 'user-[0-9]+'],
      sample: 500, maxBytes: 2 * 1024 * 1024, maxBodyBytes: 16 * 1024,
    });
    expect(r.config.pipeline!.replay).toEqual({ ignore: ['/body/updatedAt'], compareHeaders: ['content-type', 'etag'], maxDiffRate: 0.02, minRequests: 5, inconclusive: 'fail', timeoutMs: 3000 });
  });

  it('records GET and HEAD only, without bodies, by default', () => {
    const r = validateConfigText(base('record: {}', 'pipeline:\n  replay: {}\n'), 'slipway.yaml');
    expect(r.ok, JSON.stringify(!r.ok && r.issues)).toBe(true);
    if (!r.ok) return;
    expect(r.config.environments.production!.record).toMatchObject({ percent: 5, methods: ['GET', 'HEAD'], paths: ['/*'], bodies: false, sample: 200, maxBytes: 1024 * 1024 });
    expect(r.config.pipeline!.replay).toMatchObject({ compareHeaders: ['content-type'], maxDiffRate: 0.01, minRequests: 20, inconclusive: 'pass' });
  });

  it.each([
    ['record: { headers: [Authorization] }', '', 'environments.production.record.headers[0]', '"authorization" carries credentials: slipway never records it'],
    ['record: { headers: [cookie] }', '', 'environments.production.record.headers[0]', 'carries credentials'],
    ['record: { anonymise: ["a(b"] }', '', 'environments.production.record.anonymise[0]', 'is not a regular expression'],
    ['record: { anonymise: ["x*"] }', '', 'environments.production.record.anonymise[0]', 'matches the empty text'],
    ['record: { anonymise: ["(a+)+$"] }', '', 'environments.production.record.anonymise[0]', 'repeats a group that itself repeats ((a+)+)'],
    ['record: { anonymise: ["id-((\\\\d{2,})x)*"] }', '', 'environments.production.record.anonymise[0]', 'repeats a group that itself repeats'],
    ['record: { anonymise: "token" }', '', 'environments.production.record.anonymise', 'expected a list of regular expressions'],
    ['record: { bodies: true }', '', 'environments.production.record.bodies', 'list one in methods'],
    ['record: { sample: 5 }', '', 'environments.production.record.sample', 'expected a whole number'],
    ['record: { max_bytes: 1gb }', '', 'environments.production.record.max_bytes', 'from 4kb to 256mb'],
    ['record: { percent: 0 }', '', 'environments.production.record.percent', 'above 0% and at most 100%'],
    ['record: { methods: [GET, FETCH] }', '', 'environments.production.record.methods[1]', 'expected HTTP methods'],
    ['record: { paths: [api] }', '', 'environments.production.record.paths[0]', 'path patterns such as /api/*'],
    ['record: { percent: 5, body: true }', '', 'environments.production.record.body', 'unknown key'],
    ['record: {}', 'pipeline:\n  replay: { max_diff_rate: 0.01 }\n', 'pipeline.replay.max_diff_rate', 'a percentage such as 1%'],
    ['record: {}', 'pipeline:\n  replay: { compare_headers: [set-cookie] }\n', 'pipeline.replay.compare_headers[0]', 'carries credentials'],
    ['record: {}', 'pipeline:\n  replay: { percent: 5 }\n', 'pipeline.replay.percent', 'unknown key'],
    ['instances: 1', 'pipeline:\n  replay: {}\n', 'pipeline.replay', 'add record: (e.g. record: { percent: 5, paths: [/api/*] }) to environments.production'],
  ])('refuses %s %s', (production, pipeline, path, message) => {
    const r = validateConfigText(base(production, pipeline), 'slipway.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const issue = r.issues.find((i) => i.path === path);
    expect(issue, JSON.stringify(r.issues)).toBeDefined();
    expect(issue!.message).toContain(message);
  });
});

describe('anonymise patterns that would backtrack without end', () => {
  it('finds a repeated group holding a repetition, and nothing in escapes, classes or bounded counts', () => {
    expect(nestedRepetition('(a+)+$')).toBe('(a+)+');
    expect(nestedRepetition('^(\\w+\\s?)*$')).toBe('(\\w+\\s?)*');
    expect(nestedRepetition('(x(a*)y){2,}')).toBe('(x(a*)y){');
    for (const safe of ['\\d{16}', 'user-[0-9]+', '(ab)+', '[(a+)]+', '\\(a+\\)+', '(a{2}){3}', '(?:acct|user)-[0-9]{6}']) {
      expect(nestedRepetition(safe), safe).toBeNull();
    }
  });
});
