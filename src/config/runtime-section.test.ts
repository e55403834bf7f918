import { describe, expect, it } from 'vitest';
import { parseConfigText, validateConfigText } from './load-config.ts';
import { parseMemoryBytes } from './runtime-section.ts';

const BASE = `service: hello
run:
  command: node server.js
environments:
  production:
    listen: 8080
`;

function issuesOf(text: string): string[] {
  const v = validateConfigText(text, 'slipway.yaml');
  return v.ok ? [] : v.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`);
}

describe('runtime, resources and image in slipway.yaml', () => {
  it('reads a docker environment with limits, and the image built from the default Dockerfile', () => {
    const c = parseConfigText(`${BASE}    runtime: docker\n    resources: { memory: 256m, cpus: 0.5 }\n`, 'slipway.yaml');
    expect(c.environments['production']).toMatchObject({ runtime: 'docker', resources: { memoryBytes: 256 * 1024 * 1024, cpus: 0.5 } });
    expect(c.image).toEqual({ dockerfile: 'Dockerfile', ref: null });
  });

  it('defaults to the process runtime without limits', () => {
    const c = parseConfigText(BASE, 'slipway.yaml');
    expect(c.environments['production']).toMatchObject({ runtime: 'process', resources: null });
  });

  it('takes an image reference instead of a Dockerfile', () => {
    const c = parseConfigText(`${BASE}    runtime: docker\nimage:\n  ref: registry.example.com:5000/team/hello:1.4\n`, 'slipway.yaml');
    expect(c.image).toEqual({ dockerfile: null, ref: 'registry.example.com:5000/team/hello:1.4' });
    expect(parseConfigText(`${BASE}image: { dockerfile: docker/Dockerfile.prod }\n`, 'slipway.yaml').image).toEqual({ dockerfile: 'docker/Dockerfile.prod', ref: null });
  });

  it.each([
    ['an unknown runtime', `${BASE}    runtime: podman\n`, '7:14 environments.production.runtime: expected one of process, docker, kubernetes, got "podman"'],
    ['limits the process runtime cannot enforce', `${BASE}    resources: { memory: 256m }\n`, '7:16 environments.production.resources: the process runtime cannot limit instances; remove resources, or set runtime: docker'],
    ['a memory size without a unit', `${BASE}    runtime: docker\n    resources: { memory: 256 }\n`, 'environments.production.resources.memory: expected a memory size of at least 6m with a unit, such as 256m or 1g, got 256'],
    ['no CPU at all', `${BASE}    runtime: docker\n    resources: { cpus: 0 }\n`, 'environments.production.resources.cpus: expected a number of CPU cores above 0, such as 0.5 or 2, got 0'],
    ['an unknown key under resources', `${BASE}    runtime: docker\n    resources: { memroy: 1g }\n`, 'environments.production.resources.memroy: unknown key'],
    ['both a Dockerfile and a reference', `${BASE}image: { dockerfile: Dockerfile, ref: hello:1 }\n`, 'image.ref: give either dockerfile (build the image from the artefact) or ref (use this image), not both'],
    ['a Dockerfile outside the service directory', `${BASE}image: { dockerfile: ../Dockerfile }\n`, 'image.dockerfile: expected a path of a Dockerfile inside the service directory'],
    ['a malformed reference', `${BASE}image: { ref: "Hello World" }\n`, 'image.ref: expected an image reference'],
  ])('refuses %s, saying where and why', (_name, text, expected) => {
    const issues = issuesOf(text);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toContain(expected);
  });

  it('reads memory sizes in binary units, and refuses ones Docker would refuse', () => {
    expect(parseMemoryBytes('1g')).toBe(1024 ** 3);
    expect(parseMemoryBytes('512Mi')).toBe(512 * 1024 ** 2);
    expect(parseMemoryBytes('1.5GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseMemoryBytes('4m')).toBeNull();
    expect(parseMemoryBytes('12 parsecs')).toBeNull();
  });
});
