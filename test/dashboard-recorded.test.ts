// Replay's sample on the dashboard's environment page: what became of the requests the
// router picked for it (kept, dropped and why, every count), in the words of
// `slipway status`. First the page's wording (src/ui/format.js, a plain browser module
// loaded here as it is) against the CLI's over every mix of drops; then Debian's
// Chromium (playwright-core) against a real server and router recording a burst of
// more requests than the sample holds.

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus } from '../src/api/views.ts';
import { formatStatus } from '../src/cli/output.ts';
import { REPO, adminToken, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';
import { CHROMIUM, inSignedInDashboard } from './support/dashboard-page.ts';

interface Format {
  recordedSample(recorded: Record<string, number>): { head: string; drops: { outcome: string; text: string }[] };
  recordedCounts(recorded: Record<string, number>): [string, number][];
}

// A path the type checker does not follow: the module is JavaScript without declarations.
const MODULE = '../src/ui/format.js';
const f = (await import(MODULE)) as Format;
const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
const pageLine = (recorded: Record<string, number>) => {
  const { head, drops } = f.recordedSample(recorded);
  return head + drops.map((d) => d.text).join(', ');
};
/** The `recorded:` line of `slipway status` for an environment with these counts, or null. */
const cliLine = (recorded: Record<string, number>): string | null => {
  const status: EnvironmentStatus = {
    env: 'shop/production', service: 'shop', name: 'production', listen: '127.0.0.1:8080', listenError: null, preview: null,
    stable: null, rollout: null, lastRollout: null, instances: [], weights: { 1: 100 }, cluster: null, recorded,
  };
  const line = plain(formatStatus([status])).split('\n').find((l) => l.startsWith('  recorded: '));
  return line === undefined ? null : line.slice('  recorded: '.length);
};

describe("the dashboard's words for replay's sample", () => {
  const drops = ['dropped_overflow', 'dropped_stopped', 'dropped_write_failed'];

  it('are the CLI\'s, word for word, for every mix of drops', () => {
    for (let mask = 1; mask < 8; mask++) {
      for (const kept of [0, 1, 1840]) {
        const recorded: Record<string, number> = { kept, too_large: 312, not_text: 0, too_slow: 2, queue_full: 0, thread_failed: 0, dropped_overflow: 0, dropped_stopped: 0, dropped_write_failed: 0 };
        drops.forEach((d, i) => {
          if (mask & (1 << i)) recorded[d] = 7 * (i + 1) + mask;
        });
        expect(pageLine(recorded)).toBe(cliLine(recorded));
      }
    }
  });

  it('say none was dropped where the CLI says nothing, and list every count as /metrics names it', () => {
    const recorded = { kept: 40, too_large: 3, not_text: 0, too_slow: 0, queue_full: 0, thread_failed: 0, dropped_overflow: 0, dropped_stopped: 0, dropped_write_failed: 0 };
    expect(cliLine(recorded)).toBeNull();
    expect(pageLine(recorded)).toBe('40 request(s) kept for replay, none dropped since the router started');
    // A router that counts an outcome this page does not know: shown too, after the known ones.
    expect(f.recordedCounts({ dropped_overflow: 1, newer_outcome: 2, kept: 3 })).toEqual([['kept', 3], ['dropped_overflow', 1], ['newer_outcome', 2]]);
  });
});

const SAMPLE = 20;
const BURST = 150;

describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)("the environment page shows replay's sample", { timeout: 180_000 }, () => {
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let port: number;
  let stagingPort: number;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 120_000 });
  const status = (env: string) => getJson<EnvironmentStatus>(`${server.url}/api/environments/${encodeURIComponent(env)}`);
  const sum = (o: Record<string, number> | null | undefined) => Object.values(o ?? {}).reduce((a, b) => a + b, 0);

  beforeAll(async () => {
    const work = scratchDir('slipway-dashboard-recorded-');
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    port = await freePort();
    stagingPort = await freePort();
    writeService(app, {
      envs: {
        staging: { instances: 1, port: stagingPort },
        production: { instances: 1, port, extraYaml: `record: { percent: 100, paths: [/api/*], headers: [accept], sample: ${SAMPLE}, max_bytes: 1mb }` },
      },
    });
    server = await startServerProcess(dataDir);
    for (const env of ['staging', 'production']) {
      const d = await cli('deploy', env);
      expect(d.code, d.stdout + d.stderr).toBe(0);
    }
  }, 120_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  }, 120_000);

  it('in the words of `slipway status`, with every count, only for the environment that records, and fits 420 px', async () => {
    // More recorded requests at once than the sample holds: the keeper drops the older ones (dropped_overflow).
    const pool = new Agent();
    let sent = 0;
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: BURST }, async () => {
        const res = await request(`http://127.0.0.1:${port}/api/item?i=${sent++}`, { dispatcher: pool });
        await res.body.text();
      }));
    }
    await pool.destroy();
    await waitFor('every picked request counted in the status', async () => sum((await status('hello/production')).recorded) === sent, 30_000);
    const recorded = (await status('hello/production')).recorded!;
    expect(recorded['dropped_overflow'], JSON.stringify(recorded)).toBeGreaterThan(0);
    expect((await status('hello/staging')).recorded ?? null).toBeNull();

    const said = plain((await cli('status', 'production')).stdout).split('\n').find((l) => l.startsWith('  recorded: '));
    expect(said).toBe(`  recorded: ${recorded['kept']} request(s) kept for replay, ${recorded['dropped_overflow']} dropped since the router started: ${recorded['dropped_overflow']} for newer ones`);

    const token = adminToken(dataDir)!;
    await inSignedInDashboard({ url: server.url, token, path: `#/env/${encodeURIComponent('hello/production')}` }, async (page) => {
      const line = page.getByTestId('recorded-line');
      await line.waitFor();
      expect(`  recorded: ${await line.textContent()}`).toBe(said);
      const counts = (await page.getByTestId('recorded-counts').textContent()) ?? '';
      for (const [outcome, n] of Object.entries(recorded)) expect(counts).toContain(`${outcome} ${n}`);
      const shots = join(REPO, 'test-output', 'dashboard');
      mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: join(shots, 'environment-recorded.png'), fullPage: true });
      // The counts wrap at 420 px rather than push the page sideways.
      await page.setViewportSize({ width: 420, height: 900 });
      expect(await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth')).toBeLessThanOrEqual(0);

      // Staging records nothing: its page says nothing of a sample.
      await page.evaluate(`location.hash = ${JSON.stringify(`#/env/${encodeURIComponent('hello/staging')}`)}`);
      await page.getByText(`listening on 127.0.0.1:${stagingPort}`).waitFor();
      expect(await page.getByTestId('recorded').count()).toBe(0);
    });
  });
});
