import { describe, expect, it } from 'vitest';
import { validateConfigText } from './load-config.ts';

const base = (strategy: string) => `service: hello
run:
  command: node server.js
environments:
  production:
    instances: 2
    listen: 127.0.0.1:8080
    strategy:
${strategy.split('\n').map((l) => `      ${l}`).join('\n')}
`;

describe('shadow steps in slipway.yaml', () => {
  it('reads a canary shadow step with every key, methods upper-cased and header names lower-cased', () => {
    const r = validateConfigText(base(`type: canary
steps:
  - shadow: { duration: 2m, percent: 20, methods: [get, HEAD, POST], paths: [/api/*], ignore: [/body/updatedAt, /body/items/*/id], headers: [Content-Type, ETag], max_diff_rate: 1%, min_requests: 5, inconclusive: fail, max_in_flight: 8, max_body: 256kb }
  - weight: 50`), 'slipway.yaml');
    expect(r.ok, JSON.stringify(!r.ok && r.issues)).toBe(true);
    if (!r.ok) return;
    const s = r.config.environments.production!.strategy;
    expect(s.type === 'canary' && s.steps[0]).toEqual({
      shadow: {
        durationMs: 120_000, percent: 20, methods: ['GET', 'HEAD', 'POST'], paths: ['/api/*'], ignore: ['/body/updatedAt', '/body/items/*/id'],
        headers: ['content-type', 'etag'], maxDiffRate: 0.01, minRequests: 5, inconclusive: 'fail', maxInFlight: 8, maxBodyBytes: 256 * 1024,
      },
    });
  });

  it('gives a blue-green shadow step safe defaults: GET and HEAD only, content-type compared, 1 MiB bodies', () => {
    const r = validateConfigText(base('type: blue-green\nshadow: { duration: 30s }'), 'slipway.yaml');
    expect(r.ok, JSON.stringify(!r.ok && r.issues)).toBe(true);
    if (!r.ok) return;
    const s = r.config.environments.production!.strategy;
    expect(s.type === 'blue-green' && s.shadow).toMatchObject({ durationMs: 30_000, percent: 10, methods: ['GET', 'HEAD'], paths: ['/*'], headers: ['content-type'], maxDiffRate: 0.01, maxBodyBytes: 1024 * 1024 });
  });

  it.each([
    ['type: canary\nsteps:\n  - shadow: { percent: 20 }', 'environments.production.strategy.steps[0].shadow.duration', 'missing; expected a duration'],
    ['type: canary\nsteps:\n  - shadow: { duration: 1m, percent: 0 }', 'environments.production.strategy.steps[0].shadow.percent', 'above 0% and at most 100%'],
    ['type: canary\nsteps:\n  - shadow: { duration: 1m, methods: [GET, FETCH] }', 'environments.production.strategy.steps[0].shadow.methods[1]', 'expected HTTP methods'],
    ['type: canary\nsteps:\n  - shadow: { duration: 1m, paths: [api] }', 'environments.production.strategy.steps[0].shadow.paths[0]', 'path patterns such as /api/*'],
    ['type: canary\nsteps:\n  - shadow: { duration: 1m, ignore: [updatedAt] }', 'environments.production.strategy.steps[0].shadow.ignore[0]', 'field paths such as /body/updatedAt'],
    ['type: canary\nsteps:\n  - shadow: { duration: 1m, max_diff_rate: 0.01 }', 'environments.production.strategy.steps[0].shadow.max_diff_rate', 'a percentage such as 1%'],
    ['type: canary\nsteps:\n  - shadow: { duration: 1m, headers: [Authorization] }', 'environments.production.strategy.steps[0].shadow.headers[0]', '"authorization" carries credentials'],
    ['type: canary\nsteps:\n  - shadow: { duration: 1m, max_body: 1gb }', 'environments.production.strategy.steps[0].shadow.max_body', 'at most 16mb'],
    ['type: canary\nsteps:\n  - shadow: { duration: 1m, mirror: all }', 'environments.production.strategy.steps[0].shadow.mirror', 'unknown key; allowed keys here: duration, percent'],
    ['type: canary\nsteps:\n  - weight: 100\n  - shadow: { duration: 1m }', 'environments.production.strategy.steps[1].shadow', 'no stable traffic to copy'],
    ['type: blue-green\nshadow: { duration: 1m, inconclusive: wait }', 'environments.production.strategy.shadow.inconclusive', 'one of pass, fail'],
  ])('refuses %s', (strategy, path, message) => {
    const r = validateConfigText(base(strategy), 'slipway.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const issue = r.issues.find((i) => i.path === path);
    expect(issue, JSON.stringify(r.issues)).toBeDefined();
    expect(issue!.message).toContain(message);
  });
});
