import { describe, expect, it } from 'vitest';
import { validateConfigText, formatConfigIssue } from './load-config.ts';
import { secretLikeName, secretLikeValue } from './secret-guard.ts';

const yaml = (config: string) => `service: hello
run:
  command: node server.js
environments:
  production:
    listen: 8080
    config:
${config.split('\n').map((l) => `      ${l}`).join('\n')}
`;

describe('the hard-coded secret guard', () => {
  it.each([
    ['DB_PASSWORD', 'its name ends in _PASSWORD'],
    ['GITHUB_TOKEN', 'its name ends in _TOKEN'],
    ['STRIPE_API_KEY', 'its name ends in _KEY'],
    ['SESSION_SECRET', 'its name ends in _SECRET'],
    ['PASSWORD', 'its name is PASSWORD'],
    ['SECRET_KEY_BASE', 'its name starts with SECRET_'],
    ['smtp_pass', 'its name ends in _PASS'],
  ])('flags the name %s', (name, reason) => {
    expect(secretLikeName(name)).toBe(reason);
  });

  it.each(['GREETING', 'LOG_LEVEL', 'KEYCLOAK_URL', 'TOKEN_TTL', 'PASSWORD_MIN_LENGTH', 'PORT'])('leaves the name %s alone', (name) => {
    expect(secretLikeName(name)).toBeNull();
  });

  it.each([
    ['ghp_16C7e42F292c6912E7710c838347Ae178B4a', /GitHub token/],
    ['AKIAIOSFODNN7EXAMPLE', /AWS access key/],
    ['sk_live_4eC39HqLyjWDarjtT1zdp7dc', /Stripe/],
    ['postgres://app:s3cr3t@db.internal:5432/app', /URL with a password/],
    // Fixed samples of random output: a test that draws its own could, rarely, draw a dull one.
    ['9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', /looks random/],
    ['kG3xR0p9+T2vQw/Lm8ZyB1nD4sFa6HjU', /looks random/],
    ['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY1', /looks random/],
  ])('flags the value %s', (value, reason) => {
    expect(secretLikeValue(value)).toMatch(reason);
  });

  it.each([
    'hello from staging', 'https://api.example.com/v1/things', 'postgres://db.internal:5432/app', 'redis://cache:6379/0',
    '550e8400-e29b-41d4-a716-446655440000', '/var/lib/hello/data/files', 'en_US.UTF-8', '1.10', 'api.internal.example.com',
    'true', '30s', 'info', 'aaaaaaaaaaaaaaaaaaaaaaaa1', 'release-2024-01-15-build-3',
  ])('leaves the value %s alone', (value) => {
    expect(secretLikeValue(value)).toBeNull();
  });

  it('validate reports each finding as a warning at its key, with the command to use and without the value', () => {
    const token = 'c3ab8ff13720e8ad9047dd39466b3c8974e592c2';
    const r = validateConfigText(yaml(`GREETING: hello\nDB_PASSWORD: "hunter2hunter2"\nUPSTREAM_AUTH: "${token}"`), 'slipway.yaml');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const lines = r.warnings.map(formatConfigIssue);
    expect(lines).toEqual([
      'slipway.yaml:9:7 environments.production.config.DB_PASSWORD: looks like a secret (its name ends in _PASSWORD); keep secrets out of slipway.yaml: remove it here and run `slipway secret set production DB_PASSWORD` (the value is read from stdin)',
      expect.stringMatching(/^slipway\.yaml:10:7 environments\.production\.config\.UPSTREAM_AUTH: looks like a secret \(it looks random .*slipway secret set production UPSTREAM_AUTH/),
    ]);
    expect(lines.join('\n')).not.toContain('hunter2');
    expect(lines.join('\n')).not.toContain(token);
  });

  it('a clean file has no warnings', () => {
    const r = validateConfigText(yaml('GREETING: hello\nLOG_LEVEL: debug'), 'slipway.yaml');
    expect(r.ok && r.warnings).toEqual([]);
  });
});
