import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { probeListen } from './listen-guard.ts';

describe('probeListen', () => {
  const open: Server[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => new Promise((r) => s.close(r))));
  });

  const listen = (host: string, port: number) => new Promise<Server>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host, port }, () => {
      open.push(s);
      resolve(s);
    });
  });
  const portOf = (s: Server) => (s.address() as { port: number }).port;

  it('finds a port nothing holds free, and leaves it free', async () => {
    const port = portOf(await listen('127.0.0.1', 0));
    await new Promise((r) => open.pop()!.close(r));
    expect(await probeListen({ host: '127.0.0.1', port })).toEqual({ free: true });
    // The probe let go of it: it can be bound again at once.
    await listen('127.0.0.1', port);
  });

  it('reports EADDRINUSE for a port another listener holds', async () => {
    const port = portOf(await listen('127.0.0.1', 0));
    expect(await probeListen({ host: '127.0.0.1', port })).toMatchObject({ free: false, code: 'EADDRINUSE' });
  });

  it('reports why an address that is not on this machine cannot be had', async () => {
    const answer = await probeListen({ host: '192.0.2.1', port: 8080 });
    expect(answer).toMatchObject({ free: false, code: 'EADDRNOTAVAIL' });
  });
});
