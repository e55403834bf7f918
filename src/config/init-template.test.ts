import { describe, expect, it } from 'vitest';
import { renderInitConfig } from './init-template.ts';
import { parseConfigText } from './load-config.ts';

describe('renderInitConfig', () => {
  it('writes a commented slipway.yaml that loads with the defaults spelt out', () => {
    const text = renderInitConfig({ service: 'hello', command: 'node server.js' });
    expect(text).toMatch(/^# /);
    expect(text).toContain('(default 30s)');
    const config = parseConfigText(text, 'slipway.yaml');
    expect(config.service).toBe('hello');
    expect(config.run).toEqual({ argv: ['node', 'server.js'], command: 'node server.js', portEnv: 'PORT' });
    expect(config.health.startDeadlineMs).toBe(30_000);
    expect(Object.keys(config.environments)).toEqual(['staging', 'production']);
    expect(config.environments['production']?.listen).toEqual({ host: '127.0.0.1', port: 8080 });
  });

  it.each([
    `node "my server.js" --greeting='hi: there # not a comment'`,
    `python3 -m http.server`,
    `'./start' --json '{"a": [1, 2]}'`,
    `- dash first`,
  ])('quotes the command %j so that it loads back to the same argv', (command) => {
    const config = parseConfigText(renderInitConfig({ service: 'svc', command }), 'slipway.yaml');
    expect(config.run.command).toBe(command);
  });

  it.each([
    [{ service: 'My App', command: 'node server.js' }, 'cannot be a service name'],
    [{ service: 'app', command: '   ' }, 'it is empty'],
    [{ service: 'app', command: 'node "server.js' }, 'unclosed double quote'],
  ])('refuses %j', (options, message) => {
    expect(() => renderInitConfig(options)).toThrow(
      expect.objectContaining({ code: 'E_CONFIG_INVALID', message: expect.stringContaining(message) }),
    );
  });
});
