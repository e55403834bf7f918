import { describe, expect, it } from 'vitest';
import { validateConfigText } from './load-config.ts';

function withEnv(extra: string): string {
  return `service: hello
run:
  command: node server.js
environments:
  production:
    listen: 8080
${extra.trim().split('\n').map((l) => `    ${l}`).join('\n')}
`;
}

describe('runtime and kubernetes: in slipway.yaml', () => {
  it('reads a kubernetes section with its defaults', () => {
    const r = validateConfigText(withEnv('runtime: kubernetes\nkubernetes:\n  namespace: shop\n  image: reg/hello:{release}'), 'slipway.yaml');
    expect(r.ok, JSON.stringify(!r.ok && r.issues)).toBe(true);
    if (!r.ok) return;
    const env = r.config.environments['production']!;
    expect(env.runtime).toBe('kubernetes');
    expect(env.kubernetes).toEqual({
      context: null, namespace: 'shop', image: 'reg/hello:{release}', containerPort: 8080, traffic: 'router', gateway: null, hostnames: [], historyLimit: 3,
    });
  });

  it('reads every way of naming the Gateway', () => {
    const forms: [string, unknown][] = [
      ['gateway: public', { name: 'public', namespace: null, sectionName: null }],
      ['gateway: infra/public', { name: 'public', namespace: 'infra', sectionName: null }],
      ['gateway: { name: public, namespace: infra, section_name: https }', { name: 'public', namespace: 'infra', sectionName: 'https' }],
    ];
    for (const [line, gateway] of forms) {
      const r = validateConfigText(withEnv(`kubernetes:\n  namespace: shop\n  image: reg/hello:1\n  traffic: gateway\n  ${line}`), 'slipway.yaml');
      expect(r.ok && r.config.environments['production']!.kubernetes!.gateway, line).toEqual(gateway);
    }
  });

  it('runs on processes when runtime is not written', () => {
    const r = validateConfigText(withEnv(''), 'slipway.yaml');
    expect(r.ok && r.config.environments['production']!.runtime).toBe('process');
  });

  it('takes an analysis step with Prometheus checks when a Gateway carries the traffic', () => {
    const yaml = 'runtime: kubernetes\nstrategy: { type: canary, steps: [ { weight: 10 }, { analysis: { prometheus: [ { name: errors, query: "sum(rate(x[1m]))", max: 0.01, url: "http://prometheus:9090" } ] } } ] }\nkubernetes:\n  namespace: shop\n  image: reg/h:1\n  traffic: gateway\n  gateway: public';
    const r = validateConfigText(withEnv(yaml), 'slipway.yaml');
    expect(r.ok, JSON.stringify(!r.ok && r.issues)).toBe(true);
  });

  it.each([
    ['runtime: kubernetes', 'environments.production.kubernetes', 'runtime: kubernetes needs a kubernetes: section'],
    ['runtime: lambda', 'environments.production.runtime', 'expected one of process, docker, kubernetes, got "lambda"'],
    ['kubernetes:\n  namespace: Shop\n  image: reg/h:1', 'environments.production.kubernetes.namespace', 'expected a namespace (lowercase letters, digits and -, at most 63 characters), got "Shop"'],
    ['kubernetes:\n  namespace: shop', 'environments.production.kubernetes.image', 'missing; expected a container image'],
    ['kubernetes:\n  namespace: shop\n  image: "reg/h:{sha}"', 'environments.production.kubernetes.image', 'unknown placeholder {sha}'],
    ['kubernetes:\n  namespace: shop\n  image: reg/h:1\n  traffic: mesh', 'environments.production.kubernetes.traffic', 'expected "router"'],
    ['kubernetes:\n  namespace: shop\n  image: reg/h:1\n  gateway: public', 'environments.production.kubernetes.gateway', 'only used with traffic: gateway'],
    ['kubernetes:\n  namespace: shop\n  image: reg/h:1\n  container_port: 70000', 'environments.production.kubernetes.container_port', 'expected a whole number from 1 to 65535'],
    ['kubernetes:\n  namespace: shop\n  image: reg/h:1\n  namespce: x', 'environments.production.kubernetes.namespce', 'did you mean "namespace"'],
    ['strategy: { type: canary, steps: [ { weight: 10 } ], sticky: { header: x-user } }\nkubernetes:\n  namespace: shop\n  image: reg/h:1\n  traffic: gateway\n  gateway: public', 'environments.production.strategy.sticky', 'sticky canary needs slipway\'s router'],
    ['runtime: kubernetes\nstrategy: { type: canary, steps: [ { weight: 10 }, { analysis: {} } ] }\nkubernetes:\n  namespace: shop\n  image: reg/h:1\n  traffic: gateway\n  gateway: public', 'environments.production.strategy.steps[1].analysis', 'slipway\'s router sees no request; give this analysis step prometheus: checks'],
  ])('refuses %j at its field', (yaml, path, message) => {
    const r = validateConfigText(withEnv(yaml), 'slipway.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const issue = r.issues.find((i) => i.path === path);
    expect(issue, JSON.stringify(r.issues)).toBeDefined();
    expect(issue!.message).toContain(message);
  });
});
