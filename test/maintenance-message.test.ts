// The maintenance message is served by the router as it was given (its 503 page and
// JSON) and read raw by anything using the API, so a message that would show
// otherwise than it reads is refused at input: control characters, line and
// paragraph separators, bidirectional overrides and isolates, and more than 1000
// characters. A real server and router: each refusal is a 400 E_BAD_REQUEST naming
// the character and its position (the CLI shows it), and maintenance stays as it
// was, in state and at the router. HTML in an accepted message is escaped on the
// router's page.

import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { apiFetch, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';

const INJECTION = `Back at 10:30 </p><script>alert('x')</script><img src=x onerror="alert(1)"> & 'more'`;

/** Each refused message, the character the answer must name, and its position (1-based, in characters of the message as given). */
const REFUSED: { what: string; message: string; character: string; position: number }[] = [
  { what: 'a right-to-left override', message: 'Back at 10:30\u202e03:01 ta kcab', character: 'U+202E', position: 14 },
  { what: 'a left-to-right isolate', message: 'ok \u2066x\u2069', character: 'U+2066', position: 4 },
  { what: 'an embedding', message: 'ok\u202ax', character: 'U+202A', position: 3 },
  { what: 'a terminal escape, after an emoji and leading blanks', message: '  🚧 \x1b]0;owned\x07', character: 'U+001B', position: 5 },
  { what: 'a line feed', message: 'line one\nline two', character: 'U+000A', position: 9 },
  { what: 'a tab', message: 'a\tb', character: 'U+0009', position: 2 },
  { what: 'a carriage return', message: 'shown\rspoof', character: 'U+000D', position: 6 },
  { what: 'a C1 control', message: 'next\u0085line', character: 'U+0085', position: 5 },
  { what: 'a line separator', message: 'one\u2028two', character: 'U+2028', position: 4 },
];

describe('a maintenance message is one line of plain text', { timeout: 120_000 }, () => {
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let port: number;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const status = () => getJson<EnvironmentStatus>(`${server.url}/api/environments/${encodeURIComponent('shop/production')}`);
  const routesJson = () => readFileSync(join(dataDir, 'router', 'routes.json'), 'utf8');
  const maintenanceOn = (body: unknown) => apiFetch(`${server.url}/api/environments/shop%2Fproduction/maintenance/on`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  async function get(accept: string): Promise<{ status: number; text: string }> {
    const res = await request(`http://127.0.0.1:${port}/`, { headers: { accept } });
    return { status: res.statusCode, text: await res.body.text() };
  }

  beforeAll(async () => {
    const work = scratchDir();
    app = join(work, 'shop');
    dataDir = join(work, '.slipway');
    port = await freePort();
    writeService(app, { service: 'shop', envs: { production: { instances: 1, port } } });
    server = await startServerProcess(dataDir);
    const d = await cli('deploy', 'production');
    expect(d.code, d.stdout + d.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  }, 120_000);

  it("escapes HTML in the message on the router's 503 page and keeps it exact in its JSON", async () => {
    const on = await cli('--json', 'maintenance', 'on', 'production', '--message', INJECTION, '--retry-after', '300');
    expect(on.code, on.stdout + on.stderr).toBe(0);

    const page = await get('text/html');
    expect(page.status).toBe(503);
    expect(page.text).not.toContain('<script');
    expect(page.text).not.toContain('<img');
    expect(page.text.split('</p>').length).toBe(2);
    // The page's one paragraph, its entities read back, is the message.
    const paragraph = /<p>([^<]*)<\/p>/.exec(page.text)?.[1] ?? '';
    expect(paragraph.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))).toBe(INJECTION);

    const json = await get('application/json');
    expect([json.status, JSON.parse(json.text)]).toEqual([503, { error: 'maintenance', message: INJECTION, retryAfterSeconds: 300 }]);
  });

  it('refuses control, separator and bidi characters with a 400 naming the character and its position, changing nothing', async () => {
    const before = (await status()).traffic;
    expect(before?.maintenance?.message).toBe(INJECTION);
    const table = routesJson();

    for (const r of REFUSED) {
      const res = await maintenanceOn({ message: r.message, retryAfterSeconds: 60 });
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(res.status, r.what).toBe(400);
      expect(body.error.code, r.what).toBe('E_BAD_REQUEST');
      expect(body.error.message, r.what).toContain(`${r.character} (`);
      expect(body.error.message, r.what).toContain(`at character ${r.position}:`);
      expect(body.error.message, r.what).toContain('nothing was changed');
      // Never echoed: the answer itself is safe to print.
      expect(body.error.message, r.what).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u);
    }
    // NUL cannot be on a command line: it comes by the API alone.
    const nul = await maintenanceOn({ message: 'a\u0000b' });
    expect([nul.status, ((await nul.json()) as { error: { message: string } }).error.message]).toEqual([400, expect.stringContaining('U+0000 (NULL) at character 2')]);
    const long = await maintenanceOn({ message: 'x'.repeat(1001) });
    expect([long.status, ((await long.json()) as { error: { code: string } }).error.code]).toEqual([400, 'E_BAD_REQUEST']);

    // Maintenance stays as it was: the same record, the same table at the router, the same answer.
    expect((await status()).traffic).toEqual(before);
    expect(routesJson()).toBe(table);
    const json = await get('application/json');
    expect([json.status, JSON.parse(json.text)]).toEqual([503, { error: 'maintenance', message: INJECTION, retryAfterSeconds: 300 }]);
  });

  it('shows the refusal on the command line, with and without --json', async () => {
    const [human, asJson] = await Promise.all([
      cli('maintenance', 'on', 'production', '--message', 'Back soon\u202e1 ta'),
      cli('--json', 'maintenance', 'on', 'production', '--message', 'two\nlines'),
    ]);
    expect(human.code).not.toBe(0);
    expect(human.stderr).toContain('[E_BAD_REQUEST]');
    expect(human.stderr).toContain('U+202E (RIGHT-TO-LEFT OVERRIDE) at character 10');
    expect(human.stderr).not.toContain('\u202e');
    expect(asJson.code).not.toBe(0);
    expect(JSON.parse(asJson.stdout).error).toMatchObject({ code: 'E_BAD_REQUEST', message: expect.stringContaining('U+000A (LINE FEED) at character 4') });
    expect((await status()).traffic?.maintenance?.message).toBe(INJECTION);
  });

  it('refuses a bad message when maintenance is off, leaving it off', async () => {
    const off = await cli('maintenance', 'off', 'production');
    expect(off.code, off.stdout + off.stderr).toBe(0);
    const res = await maintenanceOn({ message: 'x\u2067y' });
    expect(res.status).toBe(400);
    expect((await status()).traffic?.maintenance).toBeNull();
    expect((await get('application/json')).status).toBe(200);
  });

  it("prints a message stored before the check as text in a gate command's answer", async () => {
    const on = await cli('maintenance', 'on', 'production', '--message', 'back soon');
    expect(on.code, on.stdout + on.stderr).toBe(0);
    // As an older slipway stored it: escapes and all.
    const db = new Database(join(dataDir, 'state.db'));
    try {
      const key = 'maintenance:shop/production';
      const row = JSON.parse((db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string }).value) as Record<string, unknown>;
      db.prepare('UPDATE meta SET value = ? WHERE key = ?').run(JSON.stringify({ ...row, message: '\x1b]0;owned\x07\x1b[2Jback soon\rspoof' }), key);
    } finally {
      db.close();
    }
    const paused = await cli('pause-traffic', 'production', '--max', '100ms');
    expect(paused.code, paused.stdout + paused.stderr).toBe(0);
    expect(paused.stdout).toContain('"\\x1b]0;owned\\x07\\x1b[2Jback soon\\x0dspoof"');
    expect(paused.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
  });
});
