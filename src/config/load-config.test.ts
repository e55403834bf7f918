import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.ts';
import type { ServiceConfig } from '../core/service-config.ts';
import { loadConfigFile, parseConfigText, validateConfigText } from './load-config.ts';
import type { ConfigIssue } from './load-config.ts';
import { defaultAnalysisConfig } from './analysis.ts';

const DEFAULT_ANALYSIS_CONFIG = defaultAnalysisConfig();

const EXAMPLE = `service: hello
run:
  command: node server.js
  port_env: PORT
health:
  path: /healthz
  interval: 1s
  timeout: 2s
  healthy_threshold: 2
  start_deadline: 30s
shutdown:
  drain_timeout: 10s
  kill_timeout: 5s
environments:
  staging:
    instances: 2
    listen: 127.0.0.1:8081
    strategy: { type: rolling, batch: 1 }
    config: { GREETING: "hello from staging" }
  production:
    instances: 3
    listen: 127.0.0.1:8080
    strategy: { type: rolling, batch: 34%, max_unavailable: 0 }
`;

const DEFAULT_HEALTH = {
  path: '/healthz',
  intervalMs: 1000,
  timeoutMs: 2000,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
  startDeadlineMs: 30_000,
};

const DEFAULT_PROXY = { responseTimeoutMs: 60_000, idleTimeoutMs: 300_000, maxBodyBytes: 100 * 1024 * 1024, trustForwarded: ['127.0.0.0/8', '::1'] };

const MINIMAL = `service: hello
run:
  command: node server.js
environments:
  staging:
    listen: 8081
`;

function issuesOf(text: string): ConfigIssue[] {
  const result = validateConfigText(text, 'slipway.yaml');
  if (result.ok) throw new Error('expected the config to be refused');
  return result.issues;
}

describe('parseConfigText', () => {
  it('loads the example into the normalised ServiceConfig', () => {
    const expected: ServiceConfig = {
      service: 'hello',
      run: { argv: ['node', 'server.js'], command: 'node server.js', portEnv: 'PORT' },
      image: { dockerfile: 'Dockerfile', ref: null },
      health: DEFAULT_HEALTH,
      shutdown: { drainTimeoutMs: 10_000, killTimeoutMs: 5000 },
      logs: { maxFileBytes: 10 * 1024 * 1024, maxFiles: 3 },
      environments: {
        staging: {
          name: 'staging',
          runtime: 'process',
          resources: null,
          instances: 2,
          listen: { host: '127.0.0.1', port: 8081 },
          strategy: { type: 'rolling', batch: { count: 1 }, maxUnavailable: { count: 0 } },
          config: { GREETING: 'hello from staging' },
          secrets: {},
          analysis: DEFAULT_ANALYSIS_CONFIG,
          watchMs: 120_000,
          watchMaxErrorRate: 0.05,
          notifications: [],
          proxy: DEFAULT_PROXY,
        },
        production: {
          name: 'production',
          runtime: 'process',
          resources: null,
          instances: 3,
          listen: { host: '127.0.0.1', port: 8080 },
          strategy: { type: 'rolling', batch: { percent: 34 }, maxUnavailable: { count: 0 } },
          config: {},
          secrets: {},
          analysis: DEFAULT_ANALYSIS_CONFIG,
          watchMs: 120_000,
          watchMaxErrorRate: 0.05,
          notifications: [],
          proxy: DEFAULT_PROXY,
        },
      },
    };
    expect(parseConfigText(EXAMPLE, 'slipway.yaml')).toEqual(expected);
  });

  it('fills in every default when only the required keys are written', () => {
    const config = parseConfigText(MINIMAL, 'slipway.yaml');
    expect(config.run.portEnv).toBe('PORT');
    expect(config.health).toEqual(DEFAULT_HEALTH);
    expect(config.shutdown).toEqual({ drainTimeoutMs: 10_000, killTimeoutMs: 5000 });
    expect(config.image).toEqual({ dockerfile: 'Dockerfile', ref: null });
    expect(config.environments['staging']).toEqual({
      name: 'staging',
      runtime: 'process',
      resources: null,
      instances: 1,
      listen: { host: '127.0.0.1', port: 8081 },
      strategy: { type: 'rolling', batch: { count: 1 }, maxUnavailable: { count: 0 } },
      config: {},
      secrets: {},
      analysis: DEFAULT_ANALYSIS_CONFIG,
      watchMs: 120_000,
      watchMaxErrorRate: 0.05,
      notifications: [],
      proxy: DEFAULT_PROXY,
    });
  });

  it('reads keep_releases only where it is written, so other configs keep their hash', () => {
    const c = parseConfigText(`${MINIMAL}    keep_releases: 3\n  production:\n    listen: 8082\n`, 'slipway.yaml');
    expect(c.environments.staging!.keepReleases).toBe(3);
    expect('keepReleases' in c.environments.production!).toBe(false);
  });

  it('reads empty optional sections as their defaults', () => {
    const config = parseConfigText(`${MINIMAL}    strategy:\n    config:\nhealth:\nshutdown:\n`, 'slipway.yaml');
    expect(config.health).toEqual(DEFAULT_HEALTH);
    expect(config.environments['staging']?.config).toEqual({});
  });

  it('gives config values to the program as they are written', () => {
    const text = `${MINIMAL}    config: { VERSION: 1.10, VERBOSE: True, MASK: 0o17, COUNT: 8, EMPTY: "" }\n`;
    expect(parseConfigText(text, 'slipway.yaml').environments['staging']?.config).toEqual({
      VERSION: '1.10',
      VERBOSE: 'True',
      MASK: '0o17',
      COUNT: '8',
      EMPTY: '',
    });
  });

  it('keeps ${PORT} and ${<port_env>} in the command for the engine to replace', () => {
    const config = parseConfigText(MINIMAL.replace('node server.js', 'node app.js --port ${PORT} --alt ${HTTP_PORT}\n  port_env: HTTP_PORT'), 'slipway.yaml');
    expect(config.run.argv).toEqual(['node', 'app.js', '--port', '${PORT}', '--alt', '${HTTP_PORT}']);
  });

  it('accepts a command as a list of arguments and other listen forms', () => {
    const text = `service: hello
run:
  command: [node, "my server.js"]
environments:
  a: { listen: "[::1]:9000" }
  b: { listen: localhost:9001 }
  c: { listen: "9002" }
`;
    const config = parseConfigText(text, 'slipway.yaml');
    expect(config.run).toEqual({ argv: ['node', 'my server.js'], command: "node 'my server.js'", portEnv: 'PORT' });
    expect(Object.values(config.environments).map((e) => e.listen)).toEqual([
      { host: '::1', port: 9000 },
      { host: 'localhost', port: 9001 },
      { host: '127.0.0.1', port: 9002 },
    ]);
  });

  it('lets environments share settings through a merge key', () => {
    const text = `service: hello
run: { command: node server.js }
environments:
  staging: &base
    instances: 2
    listen: 8081
    config: { GREETING: hi }
  production:
    <<: *base
    listen: 8080
`;
    const production = parseConfigText(text, 'slipway.yaml').environments['production'];
    expect(production?.instances).toBe(2);
    expect(production?.config).toEqual({ GREETING: 'hi' });
    expect(production?.listen.port).toBe(8080);
  });

  it('throws E_CONFIG_INVALID with every issue, one line each, in the details too', () => {
    const text = EXAMPLE.replace('interval: 1s', 'intervall: 1s').replace('batch: 34%', 'batch: 34 percent');
    const error = (() => {
      try {
        parseConfigText(text, 'slipway.yaml');
      } catch (e) {
        return e;
      }
      throw new Error('expected a throw');
    })();
    expect(error).toBeInstanceOf(SlipwayError);
    const e = error as SlipwayError;
    expect(e.code).toBe('E_CONFIG_INVALID');
    expect(e.message).toBe(
      [
        'slipway.yaml:7:3 health.intervall: unknown key; did you mean "interval"?',
        'slipway.yaml:23:39 environments.production.strategy.batch: expected a count of at least 1 (e.g. 2) ' +
          'or a percentage above 0% (e.g. 25%), got "34 percent"',
      ].join('\n'),
    );
    expect(e.details['issues']).toEqual([
      { file: 'slipway.yaml', line: 7, col: 3, path: 'health.intervall', message: 'unknown key; did you mean "interval"?' },
      expect.objectContaining({ line: 23, col: 39, path: 'environments.production.strategy.batch' }),
    ]);
  });
});

// [what is changed in MINIMAL-like text, line:col, path, part of the message]
const BAD: [string, string, string, string, string][] = [
  ['unknown key with a suggestion', `${MINIMAL}health:\n  intervall: 1s\n`, '8:3', 'health.intervall', 'unknown key; did you mean "interval"?'],
  ['unknown key far from any allowed one', `${MINIMAL}    colour: blue\n`, '7:5', 'environments.staging.colour', 'unknown key; allowed keys here: runtime, resources, instances, listen, strategy, analysis, watch, keep_releases, notifications, config, secrets, kubernetes, proxy, hosts, path_prefix, strip_prefix, tls, record, provision, acceptance, approval, freeze, backup, restore'],
  ['wrong type', `${MINIMAL}    instances: two\n`, '7:16', 'environments.staging.instances', 'expected a whole number from 1 to 64, got "two"'],
  ['instances 0', `${MINIMAL}    instances: 0\n`, '7:16', 'environments.staging.instances', 'expected a whole number from 1 to 64, got 0'],
  ['keep_releases 0', `${MINIMAL}    keep_releases: 0\n`, '7:20', 'environments.staging.keep_releases', 'expected a whole number from 1 to 1000, got 0'],
  ['keep_releases not a number', `${MINIMAL}    keep_releases: all\n`, '7:20', 'environments.staging.keep_releases', 'expected a whole number from 1 to 1000, got "all"'],
  ['a section that is not a map', MINIMAL.replace('  command: node server.js', '  - node'), '3:3', 'run', 'expected a map with keys command, port_env, user, memory, got a list'],
  ['missing required key', MINIMAL.replace('  command: node server.js\n', '  port_env: PORT\n'), '2:1', 'run.command', 'missing; expected a command line (e.g. node server.js) or a list of arguments'],
  ['bad duration', `${MINIMAL}health:\n  timeout: 2 seconds\n`, '8:12', 'health.timeout', 'expected a duration above zero with a unit, such as 250ms, 1s or 2m, got "2 seconds"'],
  ['a timeout longer than a timer can be', `${MINIMAL}shutdown:\n  kill_timeout: 600h\n`, '8:17', 'shutdown.kill_timeout', '"600h" is too long; give at most 24d, the longest timer slipway can set'],
  ['a duration too large for a number', `${MINIMAL}health:\n  start_deadline: ${'9'.repeat(400)}h\n`, '8:19', 'health.start_deadline', 'is too long; give at most 24d'],
  ['a __proto__ key among config (its value would be dropped)', `${MINIMAL}    config: { A: "1", __proto__: evil }\n`, '7:23', 'environments.staging.config.__proto__', '__proto__ cannot be a key in slipway.yaml (it would be dropped, not kept); name it otherwise'],
  ['a __proto__ key in a section of known keys', `${MINIMAL}shutdown:\n  __proto__: { kill_timeout: 1s }\n`, '8:3', 'shutdown.__proto__', '__proto__ cannot be a key in slipway.yaml'],
  ['duration without a unit', `${MINIMAL}shutdown:\n  kill_timeout: 5\n`, '8:17', 'shutdown.kill_timeout', 'got 5'],
  ['bad percent', `${MINIMAL}    strategy: { type: rolling, batch: 34 percent }\n`, '7:39', 'environments.staging.strategy.batch', 'or a percentage above 0% (e.g. 25%), got "34 percent"'],
  ['percent above 100', `${MINIMAL}    strategy: { type: rolling, max_unavailable: 150% }\n`, '7:49', 'environments.staging.strategy.max_unavailable', 'expected a count (e.g. 2) or a percentage (e.g. 25%), got "150%"'],
  ['unknown strategy type', `${MINIMAL}    strategy: { type: canery }\n`, '7:23', 'environments.staging.strategy.type', 'expected a strategy type: "rolling", "canary", "blue-green", got "canery"'],
  ['duplicate listen address', `${MINIMAL}  production:\n    listen: 127.0.0.1:8081\n`, '8:13', 'environments.production.listen', 'clashes with environment "staging" (127.0.0.1:8081)'],
  ['wildcard listen on a used port', `${MINIMAL}  production:\n    listen: 0.0.0.0:8081\n`, '8:13', 'environments.production.listen', 'clashes with environment "staging"'],
  ['localhost for a used loopback address', `${MINIMAL}  production:\n    listen: localhost:8081\n`, '8:13', 'environments.production.listen', 'clashes with environment "staging" (127.0.0.1:8081)'],
  ['another spelling of a used IPv6 address', `${MINIMAL.replace('listen: 8081', 'listen: "[::1]:8081"')}  production:\n    listen: "[0:0:0:0:0:0:0:1]:8081"\n`, '8:13', 'environments.production.listen', 'clashes with environment "staging" ([::1]:8081)'],
  ['port out of range', MINIMAL.replace('8081', '70000'), '6:13', 'environments.staging.listen', 'expected host:port (e.g. 127.0.0.1:8080) or a port number from 1 to 65535, got 70000'],
  ['port_env in config', `${MINIMAL.replace('node server.js', 'node server.js\n  port_env: HTTP_PORT')}    config:\n      HTTP_PORT: "80"\n`, '9:7', 'environments.staging.config.HTTP_PORT', 'HTTP_PORT is set by slipway'],
  ['config value that is a map', `${MINIMAL}    config:\n      OPTS: { a: 1 }\n`, '8:13', 'environments.staging.config.OPTS', 'expected a string, number or boolean, got a map'],
  ['bad config name', `${MINIMAL}    config:\n      my-var: x\n`, '8:7', 'environments.staging.config.my-var', 'expected an environment variable name'],
  ['bad environment name', MINIMAL.replace('  staging:', '  Staging:'), '5:3', 'environments.Staging', 'expected an environment name (lowercase'],
  ['bad service name', MINIMAL.replace('service: hello', 'service: Hello World'), '1:10', 'service', 'got "Hello World"'],
  ['unclosed quote in command', MINIMAL.replace('node server.js', `node 'server.js`), '3:12', 'run.command', 'unclosed single quote at character 6 of the command'],
  ['shell operator in command', MINIMAL.replace('node server.js', 'node server.js > out.log'), '3:12', 'run.command', '">" needs a shell'],
  ['unknown ${NAME} in command', MINIMAL.replace('node server.js', 'node server.js --db ${DB_URL}'), '3:12', 'run.command', '${DB_URL} is not replaced: slipway replaces only ${PORT}'],
  ['bare $PORT in command', MINIMAL.replace('node server.js', 'node server.js --port $PORT'), '3:12', 'run.command', 'write ${PORT}'],
  ['start deadline too short', `${MINIMAL}health:\n  interval: 5s\n  start_deadline: 8s\n`, '9:19', 'health.start_deadline', '8s is too short to see 2 healthy probe(s) 5s apart with a 2s timeout; make it at least 10s'],
  ['steady_interval shorter than interval', `${MINIMAL}health:\n  interval: 5s\n  start_deadline: 20s\n  steady_interval: 2s\n`, '10:20', 'health.steady_interval', '2s is shorter than interval (5s); a serving instance is never probed more often than interval: make it at least 5s, or leave it out'],
  ['no environments', 'service: hello\nrun: { command: x }\nenvironments: {}\n', '3:15', 'environments', 'define at least one environment'],
  ['YAML syntax error', MINIMAL.replace('    listen: 8081', '    listen: 8081\n   instances: 2'), '7:1', 'environments', 'invalid YAML: all mapping items must start at the same column'],
  ['unclosed quote in YAML', MINIMAL.replace('node server.js', '"node server.js'), '3:12', 'run.command', 'invalid YAML: this quoted text is never closed; add the closing "'],
  ['duplicate key', MINIMAL.replace('    listen: 8081', '    listen: 8081\n    instances: 1\n    listen: 8082'), '8:5', 'environments.staging.listen', 'duplicate key; it is already set at line 6'],
  ['empty file', '', '1:1', '(top level)', 'expected a map with keys service, run, image, health, shutdown, logs, environments, build, test, pipeline, got nothing'],
  ['a YAML list at the top', '- service: hello\n', '1:1', '(top level)', 'got a list'],
  ['an alias to no anchor', `${MINIMAL}    config: { A: *nope }\n`, '7:18', 'environments.staging.config.A', '*nope names no anchor; set &nope on a value above this line'],
  ['bytes that were not UTF-8', MINIMAL.replace('node server.js', 'node s\uFFFDrver.js'), '3:18', 'run.command', 'this is not UTF-8 text'],
];

describe('validateConfigText refuses', () => {
  it.each(BAD)('%s', (_name, text, lineCol, path, message) => {
    const issues = issuesOf(text);
    expect(issues).toHaveLength(1);
    const [issue] = issues;
    expect(`${issue?.line}:${issue?.col}`).toBe(lineCol);
    expect(issue?.path).toBe(path);
    expect(issue?.message).toContain(message);
    expect(issue?.file).toBe('slipway.yaml');
  });

  it('refuses a file over 1 MiB at once, before parsing it', () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => `      K${i}: "${'x'.repeat(100)}"`).join('\n');
    const started = performance.now();
    expect(issuesOf(`${MINIMAL}    config:\n${keys}\n`)).toEqual([
      { file: 'slipway.yaml', line: 1, col: 1, path: '(top level)', message: 'the file is 11.1 MiB; a slipway.yaml may be at most 1 MiB' },
    ]);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('refuses an alias bomb quickly, without expanding it', () => {
    const levels = ['a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    }
    const started = performance.now();
    expect(issuesOf(`${MINIMAL}${levels.join('\n')}\n`)[0]?.message).toContain('resource exhaustion');
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('reports every problem at once, sorted by position', () => {
    const text = `service: hello
run:
  command: node 'server.js
environments:
  staging:
    listen: 8081
    instances: 0
  production:
    listen: 8081
health:
  timout: 1s
`;
    expect(issuesOf(text).map((i) => `${i.line}:${i.col} ${i.path}`)).toEqual([
      '3:12 run.command',
      '7:16 environments.staging.instances',
      '9:13 environments.production.listen',
      '11:3 health.timout',
    ]);
  });

  it('still checks the rest of the file when a key is duplicated, at the value that was loaded', () => {
    const text = `${MINIMAL}    instances: 2\n    instances: 0\n    colour: red\n`;
    expect(issuesOf(text).map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`)).toEqual([
      '8:5 environments.staging.instances: duplicate key; it is already set at line 7, and a key may appear once',
      '8:16 environments.staging.instances: expected a whole number from 1 to 64, got 0',
      '9:5 environments.staging.colour: unknown key; allowed keys here: runtime, resources, instances, listen, strategy, analysis, watch, keep_releases, notifications, config, secrets, kubernetes, proxy, hosts, path_prefix, strip_prefix, tls, record, provision, acceptance, approval, freeze, backup, restore',
    ]);
  });
});

describe('loadConfigFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads a file and names it in errors', () => {
    const good = join(dir, 'slipway.yaml');
    writeFileSync(good, EXAMPLE);
    expect(loadConfigFile(good).service).toBe('hello');

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, MINIMAL.replace('8081', '0'));
    expect(() => loadConfigFile(bad)).toThrow(`${bad}:6:13 environments.staging.listen:`);
  });

  it('refuses a missing file with E_CONFIG_NOT_FOUND and points at slipway init', () => {
    const missing = join(dir, 'nope', 'slipway.yaml');
    expect(() => loadConfigFile(missing)).toThrow(
      expect.objectContaining({ code: 'E_CONFIG_NOT_FOUND', message: expect.stringContaining('slipway init') }),
    );
  });

  it('refuses a directory with E_CONFIG_NOT_FOUND', () => {
    expect(() => loadConfigFile(dir)).toThrow(expect.objectContaining({ code: 'E_CONFIG_NOT_FOUND' }));
  });
});
