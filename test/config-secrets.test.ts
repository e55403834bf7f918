// Config and secrets end to end: a real server (with a fake Vault beside it),
// router, instances, log relays and the real CLI. Secrets are set through stdin,
// reach only their own environment's instances, appear as *** in logs (on disk
// too) and answers, and nowhere in the data directory in plain text.

import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTraffic } from '../src/cli/traffic.ts';
import type { ConfigListJson, DeployPlanJson, ParityJson, SecretListJson } from '../src/api/views.ts';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { ApiClient } from '../src/cli/api-client.ts';
import { SlipwayError } from '../src/core/errors.ts';
import { FakeVault } from './support/fake-vault.ts';
import { allowInPolicy } from './support/admin-policy.ts';
import {
  adminToken, apiFetch,
  BIN, freePort, getJson, isPidAlive, liveInstanceRows, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService,
  type ServerProcess, type ServiceOptions,
} from './support/harness.ts';

// Values that cannot occur by chance, so a grep for them means a leak.
const tag = randomBytes(4).toString('hex');
const PROD_DB_PASSWORD = `prod-db-pw-${tag}-Xq7`;
const PROD_DB_PASSWORD_2 = `prod-db-pw-rotated-${tag}-Zr9`;
const VAULT_API_TOKEN = `vault-api-token-${tag}-Lm3`;
const SHARED_KEY = `shared-key-${tag}-Pw2`;
const STAGING_OTHER = `staging-other-${tag}-Aa1`;
const PROD_OTHER = `prod-other-${tag}-Bb2`;
const PROD_MODE = `prod-mode-secret-${tag}-Cc3`;
const ALL_SECRETS: string[] = [PROD_DB_PASSWORD, PROD_DB_PASSWORD_2, VAULT_API_TOKEN, SHARED_KEY, STAGING_OTHER, PROD_OTHER, PROD_MODE];

/** Every file under a directory, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

function environOf(pid: number): Record<string, string> {
  return Object.fromEntries(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

describe('config and secrets per environment', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let service: ServiceOptions;
  let vault: FakeVault;
  let serverEnv: NodeJS.ProcessEnv;
  let prodUrl: string;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const cliIn = (input: string, ...args: string[]) => runCli(args, { cwd: app, dataDir, input });
  const api = <T>(path: string) => getJson<T>(`${server.url}${path}`);
  const instancePids = (env: string) => liveInstanceRows(dataDir).filter((i) => i.env === `hello/${env}` && i.state === 'ready').map((i) => i.pid!);

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    vault = await new FakeVault({ tokens: ['s.slipway-test'] }).start();
    vault.put('secret', 'hello/api', { token: VAULT_API_TOKEN });
    const [staging, production] = [await freePort(), await freePort()];
    prodUrl = `http://127.0.0.1:${production}/`;
    const printed = 'GREETING,DB_PASSWORD,API_TOKEN,SHARED_KEY';
    service = {
      envs: {
        staging: { instances: 2, port: staging, config: { GREETING: 'hi from staging', PRINT_ENV: printed, MODE: 'plain-in-staging' } },
        production: {
          instances: 2, port: production, config: { PRINT_ENV: printed, LOG_EVERY_REQUEST: '1' },
          extraYaml: 'secrets:\n  API_TOKEN: { vault: { path: hello/api, key: token } }',
        },
      },
    };
    writeService(app, service);
    serverEnv = { ...process.env, VAULT_ADDR: vault.url, VAULT_TOKEN: 's.slipway-test' };
    server = await startServerProcess(dataDir, 'server.log', serverEnv);
    // The Vault path hello/api is outside production's default scope (production/**).
    await allowInPolicy({ cwd: app, dataDir, yaml: "environments:\n  production:\n    secrets:\n      vault: ['hello/**']\n" });
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
    await vault?.close();
  });

  it('gives each environment its own config and secrets as environment variables, and staging none of production\'s', async () => {
    // Set before the first deploy: the environments are in slipway.yaml here. The
    // environments' CLI calls run side by side (each CLI process takes seconds to start);
    // production's two secrets one after the other, as its config versions follow.
    const sets = await Promise.all([
      (async () => [await cliIn(`${PROD_DB_PASSWORD}\n`, 'secret', 'set', 'production', 'DB_PASSWORD'), await cliIn(`${SHARED_KEY}\n`, 'secret', 'set', 'production', 'SHARED_KEY')])(),
      cliIn(`${SHARED_KEY}\n`, 'secret', 'set', 'staging', 'SHARED_KEY'),
    ]);
    for (const r of sets.flat()) {
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/recorded; it reaches the instances with the next deploy/);
    }
    for (const r of await Promise.all([cli('deploy', 'staging'), cli('deploy', 'production')])) {
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
    const prodPids = instancePids('production');
    const stagingPids = instancePids('staging');
    expect(prodPids).toHaveLength(2);
    expect(stagingPids).toHaveLength(2);
    for (const pid of prodPids) {
      expect(environOf(pid)).toMatchObject({ DB_PASSWORD: PROD_DB_PASSWORD, API_TOKEN: VAULT_API_TOKEN, SHARED_KEY, SLIPWAY_ENV: 'production' });
    }
    for (const pid of stagingPids) {
      const env = environOf(pid);
      expect(env).toMatchObject({ GREETING: 'hi from staging', SHARED_KEY, SLIPWAY_ENV: 'staging' });
      expect(env.DB_PASSWORD).toBeUndefined();
      expect(env.API_TOKEN).toBeUndefined();
      const whole = readFileSync(`/proc/${pid}/environ`, 'utf8');
      for (const v of [PROD_DB_PASSWORD, VAULT_API_TOKEN]) expect(whole).not.toContain(v);
    }
    expect(await getJson<{ greeting: string }>(`http://${(await api<EnvironmentStatus>('/api/environments/staging')).listen}/`)).toMatchObject({ greeting: 'hi from staging' });
    // Vault was read at the pinned version, with the server's token.
    expect(vault.requests.some((r) => r.url === '/v1/secret/data/hello/api?version=1' && r.token === 's.slipway-test')).toBe(true);
  });

  it('shows a secret the service prints as *** in `slipway logs`, and in every answer', async () => {
    // Four readers at once. Every instance logs its health checks (five a second), so
    // the line the service printed at its start is beyond the default 100 records
    // within seconds on a loaded machine: ask for more.
    const [r, s, configList, secretList] = await Promise.all([cli('logs', 'production', '-n', '2000'), cli('logs', 'staging', '-n', '2000'), cli('--json', 'config', 'list', 'production'), cli('secret', 'list', 'production')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/"DB_PASSWORD":"\*\*\*","API_TOKEN":"\*\*\*","SHARED_KEY":"\*\*\*"/);
    expect(s.stdout).toMatch(/"GREETING":"hi from staging","DB_PASSWORD":null,"API_TOKEN":null,"SHARED_KEY":"\*\*\*"/);
    const answers = [r.stdout, s.stdout];
    for (const path of ['/api/environments', '/api/environments/production/config', '/api/environments/production/secrets', '/api/environments/production/releases', '/api/environments/production/config/versions']) {
      answers.push(await (await apiFetch(`${server.url}${path}`)).text());
    }
    expect(configList.code, configList.stderr).toBe(0);
    expect(secretList.code, secretList.stderr).toBe(0);
    answers.push(configList.stdout, secretList.stdout);
    for (const text of answers) for (const v of ALL_SECRETS) expect(text).not.toContain(v);
    const list = await api<ConfigListJson>('/api/environments/production/config');
    expect(list.entries.filter((e) => e.kind === 'secret').map((e) => [e.key, (e as { reference: string }).reference])).toEqual([
      ['API_TOKEN', 'vault secret/hello/api#token'], ['DB_PASSWORD', 'store v1'], ['SHARED_KEY', 'store v1'],
    ]);
    const secrets = await api<SecretListJson>('/api/environments/production/secrets');
    expect(secrets.secrets.map((x) => `${x.name}:${x.provider}:${x.version}:${x.inStable}`)).toEqual(['API_TOKEN:vault:null:vault v1', 'DB_PASSWORD:store:1:store v1', 'SHARED_KEY:store:1:store v1']);
    expect(secrets.secrets.find((x) => x.name === 'DB_PASSWORD')?.setBy).toMatch(/\S/);
  });

  it('rolls a config change out as a new release of the same artefact, with 0 failed requests', async () => {
    const before = await api<EnvironmentStatus>('/api/environments/production');
    const traffic = startTraffic({ url: prodUrl, concurrency: 6, maxDurationMs: 60_000, pauseMs: 2 });
    await new Promise((r) => setTimeout(r, 300));
    const r = await cli('config', 'set', 'production', 'GREETING=bonjour from production');
    await new Promise((r2) => setTimeout(r2, 300));
    const s = await traffic.stop();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/production: config v3 \(set GREETING\); release production#2 of the same artefact/);
    expect(r.stdout).toMatch(/rollout succeeded: hello\/production#2 is now stable/);
    expect(s.sent).toBeGreaterThan(300);
    expect(s.failed, JSON.stringify({ errors: s.errors, byStatus: s.byStatus })).toBe(0);
    const after = await api<EnvironmentStatus>('/api/environments/production');
    expect(after.stable).toMatchObject({ number: 2, artefactDigest: before.stable!.artefactDigest, configVersion: 3 });
    expect(after.stable!.configHash).not.toBe(before.stable!.configHash);
    expect(after.lastRollout).toMatchObject({ kind: 'config', phase: 'succeeded' });
    expect(await getJson<{ greeting: string }>(prodUrl)).toMatchObject({ greeting: 'bonjour from production' });
    const unchanged = await cli('config', 'set', 'production', 'GREETING=bonjour from production');
    expect(unchanged.stdout).toMatch(/changes nothing/);
    expect((await api<{ releases: unknown[] }>('/api/environments/production/releases')).releases).toHaveLength(2);
  });

  it('rotating a secret makes a new config version and a rolling restart, with 0 failed requests', async () => {
    const traffic = startTraffic({ url: prodUrl, concurrency: 6, maxDurationMs: 60_000, pauseMs: 2 });
    const r = await cliIn(PROD_DB_PASSWORD_2, 'secret', 'set', 'production', 'DB_PASSWORD');
    const s = await traffic.stop();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/config v4 \(secret set DB_PASSWORD\); release production#3/);
    expect(s.failed, JSON.stringify(s.errors)).toBe(0);
    for (const pid of instancePids('production')) expect(environOf(pid).DB_PASSWORD).toBe(PROD_DB_PASSWORD_2);
    const list = await api<SecretListJson>('/api/environments/production/secrets');
    expect(list.secrets.find((x) => x.name === 'DB_PASSWORD')).toMatchObject({ version: 2, versions: 2, inStable: 'store v2' });
  });

  it('keeps instances and their log relays running through a server kill -9, still masking what they log', async () => {
    // The relays of the live instances (those of instances the rolling restart just
    // retired may still be flushing their last lines, and exit on their own).
    const liveIds = liveInstanceRows(dataDir).filter((i) => i.env === 'hello/production' && i.state === 'ready').map((i) => i.id);
    const relays = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        const environ = readFileSync(`/proc/${p}/environ`, 'utf8').split('\0');
        return liveIds.some((id) => environ.includes(`SLIPWAY_LOG_RELAY_FOR=${id}`));
      } catch {
        return false;
      }
    }).map(Number);
    const relaysBefore = relays();
    expect(relaysBefore).toHaveLength(liveIds.length);
    expect(relaysBefore.length).toBeGreaterThanOrEqual(2);
    const pids = instancePids('production');
    await server.kill9();
    // The example service logs each request's path: put a secret in it while no server runs.
    const answers = await Promise.all(Array.from({ length: 20 }, () => fetch(`${prodUrl}?token=${PROD_DB_PASSWORD_2}`).then((x) => x.status)));
    expect(answers.every((st) => st === 200)).toBe(true);
    expect(pids.every(isPidAlive)).toBe(true);
    expect(relays()).toEqual(relaysBefore);
    const ids = liveInstanceRows(dataDir).filter((i) => i.env === 'hello/production').map((i) => i.id);
    const logOf = (id: string) => readFileSync(join(dataDir, 'logs', 'hello.production', `${id}.log`), 'utf8');
    await waitFor('the requests to be logged', () => ids.every((id) => logOf(id).includes('"path":"/?token=***"')), 5000);
    for (const id of ids) expect(logOf(id)).not.toContain(PROD_DB_PASSWORD_2);
    server = await startServerProcess(dataDir, 'server2.log', serverEnv);
    const r = await cli('logs', 'production', '--instance', ids[0]!, '-n', '50');
    expect(r.stdout).toContain('"path":"/?token=***"');
    expect(r.stdout).not.toContain(PROD_DB_PASSWORD_2);
  });

  it('reports parity between two crafted environments: same, different, one side only, secrets compared by keyed hash', async () => {
    // staging: GREETING, MODE (plain), PRINT_ENV, SHARED_KEY, OTHER (secret), ONLY_STAGING (cli)
    // production: GREETING (cli), LOG_EVERY_REQUEST, PRINT_ENV, SHARED_KEY, OTHER, MODE (secrets), API_TOKEN (vault), DB_PASSWORD
    // Staging's changes beside production's; each environment's in order.
    const recorded = await Promise.all([
      (async () => [await cliIn(STAGING_OTHER, 'secret', 'set', 'staging', 'OTHER', '--no-rollout'), await cli('config', 'set', 'staging', 'ONLY_STAGING=yes', '--no-rollout')])(),
      (async () => [await cliIn(PROD_OTHER, 'secret', 'set', 'production', 'OTHER', '--no-rollout'), await cliIn(PROD_MODE, 'secret', 'set', 'production', 'MODE', '--no-rollout')])(),
    ]);
    for (const x of recorded.flat()) expect(x.code, x.stderr).toBe(0);
    const [r, human] = await Promise.all([cli('--json', 'config', 'diff', 'staging', 'production'), cli('config', 'diff', 'staging', 'production')]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as ParityJson;
    expect(report.rows).toEqual([
      { key: 'API_TOKEN', status: 'only-right', kind: 'secret', left: null, right: 'secret (vault secret/hello/api#token)' },
      { key: 'DB_PASSWORD', status: 'only-right', kind: 'secret', left: null, right: 'secret (store v2)' },
      { key: 'GREETING', status: 'differs', kind: 'plain', left: 'hi from staging', right: 'bonjour from production' },
      { key: 'LOG_EVERY_REQUEST', status: 'only-right', kind: 'plain', left: null, right: '1' },
      { key: 'MODE', status: 'differs', kind: 'mixed', left: 'plain-in-staging', right: 'secret (store v1)' },
      { key: 'ONLY_STAGING', status: 'only-left', kind: 'plain', left: 'yes', right: null },
      { key: 'OTHER', status: 'differs', kind: 'secret', left: 'secret (store v1)', right: 'secret (store v1)' },
      { key: 'PRINT_ENV', status: 'same', kind: 'plain', left: 'GREETING,DB_PASSWORD,API_TOKEN,SHARED_KEY', right: 'GREETING,DB_PASSWORD,API_TOKEN,SHARED_KEY' },
      { key: 'SHARED_KEY', status: 'same', kind: 'secret', left: 'secret (store v1)', right: 'secret (store v1)' },
    ]);
    expect(human.stdout).toMatch(/7 of 9 keys differ or exist on one side only/);
    for (const v of ALL_SECRETS) expect(human.stdout + r.stdout).not.toContain(v);
    // Recorded without a rollout: the stable release does not have them yet, and says so.
    const list = await api<ConfigListJson>('/api/environments/production/config');
    expect(list.pending).toBe(true);
  });

  it('plan shows what a deploy would change without doing it', async () => {
    writeService(app, {
      ...service, version: '2.0.0',
      envs: { ...service.envs, production: { ...service.envs.production!, instances: 3, config: { ...service.envs.production!.config, FEATURE_X: 'on' } } },
    });
    const releasesBefore = (await api<{ releases: unknown[] }>('/api/environments/production/releases')).releases.length;
    const [r, human] = await Promise.all([cli('--json', 'plan', 'production'), cli('plan', 'production')]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout) as DeployPlanJson;
    expect(plan).toMatchObject({ env: 'hello/production', unchanged: false, stable: 3, instances: { from: 2, to: 3 }, configVersion: { from: 4, to: 6 }, settings: [] });
    expect(plan.artefact.changed).toBe(true);
    expect(plan.strategy.from).toBe(plan.strategy.to);
    expect(plan.config).toEqual([
      { key: 'FEATURE_X', kind: 'plain', change: 'added', from: null, to: 'on' },
      { key: 'MODE', kind: 'secret', change: 'added', from: null, to: 'store v1' },
      { key: 'OTHER', kind: 'secret', change: 'added', from: null, to: 'store v1' },
    ]);
    expect(plan.steps[0]).toMatch(/the new release to 1 instance/);
    expect(human.stdout).toMatch(/instances\s+2 → 3/);
    expect(human.stdout).toMatch(/\+ FEATURE_X = on/);
    expect((await api<{ releases: unknown[] }>('/api/environments/production/releases')).releases).toHaveLength(releasesBefore);
    writeService(app, service);
  });

  it('refuses bad input precisely, without echoing a value, and changes nothing', async () => {
    const versions = async () => JSON.stringify(await api('/api/environments/production/config/versions'));
    const before = await versions();
    // Refused by the CLI itself, and two refused by the server (a secret and a config
    // route), to show the CLI passes the server's refusal on as it is.
    const cases: [string[], string | null, RegExp][] = [
      [['secret', 'set', 'production', `DB_PASSWORD=${PROD_DB_PASSWORD}`], null, /secret values are never taken from the command line/],
      [['secret', 'set', 'production', 'DB_PASSWORD', 'extra'], null, /too many arguments/],
      [['secret', 'set', 'production', 'DB_PASSWORD'], '', /no value on stdin for DB_PASSWORD/],
      [['secret', 'set', 'production', 'GREETING'], 'long-enough-value', /GREETING is a plain config value of hello\/production/],
      [['config', 'set', 'production', 'NOEQUALS'], null, /"NOEQUALS" is not KEY=VALUE/],
      [['config', 'set', 'production', '1BAD=x'], null, /"1BAD" cannot be a variable name/],
      [['config', 'set', 'prodution', 'A=b'], null, /E_ENV_UNKNOWN.*nothing has been deployed to "hello\/prodution"/],
    ];
    // The other refusals are the server's: asked as the CLI asks them (its ApiClient,
    // the bodies it sends), from this process, since a CLI process costs seconds. The
    // whole refusal (code, message and details) must hold no value.
    const client = new ApiClient(server.url, adminToken(dataDir));
    const declared = { rollout: true, allowNew: true };
    const serverCases: [string, (c: ApiClient) => Promise<unknown>, RegExp][] = [
      ['secret set DB_PASSWORD (zq)', (c) => c.setSecret('production', 'DB_PASSWORD', { value: 'zq', ...declared }), /E_BAD_REQUEST.*shorter than 4 characters/],
      ['secret set PORT', (c) => c.setSecret('production', 'PORT', { value: 'long-enough-value', ...declared }), /cannot set secret PORT: PORT is set by slipway/],
      ['secret rm NOPE', (c) => c.removeSecret('production', 'NOPE', { rollout: true }), /E_NOT_FOUND.*hello\/production has no secret NOPE/],
      ['secret rm API_TOKEN', (c) => c.removeSecret('production', 'API_TOKEN', { rollout: true }), /comes from slipway.yaml \(vault secret\/hello\/api#token\); remove it there/],
      ['config set DB_PASSWORD=x', (c) => c.setConfig('production', { values: { DB_PASSWORD: 'x' }, ...declared }), /DB_PASSWORD is a secret of hello\/production/],
      ['config set SLIPWAY_ENV=x', (c) => c.setConfig('production', { values: { SLIPWAY_ENV: 'x' }, ...declared }), /names starting with SLIPWAY_ are slipway's own/],
      ['config unset PRINT_ENV', (c) => c.unsetConfig('production', { keys: ['PRINT_ENV'], rollout: true, allowNew: false }), /PRINT_ENV comes from slipway.yaml for hello\/production; remove it there/],
      ['config diff staging nowhere', (c) => c.configDiff('staging', 'nowhere'), /E_ENV_UNKNOWN/],
    ];
    // Four CLI processes at a time: every one of them is refused.
    for (let i = 0; i < cases.length; i += 4) {
      const batch = cases.slice(i, i + 4);
      const results = await Promise.all(batch.map(([args, input]) => runCli(args, { cwd: app, dataDir, ...(input !== null ? { input } : {}) })));
      results.forEach((r, j) => {
        const [args, , expected] = batch[j]!;
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.stderr, args.join(' ')).toMatch(expected);
        for (const v of [...ALL_SECRETS, 'zq', 'long-enough-value']) expect(r.stderr + r.stdout, args.join(' ')).not.toContain(v);
      });
    }
    const refusals = await Promise.all(serverCases.map(([, ask]) => ask(client).then((answer) => ({ answer }), (e: unknown) => ({ error: e }))));
    refusals.forEach((r, j) => {
      const [what, , expected] = serverCases[j]!;
      expect('error' in r, `${what} was not refused: ${JSON.stringify(r)}`).toBe(true);
      const e = (r as { error: unknown }).error;
      expect(e, what).toBeInstanceOf(SlipwayError);
      const { code, message, details } = e as SlipwayError;
      expect(`[${code}] ${message}`, what).toMatch(expected);
      for (const v of [...ALL_SECRETS, 'zq', 'long-enough-value']) expect(JSON.stringify({ code, message, details }), what).not.toContain(v);
    });
    // A body that is not JSON is not quoted back (JSON.parse's message would).
    const raw = await apiFetch(`${server.url}/api/environments/production/secrets/DB_PASSWORD`, {
      method: 'PUT', headers: { 'content-type': 'application/json' }, body: `{"value": ${PROD_DB_PASSWORD}}`,
    });
    expect(raw.status).toBe(400);
    expect(await raw.text()).not.toContain(PROD_DB_PASSWORD);
    const extra = await apiFetch(`${server.url}/api/environments/production/config`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ values: { A: 'b' }, rolout: false }),
    });
    expect(extra.status).toBe(400);
    expect(await versions()).toBe(before);
  }, 180_000);

  it('at a terminal, secret set asks twice and echoes nothing', async () => {
    // `script` (util-linux) gives the CLI a pseudo-terminal; the answers are typed only once each question shows.
    const typed = `typed-at-a-terminal-${tag}`;
    const command = `${process.execPath} ${BIN} --data-dir ${dataDir} secret set staging TYPED --no-rollout`;
    const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { cwd: app, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    const answered = new Set<string>();
    child.stdout.on('data', (d: Buffer) => {
      screen += d.toString();
      for (const q of ['(not shown): ', 'again, to be sure: ']) {
        if (screen.endsWith(q) && !answered.has(q)) {
          answered.add(q);
          child.stdin.write(`${typed}\r`);
        }
      }
    });
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code, screen).toBe(0);
    expect(screen).toMatch(/value of TYPED for staging \(not shown\): \r?\nagain, to be sure: /);
    expect(screen).toMatch(/config v\d+ \(secret set TYPED\) recorded/);
    expect(screen).not.toContain(typed);
    ALL_SECRETS.push(typed);
  });

  it('validate warns about plain values that look like secrets, and --strict fails on them', async () => {
    writeService(app, { ...service, envs: { ...service.envs, staging: { ...service.envs.staging!, config: { ...service.envs.staging!.config, STRIPE_API_KEY: 'sk_live_4eC39HqLyjWDarjtT1zdp7dc' } } } });
    const [ok, strict] = await Promise.all([cli('validate'), cli('validate', '--strict')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/warning slipway\.yaml:\d+:\d+ environments\.staging\.config\.STRIPE_API_KEY: looks like a secret .*slipway secret set staging STRIPE_API_KEY/);
    expect(ok.stdout).not.toContain('sk_live_4eC39HqLyjWDarjtT1zdp7dc');
    expect(strict.code).toBe(1);
    expect(strict.stdout).toMatch(/refused slipway\.yaml: 1 warning\(s\), and --strict/);
    writeService(app, service);
  });

  it('leaves no secret value in plain text anywhere in the data directory or the server logs', async () => {
    const files = [...filesUnder(dataDir), join(work, 'server.log'), join(work, 'server2.log')];
    expect(files.some((f) => f.endsWith('state.db'))).toBe(true);
    expect(files.some((f) => f.includes('/logs/hello.production/'))).toBe(true);
    expect(files.some((f) => f.includes('/artefacts/'))).toBe(true);
    expect(files.some((f) => f.includes('/releases/'))).toBe(true);
    const leaks: string[] = [];
    for (const f of files) {
      const bytes = readFileSync(f);
      for (const v of ALL_SECRETS) if (bytes.includes(Buffer.from(v))) leaks.push(`${f}: ${v}`);
    }
    expect(leaks).toEqual([]);
  });

  it('rollback runs the earlier release with exactly the secrets it was made with', async () => {
    const r = await cli('rollback', 'production');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const pid of instancePids('production')) expect(environOf(pid).DB_PASSWORD).toBe(PROD_DB_PASSWORD);
    // The newest config version is untouched: the next change or deploy builds on it.
    const list = await api<ConfigListJson>('/api/environments/production/config');
    expect(list).toMatchObject({ version: { number: 6 }, stable: { number: 2, configVersion: 3 }, pending: true });
  });

  it('refuses to start with a wrong, malformed or missing master key (E_SECRET_KEY), never running with empty secrets', async () => {
    // Four refused starts and one that starts. The data directory's lock is taken before
    // the key is read, so the refused four run at once, each on its own copy of the
    // stopped server's data directory (its state, with the stored secrets, and its keys;
    // the key is read before the router or any instance is touched).
    await server.stop();
    const copyOf = (n: number) => {
      const copy = join(work, `.slipway-key-${n}`);
      cpSync(dataDir, copy, { recursive: true, filter: (src) => !/\/(logs|releases|router|artefacts|app-data)$/.test(src) });
      return copy;
    };
    const refusedStart = (dir: string, env: NodeJS.ProcessEnv) => startServerProcess(dir, `refused${basename(dir)}.log`, env).then(() => null, (err: Error) => err);
    const [wrongKey, notAKey, wrongFile, noFile] = [copyOf(1), copyOf(2), copyOf(3), copyOf(4)];
    writeFileSync(join(wrongFile, 'keys', 'master.key'), randomBytes(32).toString('hex'));
    rmSync(join(noFile, 'keys', 'master.key'));
    const refused = await Promise.all([
      refusedStart(wrongKey, { ...serverEnv, SLIPWAY_MASTER_KEY: randomBytes(32).toString('base64') }),
      refusedStart(notAKey, { ...serverEnv, SLIPWAY_MASTER_KEY: 'not-a-key' }),
      refusedStart(wrongFile, serverEnv),
      refusedStart(noFile, serverEnv),
    ]);
    expect(refused[0]?.message).toMatch(/E_SECRET_KEY.*not the one the stored secrets were encrypted with/);
    expect(refused[1]?.message).toMatch(/E_SECRET_KEY.*SLIPWAY_MASTER_KEY does not hold a master key/);
    expect(refused[2]?.message).toMatch(/E_SECRET_KEY.*from .*master\.key .*is not the one/);
    expect(refused[3]?.message).toMatch(/E_SECRET_KEY.*holds secrets encrypted with master key [0-9a-f]{16}, but there is no key/);
    expect(existsSync(join(noFile, 'keys', 'master.key'))).toBe(false); // not silently replaced by a new key
    // With the right key it starts, and the instances never stopped.
    server = await startServerProcess(dataDir, 'server3.log', serverEnv);
    expect((await api<EnvironmentStatus>('/api/environments/production')).instances.map((i) => i.state)).toEqual(['ready', 'ready']);
  }, 150_000);

  it('refuses a config change while another rollout holds the environment, recording nothing', async () => {
    // New instances that take 4 s to listen keep the rollout going while the second change comes.
    const first = await cli('config', 'set', 'production', 'START_DELAY_MS=4000', '--detach');
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const versions = JSON.stringify(await api('/api/environments/production/config/versions'));
    const second = await cliIn('another-long-value', 'secret', 'set', 'production', 'DB_PASSWORD');
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/E_ENV_LOCKED.*hello\/production is busy: rollout #\d+ \(config of hello\/production#\d+/);
    expect(JSON.stringify(await api('/api/environments/production/config/versions'))).toBe(versions);
    await waitFor('the config rollout to finish', async () => (await api<EnvironmentStatus>('/api/environments/production')).rollout === null, 30_000);
  });
});
