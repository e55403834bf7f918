// The health probe reaches only the instance's own address, whatever path the
// config gives it; and slipway.yaml refuses a health "path" that is a URL.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfigText } from '../src/config/index.ts';
import { probeHealth } from '../src/engine/health-probe.ts';

function listen(onRequest: (url: string, host: string) => void): Promise<Server> {
  const s = createServer((req, res) => {
    onRequest(req.url ?? '', req.headers.host ?? '');
    res.end('ok');
  });
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r(s)));
}

describe('health probes stay on the instance', () => {
  const instanceSaw: string[] = [];
  const otherSaw: string[] = [];
  let instance: Server;
  let other: Server;
  const port = (s: Server) => (s.address() as AddressInfo).port;

  beforeAll(async () => {
    instance = await listen((url) => instanceSaw.push(url));
    other = await listen((url) => otherSaw.push(url));
  });
  afterAll(() => {
    instance.close();
    other.close();
  });

  it('sends even a path shaped like another address to the instance, never elsewhere', async () => {
    const o = port(other);
    const paths = [`//127.0.0.1:${o}/steal`, `/@127.0.0.1:${o}/steal`, `/..%2f..%2f127.0.0.1:${o}`, `/healthz?next=http://127.0.0.1:${o}/`];
    for (const path of paths) {
      const r = await probeHealth({ port: port(instance), path, timeoutMs: 2000 });
      expect(r.ok, path).toBe(true);
    }
    expect(otherSaw).toEqual([]);
    expect(instanceSaw).toEqual(paths);
  });

  it('refuses a health path in slipway.yaml that is not a plain path', () => {
    for (const bad of ['http://169.254.169.254/latest/meta-data', 'healthz', '"/health z"']) {
      const text = `service: x\nrun:\n  command: node server.js\nhealth:\n  path: ${bad}\nenvironments:\n  staging:\n    instances: 1\n    listen: 127.0.0.1:8000\n`;
      const r = validateConfigText(text, 'slipway.yaml');
      expect(r.ok, bad).toBe(false);
    }
  });
});
