// How long the pipeline's lookups of one run take on a server with many runs: the
// run of an artefact (a release's checklist), the unfailed run of a commit (a push
// webhook delivered again) and the runs waiting for approval (the dashboard's
// overview), each as the code did it before (a scan of the newest 500, 200 or 50
// runs in JavaScript, which missed any older run) and as one SQL query now.
//
//   node --import tsx bench/pipeline-lookups-bench.ts [--runs 10000] [--rounds 200]
//
// The runs are recorded through the real store into a real state.db (WAL, as the
// server opens it) in a temporary directory; each run carries a config of the size
// a real one has. The row asked for is the oldest, so each query's answer is the
// exact one. Prints the median and worst time per lookup, without and with the
// indexes a migration would add (created here on the same database).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfigText } from '../src/config/index.ts';
import { StateStore } from '../src/store/state-store.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '200' } } });
const RUNS = Number(values.runs);
const ROUNDS = Number(values.rounds);

const YAML = `service: hello
run: { command: node server.js }
build: { command: node --check server.js }
test: { command: node --test }
pipeline: { health_window: 2s }
environments:
  staging: { instances: 1, listen: 127.0.0.1:18080, acceptance: { command: node acceptance.js } }
  production:
    instances: 2
    listen: 127.0.0.1:18081
    approval: { count: 1, distinct_from_starter: true }
    strategy: { type: canary, steps: [{ weight: 10 }, { pause: 5m }, { weight: 50 }, { pause: 5m }] }
`;

const digestOf = (i: number) => `sha256:${String(i).padStart(64, '0')}`;
const commitOf = (i: number) => String(i).padStart(40, '0');

function record(store: StateStore): void {
  const configText = JSON.stringify({ subdir: '', config: parseConfigText(YAML, 'slipway.yaml') });
  store.atomically(() => {
    for (let i = 1; i <= RUNS; i++) {
      // Run 1 waits for approval; every other one has finished.
      const waiting = i === 1;
      store.pipeline.insertRun({
        service: 'hello', repo: '/nowhere', ref: 'main', commit: commitOf(i), version: `1.0.${i}`,
        status: waiting ? 'waiting' : i % 3 === 0 ? 'failed' : 'succeeded', stage: waiting ? 'approval' : 'watch', reason: null,
        startedBy: 'alice', createdAt: i, updatedAt: i, finishedAt: waiting ? null : i, configText, artefactDigest: digestOf(i), attempt: 1,
      });
    }
  });
}

function time(fn: () => unknown): { medianMs: number; worstMs: number } {
  const ms: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t = process.hrtime.bigint();
    fn();
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return { medianMs: ms[Math.floor(ms.length / 2)]!, worstMs: ms.at(-1)! };
}

const dir = mkdtempSync(join(tmpdir(), 'slipway-lookups-bench-'));
try {
  const store = new StateStore(join(dir, 'state.db'));
  record(store);
  const { pipeline } = store;
  // What the old code did, expression for expression (the webhook's list parsed each run's config for its view).
  const before = {
    'run of an artefact (newest 500)': () => pipeline.listRuns(500).find((r) => r.artefactDigest === digestOf(1)) ?? null,
    'unfailed run of a commit (newest 200)': () => pipeline.listRuns(200).map((r) => ({ ...r, config: JSON.parse(r.configText) as unknown })).find((r) => r.commit === commitOf(1) && r.status !== 'failed') ?? null,
    'waiting for approval (newest 50)': () => pipeline.listRuns(50).filter((r) => r.status === 'waiting' && r.stage === 'approval'),
  };
  const now = {
    'run of an artefact (newest 500)': () => pipeline.newestRunOfArtefact(digestOf(1)),
    'unfailed run of a commit (newest 200)': () => pipeline.newestUnfailedRunOfCommit(commitOf(1)),
    'waiting for approval (newest 50)': () => [pipeline.listRuns(501, null, { status: 'waiting', stage: 'approval' }), pipeline.countRuns({ status: 'waiting', stage: 'approval' })],
  };
  const rows: Record<string, unknown>[] = [];
  for (const [name, fn] of Object.entries(before)) {
    const found = fn();
    rows.push({ lookup: name, how: 'before: scan in JS', finds: Array.isArray(found) ? found.length : found !== null, ...time(fn) });
  }
  // The store's migration 16 made the indexes: without them first, to show what they buy.
  store.db.exec('DROP INDEX pipeline_runs_artefact; DROP INDEX pipeline_runs_commit; DROP INDEX pipeline_runs_status;');
  for (const [name, fn] of Object.entries(now)) {
    const found = fn();
    rows.push({ lookup: name, how: 'now: SQL, no index', finds: Array.isArray(found) ? (found[0] as unknown[]).length : found !== null, ...time(fn) });
  }
  store.db.exec(`
    CREATE INDEX pipeline_runs_artefact ON pipeline_runs(artefact_digest, id);
    CREATE INDEX pipeline_runs_commit ON pipeline_runs(commit_sha, id);
    CREATE INDEX pipeline_runs_status ON pipeline_runs(status, stage, id);
  `);
  for (const [name, fn] of Object.entries(now)) {
    const found = fn();
    rows.push({ lookup: name, how: 'now: SQL, indexed', finds: Array.isArray(found) ? (found[0] as unknown[]).length : found !== null, ...time(fn) });
  }
  console.log(`${RUNS} runs, ${ROUNDS} rounds each; the run asked for is the oldest`);
  console.table(rows.map((r) => ({ ...r, medianMs: Number((r.medianMs as number).toFixed(3)), worstMs: Number((r.worstMs as number).toFixed(3)) })));
  store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
