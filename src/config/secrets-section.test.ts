import { describe, expect, it } from 'vitest';
import { formatConfigIssue, parseConfigText, validateConfigText } from './load-config.ts';

const yaml = (secrets: string, extra = '') => `service: hello
run:
  command: node server.js
environments:
  production:
    listen: 8080
${extra}    secrets:
${secrets.split('\n').map((l) => `      ${l}`).join('\n')}
`;

function issues(text: string): string[] {
  const r = validateConfigText(text, 'slipway.yaml');
  if (r.ok) throw new Error('expected the config to be refused');
  return r.issues.map(formatConfigIssue);
}

describe('secrets: in slipway.yaml', () => {
  it('reads vault, file and env references into the environment spec', () => {
    const c = parseConfigText(yaml(`DB_PASSWORD: { vault: { path: hello/db, key: password } }
API_TOKEN: { vault: { mount: kv/apps, path: hello, key: api-token } }
TLS_KEY: { file: /run/secrets/hello-tls.key }
SMTP_PASSWORD: { env: SLIPWAY_SECRET_SMTP }`), 'slipway.yaml');
    expect(c.environments.production!.secrets).toEqual({
      DB_PASSWORD: { provider: 'vault', mount: 'secret', path: 'hello/db', key: 'password' },
      API_TOKEN: { provider: 'vault', mount: 'kv/apps', path: 'hello', key: 'api-token' },
      TLS_KEY: { provider: 'file', path: '/run/secrets/hello-tls.key' },
      SMTP_PASSWORD: { provider: 'env', name: 'SLIPWAY_SECRET_SMTP' },
    });
  });

  it('defaults to no secrets', () => {
    expect(parseConfigText(yaml('{}').replace('    secrets:\n      {}\n', ''), 'slipway.yaml').environments.production!.secrets).toEqual({});
  });

  it('refuses bad references with file:line:col', () => {
    expect(issues(yaml('DB_PASSWORD: hunter2'))).toEqual([
      'slipway.yaml:8:20 environments.production.secrets.DB_PASSWORD: expected a map with keys vault, file, env, got "hunter2"',
    ]);
    expect(issues(yaml('A: { file: relative/path }'))).toEqual([
      expect.stringMatching(/^slipway\.yaml:8:18 environments\.production\.secrets\.A\.file: expected an absolute path/),
    ]);
    expect(issues(yaml('A: { env: SLIPWAY_MASTER_KEY }'))).toEqual([
      expect.stringMatching(/^slipway\.yaml:8:17 environments\.production\.secrets\.A\.env: expected a variable .* starts with SLIPWAY_SECRET_ .*got "SLIPWAY_MASTER_KEY"/),
    ]);
    expect(issues(yaml('A: { vault: { path: hello/db } }'))).toEqual([
      expect.stringMatching(/^slipway\.yaml:8:\d+ environments\.production\.secrets\.A\.vault\.key: missing; expected the name of a key/),
    ]);
    expect(issues(yaml('A: { file: /x, env: SLIPWAY_SECRET_A }'))).toEqual([
      'slipway.yaml:8:10 environments.production.secrets.A: give exactly one of vault: { path, key }, file: /absolute/path or env: SLIPWAY_SECRET_NAME',
    ]);
    expect(issues(yaml('A: { vualt: { path: x, key: y } }'))).toEqual([
      'slipway.yaml:8:12 environments.production.secrets.A.vualt: unknown key; did you mean "vault"?',
    ]);
    expect(issues(yaml('1BAD: { file: /x }'))).toEqual([expect.stringMatching(/^slipway\.yaml:8:7 environments\.production\.secrets\["1BAD"\]: expected an environment variable name/)]);
  });

  it('refuses a name that is also a plain config value, or the port variable', () => {
    expect(issues(yaml('GREETING: { file: /x }\nPORT: { file: /y }', '    config: { GREETING: hi }\n'))).toEqual([
      'slipway.yaml:9:7 environments.production.secrets.GREETING: GREETING is also a plain value under config; keep it in one place (a secret, if it is one)',
      "slipway.yaml:10:7 environments.production.secrets.PORT: PORT is set by slipway to each instance's port (run.port_env); name the secret otherwise",
    ]);
  });
});
