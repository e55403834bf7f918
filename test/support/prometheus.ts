// A real Prometheus (Debian's /usr/bin/prometheus) on 127.0.0.1, scraping a tiny
// exporter whose text the test decides, for analysis checks that query it.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { freePort, getJson, scratchDir, waitFor } from './harness.ts';

export const PROMETHEUS = '/usr/bin/prometheus';

export interface RunningPrometheus {
  url: string;
  stop(): Promise<void>;
}

/**
 * null (with a loud warning) when Prometheus is not installed outside CI; in CI its
 * absence is an error, since .ci/run installs it. Resolves once `ready` has been scraped.
 */
export async function startPrometheus(o: { metrics: () => string; ready: string }): Promise<RunningPrometheus | null> {
  if (!existsSync(PROMETHEUS)) {
    if (process.env.CI) throw new Error(`${PROMETHEUS} is missing: .ci/run installs the Debian package prometheus`);
    console.warn(`\n*** SKIPPING a Prometheus test: ${PROMETHEUS} not installed (apt-get install prometheus) ***\n`);
    return null;
  }
  const exporterPort = await freePort();
  const exporter: Server = createServer((_req, res) => res.end(o.metrics()));
  await new Promise<void>((r) => exporter.listen(exporterPort, '127.0.0.1', r));
  const promPort = await freePort();
  const url = `http://127.0.0.1:${promPort}`;
  const dir = scratchDir('slipway-prom-');
  writeFileSync(join(dir, 'prometheus.yml'), `global: { scrape_interval: 1s }\nscrape_configs:\n  - job_name: hello\n    static_configs: [{ targets: ['127.0.0.1:${exporterPort}'] }]\n`);
  const prometheus: ChildProcess = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
  const stop = async () => {
    prometheus.kill('SIGKILL');
    await new Promise((r) => exporter.close(r));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor('Prometheus to have scraped the exporter', async () => {
      try {
        const a = await getJson<{ data?: { result?: unknown[] } }>(`${url}/api/v1/query?query=${encodeURIComponent(o.ready)}`);
        return (a.data?.result?.length ?? 0) > 0;
      } catch {
        return false;
      }
    }, 60_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, stop };
}
