// Sign-off on the event stream and in webhooks: a run that waits for approval says so
// (approval.requested, once), each approval and rejection is announced
// (approval.granted, approval.rejected), and production's webhooks that ask for them
// get them. docs/config.md's own example subscribes a chat webhook to
// approval.requested; nothing published it, so no one was ever asked.

import { execFileSync } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowInPolicy, LOOPBACK_ALLOWED } from './support/admin-policy.ts';
import { apiFetch, freePort, getJson, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';

interface RunView {
  run: { id: number; status: string; stage: string; reason: string | null };
}
interface Event {
  id: number;
  type: string;
  env: string | null;
  message: string;
  data: Record<string, unknown>;
}

describe('sign-off on the event stream and in webhooks', { timeout: 240_000 }, () => {
  let work: string;
  let dataDir: string;
  let repo: string;
  let server: ServerProcess;
  let receiver: Server;
  const received: Event[] = [];
  const tokens = new Map<string, string>();

  const tokenOf = async (user: string): Promise<string> => {
    if (!tokens.has(user)) {
      const res = await apiFetch(`${server.url}/api/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, role: 'approver', envs: ['production'] }) });
      expect(res.status, await res.clone().text()).toBe(201);
      tokens.set(user, ((await res.json()) as { token: string }).token);
    }
    return tokens.get(user)!;
  };
  const decide = async (user: string, id: number, what: 'approve' | 'reject') => {
    const res = await apiFetch(`${server.url}/api/pipeline/runs/${id}/${what}`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenOf(user)}` },
      body: JSON.stringify(what === 'reject' ? { reason: 'not on a Friday' } : {}),
    });
    expect(res.status, await res.clone().text()).toBe(201);
  };
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=Alice', '-c', 'user.email=a@example.test', ...args], { cwd: repo, encoding: 'utf8' });
  const start = async (): Promise<number> => {
    const res = await apiFetch(`${server.url}/api/pipeline/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ repo, ref: 'main' }) });
    expect(res.status, await res.clone().text()).toBe(202);
    return ((await res.json()) as RunView).run.id;
  };
  const runOf = (id: number) => getJson<RunView>(`${server.url}/api/pipeline/runs/${id}`);
  const waitForRun = (id: number, what: string, ok: (v: RunView) => boolean) =>
    waitFor(`run #${id} ${what}`, async () => {
      const v = await runOf(id);
      if (v.run.status === 'failed' && !what.includes('fail')) throw new Error(`run #${id} failed: ${v.run.reason}`);
      return ok(v);
    }, 150_000);

  /** The approval events the server kept, read from its SSE stream from the start. */
  const approvalEvents = async (): Promise<Event[]> => {
    const ac = new AbortController();
    const res = await apiFetch(`${server.url}/api/events?after=0&types=approval.*`, { signal: ac.signal });
    const out: Event[] = [];
    let text = '';
    const reader = res.body!.getReader();
    const stop = setTimeout(() => ac.abort(), 1500);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
      }
    } catch {
      // the stream stays open for live events: read what came in 1.5 s
    } finally {
      clearTimeout(stop);
    }
    for (const line of text.split('\n')) if (line.startsWith('data:')) out.push(JSON.parse(line.slice(5)) as Event);
    return out;
  };

  beforeAll(async () => {
    work = scratchDir();
    dataDir = join(work, 'data');
    repo = join(work, 'repo');
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        received.push(JSON.parse(body) as Event);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    const hookPort = (receiver.address() as { port: number }).port;
    server = await startServerProcess(dataDir, 'server.log');
    writeService(repo, {
      envs: {
        staging: { instances: 1, port: await freePort() },
        production: {
          instances: 1, port: await freePort(),
          extraYaml: [
            'watch: 1s',
            'approval: { count: 2, distinct_from_starter: true }',
            'notifications:',
            `  - url: http://127.0.0.1:${hookPort}/hooks/release`,
            '    events: [approval.requested, approval.granted, approval.rejected]',
          ].join('\n'),
        },
      },
    });
    appendFileSync(join(repo, 'slipway.yaml'), 'pipeline: { health_window: 1s }\n');
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-qm', 'v1');
    await allowInPolicy({ cwd: repo, dataDir, yaml: LOOPBACK_ALLOWED });
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
    await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  });

  it('asks once, announces each decision, and production\'s webhooks get them', async () => {
    // The first release: production has no release yet, so no webhooks of its own (docs/config.md); the stream has it all.
    const first = await start();
    await waitForRun(first, 'waiting for approval', (v) => v.run.stage === 'approval' && v.run.status === 'waiting');
    await decide('bob', first, 'approve');
    await waitFor('the first approval announced', async () => (await approvalEvents()).some((e) => e.type === 'approval.granted'));
    await decide('carol', first, 'approve');
    await waitForRun(first, 'to succeed', (v) => v.run.status === 'succeeded');

    const events = await approvalEvents();
    expect(events.map((e) => e.type)).toEqual(['approval.requested', 'approval.granted', 'approval.granted']);
    expect(events.every((e) => e.env === 'hello/production')).toBe(true);
    expect(events[0]!.message).toMatch(new RegExp(`run #${first} .* waits for sign-off; waiting for 2 more approval\\(s\\)`));
    expect(events[0]!.data).toMatchObject({ run: first, required: 2 });
    expect(events[1]!.message).toMatch(/approved by bob; waiting for 1 more approval\(s\)/);
    expect(events[2]!.message).toMatch(/approved by carol; it goes on to production/);
    expect(events[2]!.data).toMatchObject({ run: first, by: 'carol', approvals: 2, required: 2, remaining: 0 });

    // The next release: production's stable release has the webhook, which gets the request and the rejection.
    writeFileSync(join(repo, 'README.md'), 'v2\n');
    git('commit', '-qam', 'v2');
    const second = await start();
    await waitForRun(second, 'waiting for approval', (v) => v.run.stage === 'approval' && v.run.status === 'waiting');
    await waitFor('the webhook to be asked for sign-off', () => received.some((e) => e.type === 'approval.requested'));
    await decide('bob', second, 'reject');
    await waitForRun(second, 'to fail at approval', (v) => v.run.status === 'failed');
    await waitFor('the webhook to hear the rejection', () => received.some((e) => e.type === 'approval.rejected'));
    expect(received.map((e) => e.type)).toEqual(['approval.requested', 'approval.rejected']);
    expect(received[0]!.data).toMatchObject({ run: second });
    expect(received[1]!.message).toMatch(new RegExp(`run #${second} .*rejected by bob: not on a Friday`));
  });
});
