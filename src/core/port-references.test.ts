import { describe, expect, it } from 'vitest';
import { expandPortReferences, portReferenceNames } from './port-references.ts';

describe('expandPortReferences', () => {
  const cases: [string[], string, string[]][] = [
    [['node', 'app.js', '--port', '${PORT}'], 'PORT', ['node', 'app.js', '--port', '4100']],
    [['node', 'app.js', '--listen=127.0.0.1:${PORT}'], 'PORT', ['node', 'app.js', '--listen=127.0.0.1:4100']],
    [['app', '${HTTP_PORT}', '${PORT}'], 'HTTP_PORT', ['app', '4100', '4100']],
    [['sh', '-c', 'exec app --port ${PORT} ${HOME}'], 'PORT', ['sh', '-c', 'exec app --port 4100 ${HOME}']],
    [['app', '$PORT', '${PORT'], 'PORT', ['app', '$PORT', '${PORT']],
  ];
  it.each(cases)('expands %j with port_env %s', (argv, portEnv, expected) => {
    expect(expandPortReferences(argv, { portEnv, port: 4100 })).toEqual(expected);
  });

  it('names PORT once when port_env is PORT', () => {
    expect(portReferenceNames('PORT')).toEqual(['PORT']);
    expect(portReferenceNames('APP_PORT')).toEqual(['PORT', 'APP_PORT']);
  });
});
