import { describe, expect, it } from 'vitest';
import { defaultAnalysisConfig } from './analysis.ts';
import { validateConfigText } from './load-config.ts';

const base = (strategy: string) => `service: hello
run:
  command: node server.js
environments:
  production:
    instances: 4
    listen: 127.0.0.1:8080
    strategy:
${strategy.split('\n').map((l) => `      ${l}`).join('\n')}
`;

describe('strategies in slipway.yaml', () => {
  it('reads a canary with weights, timed and manual pauses, analysis and sticky routing', () => {
    const r = validateConfigText(base(`type: canary
steps:
  - weight: 10
  - pause: 30s
  - analysis: {}
  - weight: 50
  - pause: {}
canary_instances: 1
sticky: { header: X-User-Id }`), 'slipway.yaml');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.environments.production!.strategy).toEqual({
      type: 'canary',
      steps: [{ weight: 10 }, { pause: { durationMs: 30_000 } }, { analysis: defaultAnalysisConfig() }, { weight: 50 }, { pause: { durationMs: null } }],
      canaryInstances: 1,
      sticky: { header: 'x-user-id' },
    });
  });

  it('reads blue-green with its defaults', () => {
    const r = validateConfigText(base('type: blue-green\npreview_listen: 127.0.0.1:9080'), 'slipway.yaml');
    expect(r.ok && r.config.environments.production!.strategy).toEqual({
      type: 'blue-green', previewListen: { host: '127.0.0.1', port: 9080 }, autoPromote: true, scaleDownDelayMs: 30_000,
    });
    const r2 = validateConfigText(base('type: blue-green\nauto_promote: false\nscale_down_delay: 0s'), 'slipway.yaml');
    expect(r2.ok && r2.config.environments.production!.strategy).toMatchObject({ autoPromote: false, scaleDownDelayMs: 0, previewListen: null });
  });

  it.each([
    ['type: canary\nsteps:\n  - weight: 0', '11:19', 'environments.production.strategy.steps[0].weight', 'expected a whole percentage from 1 to 100, got 0'],
    ['type: canary\nsteps:\n  - weight: 50\n  - weight: 20', '12:19', 'environments.production.strategy.steps[1].weight', 'weights must grow from step to step; 20 follows 50'],
    ['type: canary\nsteps:\n  - pause: forever', '11:18', 'environments.production.strategy.steps[0].pause', 'expected a duration such as 30s, or {} to wait'],
    ['type: canary\nsteps:\n  - wait: 5s', '11:11', 'environments.production.strategy.steps[0]', 'unknown step "wait"'],
    ['type: canary\nsteps: []', '10:14', 'environments.production.strategy.steps', 'give at least one step'],
    ['type: canary\nsteps:\n  - weight: 10\nsticky: {}', '12:15', 'environments.production.strategy.sticky', 'name a header or a cookie'],
    ['type: blue-green\nauto_promote: maybe', '10:21', 'environments.production.strategy.auto_promote', 'expected true or false, got "maybe"'],
    ['type: blue-green\nscale_down_delay: 5', '10:25', 'environments.production.strategy.scale_down_delay', 'expected a duration such as 30s or 0s, got 5'],
  ])('refuses %s', (strategy, at, path, message) => {
    const r = validateConfigText(base(strategy), 'slipway.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const issue = r.issues.find((i) => i.path === path);
    expect(issue, JSON.stringify(r.issues)).toBeDefined();
    expect(`${issue!.line}:${issue!.col}`).toBe(at);
    expect(issue!.message).toContain(message);
  });
});

describe('analysis in slipway.yaml', () => {
  const withAnalysis = (a: string) => `service: hello
run:
  command: node server.js
environments:
  production:
    listen: 8080
    watch: 30s
    analysis:
${a.split('\n').map((l) => `      ${l}`).join('\n')}
`;

  it('reads limits written as percentages, durations and ratios', () => {
    const r = validateConfigText(withAnalysis(`min_requests: 100
false_alarm_rate: 0.5%
error_rate: { max: 1%, max_increase_over_stable: 0.5% }
latency: { p99: { max: 400ms, max_ratio_to_stable: 1.5 } }
cpu: { max_percent: 80 }
memory: { max_mb: 512 }
restarts: { max: 0 }
deadline: 2m
inconclusive: fail
prometheus:
  - { name: errors, query: 'sum(rate(errors_total[1m]))', max: 0.5 }`), 'slipway.yaml');
    expect(r.ok, JSON.stringify(!r.ok && r.issues)).toBe(true);
    if (!r.ok) return;
    const env = r.config.environments.production!;
    expect(env.watchMs).toBe(30_000);
    expect(env.analysis).toEqual({
      spec: {
        minRequests: 100, alpha: 0.005, beta: 0.05, inconclusive: 'fail',
        errorRate: { max: 0.01, maxIncreaseOverStable: 0.005 },
        latency: { p99: { maxMs: 400, maxRatioToStable: 1.5 } },
        cpu: { maxPercent: 80 }, memory: { maxMb: 512 }, restarts: { max: 0 },
      },
      deadlineMs: 120_000,
      prometheus: [{ name: 'errors', query: 'sum(rate(errors_total[1m]))', url: 'http://127.0.0.1:9090', max: 0.5 }],
    });
  });

  it.each([
    ['error_rate: { max: 0.01 }', 'environments.production.analysis.error_rate.max', 'expected a percentage such as 1% or 0.5%, got 0.01'],
    ['latency: { p99: { max_ratio_to_stable: 0.9 } }', 'environments.production.analysis.latency.p99.max_ratio_to_stable', 'expected a ratio above 1'],
    ['false_alarm_rate: 50%', 'environments.production.analysis.false_alarm_rate', 'at most 20%'],
    ['prometheus:\n  - { name: x, query: up }', 'environments.production.analysis.prometheus[0]', 'give max or min'],
    ['error_rat: { max: 1% }', 'environments.production.analysis.error_rat', 'did you mean "error_rate"'],
  ])('refuses %s', (a, path, message) => {
    const r = validateConfigText(withAnalysis(a), 'slipway.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const issue = r.issues.find((i) => i.path === path);
    expect(issue, JSON.stringify(r.issues)).toBeDefined();
    expect(issue!.message).toContain(message);
  });
});
