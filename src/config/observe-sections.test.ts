import { describe, expect, it } from 'vitest';
import { formatConfigIssue, validateConfigText } from './load-config.ts';
import { parseSizeBytes } from './observe-sections.ts';

const base = (extra: string, top = '') => `service: hello
run:
  command: node server.js
${top}environments:
  production:
    listen: 127.0.0.1:8080
${extra}`;

describe('logs: and notifications: in slipway.yaml', () => {
  it('reads webhooks and log rotation, with defaults', () => {
    const r = validateConfigText(base(`    notifications:
      - url: https://hooks.example.com/services/T0/B0/xyz
        format: slack
        events: [rollout.*, approval.requested]
      - url: http://127.0.0.1:9999/hook
`, 'logs:\n  max_file_size: 512KB\n  max_files: 5\n'), 'slipway.yaml');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.logs).toEqual({ maxFileBytes: 512 * 1024, maxFiles: 5 });
    expect(r.config.environments.production!.notifications).toEqual([
      { url: 'https://hooks.example.com/services/T0/B0/xyz', format: 'slack', events: ['rollout.*', 'approval.requested'], timeoutMs: 5000, attempts: 5 },
      { url: 'http://127.0.0.1:9999/hook', format: 'json', events: [], timeoutMs: 5000, attempts: 5 },
    ]);
    const plain = validateConfigText(base(''), 'slipway.yaml');
    expect(plain.ok && plain.config.logs).toEqual({ maxFileBytes: 10 * 1024 * 1024, maxFiles: 3 });
    expect(plain.ok && plain.config.environments.production!.notifications).toEqual([]);
  });

  it('reads a webhook whose URL is kept in a secret, and wants exactly one of url and url_from', () => {
    const r = validateConfigText(base(`    notifications:
      - url_from: { env: SLIPWAY_SECRET_SLACK_URL }
        format: slack
`), 'slipway.yaml');
    expect(r.ok && r.config.environments.production!.notifications).toEqual([
      { urlFrom: { provider: 'env', name: 'SLIPWAY_SECRET_SLACK_URL' }, format: 'slack', events: [], timeoutMs: 5000, attempts: 5 },
    ]);
    for (const hook of ['url: https://a.example/x\n        url_from: { env: SLIPWAY_SECRET_X }', 'format: slack']) {
      const bad = validateConfigText(base(`    notifications:\n      - ${hook}\n`), 'slipway.yaml');
      expect(bad.ok).toBe(false);
      if (bad.ok) continue;
      expect(bad.issues.map(formatConfigIssue).join('\n')).toContain('environments.production.notifications[0]: give exactly one of url: (written here) or url_from: { env | file | vault }');
    }
    const notAllowed = validateConfigText(base(`    notifications:\n      - url_from: { env: HOME }\n`), 'slipway.yaml');
    expect(!notAllowed.ok && notAllowed.issues.map(formatConfigIssue).join('\n')).toContain('url_from.env');
  });

  it('refuses a bad webhook or size with the line, the key and what is expected', () => {
    const r = validateConfigText(base(`    notifications:
      - url: ftp://example.com/x
        events: [rollout.started, rollout.exploded]
        format: teams
        retries: 3
`, 'logs:\n  max_file_size: 10\n'), 'slipway.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const lines = r.issues.map(formatConfigIssue);
    expect(lines).toEqual(expect.arrayContaining([
      expect.stringMatching(/^slipway\.yaml:5:\d+ logs\.max_file_size: expected a size from 64KB to 1GB with a unit/),
      expect.stringMatching(/^slipway\.yaml:10:\d+ environments\.production\.notifications\[0\]\.url: expected an http:\/\/ or https:\/\/ URL, got "ftp:/),
      expect.stringMatching(/^slipway\.yaml:11:\d+ environments\.production\.notifications\[0\]\.events\[1\]: expected an event type .*rollout\.started.*, got "rollout\.exploded"/),
      expect.stringMatching(/^slipway\.yaml:12:\d+ environments\.production\.notifications\[0\]\.format: expected json or slack, got "teams"/),
      expect.stringMatching(/^slipway\.yaml:13:\d+ environments\.production\.notifications\[0\]\.retries: unknown key; allowed keys here: url, url_from, events, format, timeout, attempts/),
    ]));
  });

  it('reads sizes in powers of 1024 and refuses silly ones', () => {
    expect(parseSizeBytes('10MB')).toBe(10 * 1024 * 1024);
    expect(parseSizeBytes('1.5 mb')).toBe(1.5 * 1024 * 1024);
    expect(parseSizeBytes('1KB')).toBeNull(); // below 64KB: rotation would churn
    expect(parseSizeBytes('2GB')).toBeNull();
    expect(parseSizeBytes(1000)).toBeNull();
  });
});
