import { describe, expect, it } from 'vitest';
import { validateConfigText } from './load-config.ts';

const withWatch = (watch: string) => `service: hello
run:
  command: node server.js
environments:
  production:
    listen: 8080
${watch}
`;

describe('watch in slipway.yaml', () => {
  it.each([
    ['unset: 2 minutes with the 5% floor', '', 120_000, 0.05],
    ['a duration alone keeps the default floor', '    watch: 30s', 30_000, 0.05],
    ['0s turns the watch off', '    watch: 0s', 0, 0.05],
    ['a map sets both', '    watch: { duration: 5m, max_error_rate: 2% }', 300_000, 0.02],
    ['a map with the floor alone keeps 2 minutes', '    watch:\n      max_error_rate: 100%', 120_000, 1],
  ])('%s', (_, text, watchMs, maxErrorRate) => {
    const r = validateConfigText(withWatch(text), 'slipway.yaml');
    expect(r.ok, JSON.stringify(!r.ok && r.issues)).toBe(true);
    if (!r.ok) return;
    expect(r.config.environments.production).toMatchObject({ watchMs, watchMaxErrorRate: maxErrorRate });
  });

  it.each([
    ['    watch: 5', 'environments.production.watch.duration', 'expected a duration such as 30s or 0s, got 5'],
    ['    watch: { max_error_rate: 0.05 }', 'environments.production.watch.max_error_rate', 'expected a percentage such as 1% or 0.5%, got 0.05'],
    ['    watch: { max_error_rate: 120% }', 'environments.production.watch.max_error_rate', 'expected a percentage such as 1% or 0.5%, got "120%"'],
    ['    watch: { duraton: 1m }', 'environments.production.watch.duraton', 'unknown key; did you mean "duration"?'],
  ])('refuses %s', (text, path, message) => {
    const r = validateConfigText(withWatch(text), 'slipway.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const issue = r.issues.find((i) => i.path === path);
    expect(issue, JSON.stringify(r.issues)).toBeDefined();
    expect(issue!.message).toContain(message);
  });
});
