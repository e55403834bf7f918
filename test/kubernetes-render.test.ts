// `slipway render` as a user runs it (the real CLI, a real slipway.yaml), and a
// deploy to a cluster that cannot be reached.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaProblems } from '../src/runtime/kubernetes/manifest-schema.ts';
import type { ClusterObject } from '../src/runtime/kubernetes/manifests.ts';
import { freePort, liveInstanceRows, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';

const DIGEST = `sha256:${'c0ffee'.repeat(11).slice(0, 64)}`;
const KUBERNETES_YAML = [
  'secrets:',
  '  DB_PASSWORD: { env: SLIPWAY_SECRET_HELLO_PRODUCTION_DB_PASSWORD }',
  'runtime: kubernetes',
  'kubernetes:',
  '  namespace: shop',
  '  image: registry.example.com/hello:{artefact}',
  '  traffic: gateway',
  '  gateway: { name: public, namespace: infra, section_name: https }',
  '  hostnames: [hello.example.com]',
].join('\n');

describe('slipway render', () => {
  const dir = scratchDir('slipway-render-');
  const dataDir = join(dir, '.slipway');
  const cli = (...args: string[]) => runCli(args, { cwd: dir, dataDir });
  let server: ServerProcess | null = null;

  beforeAll(async () => {
    writeService(dir, {
      envs: {
        staging: { instances: 1, port: await freePort() },
        production: { instances: 3, port: await freePort(), strategyYaml: 'type: canary\nsteps:\n  - weight: 10\n  - weight: 50', config: { GREETING: 'hi' }, extraYaml: KUBERNETES_YAML },
      },
    });
  });
  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('prints manifests a cluster accepts, naming the Secret without any value', async () => {
    const r = await cli('render', 'production', '--runtime', 'kubernetes', '--release', '12', '--artefact', DIGEST);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('# needs Secret hello-production-r12-secrets with keys DB_PASSWORD (slipway prints no secret value)');
    const objects = parseAllDocuments(r.stdout).map((d) => d.toJS() as ClusterObject).filter(Boolean);
    expect(objects.map((o) => `${o.kind} ${o.metadata?.name}`)).toEqual([
      'Deployment hello-production-r12',
      'Service hello-production-r12',
      'Service hello-production',
      'HTTPRoute hello-production',
    ]);
    expect(objects.flatMap((o) => schemaProblems(o))).toEqual([]);
    const deployment = objects[0] as any;
    expect(deployment.spec.replicas).toBe(3);
    expect(deployment.spec.template.spec.containers[0].image).toBe('registry.example.com/hello:c0ffeec0ffee');
    expect(objects[3]).toMatchObject({ spec: { parentRefs: [{ name: 'public', namespace: 'infra', sectionName: 'https' }], hostnames: ['hello.example.com'] } });
    // Plain YAML a reviewer can read: no anchors or aliases.
    expect(r.stdout).not.toMatch(/[&*]a\d/);
  });

  it('prints a List with --json', async () => {
    const r = await cli('--json', 'render', 'production', '--artefact', DIGEST);
    expect(r.code, r.stderr).toBe(0);
    const list = JSON.parse(r.stdout) as { kind: string; items: ClusterObject[]; requiredSecrets: unknown };
    expect(list.kind).toBe('List');
    expect(list.items.map((o) => o.metadata?.name)).toContain('hello-production-r1');
    expect(list.requiredSecrets).toEqual([{ name: 'hello-production-r1-secrets', keys: ['DB_PASSWORD'] }]);
  });

  it('refuses bad input with a precise message', { timeout: 180_000 }, async () => {
    const cases: [string[], RegExp][] = [
      [['render', 'nowhere'], /no environment "nowhere" in slipway.yaml; it has staging, production/],
      [['render', 'staging'], /environment "staging" has no kubernetes: section/],
      [['render', 'production'], /names \{artefact\}, but no artefact digest is known; pass --artefact/],
      [['render', 'production', '--artefact', 'sha256:xyz'], /expected an artefact digest sha256:<64 lowercase hex digits>/],
      [['render', 'production', '--runtime', 'docker'], /Allowed choices are kubernetes/],
      [['render', 'production', '--release', '0'], /expected a release number of at least 1/],
    ];
    // Three at a time: on a loaded 2-core machine six CLI start-ups at once only queue.
    const results = [...(await Promise.all(cases.slice(0, 3).map(([args]) => cli(...args)))), ...(await Promise.all(cases.slice(3).map(([args]) => cli(...args))))];
    cases.forEach(([args, message], i) => {
      expect(results[i]!.code, args.join(' ')).not.toBe(0);
      expect(results[i]!.stdout + results[i]!.stderr, args.join(' ')).toMatch(message);
    });
  });

  it('reports a kubernetes: section the cluster could not use at its line', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, [
      'service: hello', 'run: { command: node server.js }', 'environments:', '  production:', '    listen: 8080',
      '    runtime: kubernetes', '    kubernetes:', '      namespace: Shop_1', '      image: "reg/hello:{version}"', '      traffic: gateway', '',
    ].join('\n'));
    const noGateway = join(dir, 'no-gateway.yaml');
    writeFileSync(noGateway, [
      'service: hello', 'run: { command: node server.js }', 'environments:', '  production:', '    listen: 8080',
      '    kubernetes:', '      namespace: shop', '      image: reg/hello:{release}', '      traffic: gateway', '',
    ].join('\n'));
    const [r, r2] = await Promise.all([cli('render', 'production', '-f', bad), cli('render', 'production', '-f', noGateway)]);
    expect(r2.code).toBe(1);
    expect(r2.stdout + r2.stderr).toMatch(/no-gateway\.yaml:6:5 environments\.production\.kubernetes\.gateway: traffic: gateway needs the Gateway to attach the HTTPRoute to/);
    expect(r.code).toBe(1);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/bad\.yaml:8:18 environments\.production\.kubernetes\.namespace: expected a namespace/);
    expect(out).toMatch(/bad\.yaml:9:14 environments\.production\.kubernetes\.image: unknown placeholder \{version\}/);
  });

  it('a deploy to a cluster slipway cannot reach fails with that reason and runs nothing on this machine', { timeout: 180_000 }, async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'closed',
      clusters: [{ name: 'closed', cluster: { server: 'http://127.0.0.1:9', 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'closed', context: { cluster: 'closed', user: 'u' } }],
    }));
    server = await startServerProcess(dataDir, 'render-server.log', { ...process.env, KUBECONFIG: kubeconfig, SLIPWAY_SECRET_HELLO_PRODUCTION_DB_PASSWORD: 'pw-not-to-be-seen' });
    const r = await cli('deploy', 'production');
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr, r.stdout + r.stderr).toMatch(/rollout failed: applying \w+ hello-production-r1(-secrets)? failed: could not reach the cluster: .*ECONNREFUSED/);
    expect(r.stdout + r.stderr).not.toContain('pw-not-to-be-seen');
    expect(liveInstanceRows(dataDir)).toEqual([]);
  });
});
