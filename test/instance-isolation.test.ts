// Environments are isolated from the server and from each other (issue 19, C1 and
// L1, and the setsid child that outlived its instance), end to end: a real server
// running as root, and a service deployed to staging that tries to read what a
// staging-only deployer must never see. Each read is refused, while the service
// still serves its own files; a local user gets nothing of the data directory; a
// data directory an older slipway left loose is tightened at start; and a child an
// instance started in a session of its own is gone once the instance is stopped.

import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSTANCE_IDS } from '../src/core/service-config.ts';
import { validateConfigData } from '../src/config/schema.ts';
import {
  freePort, isPidAlive, liveInstanceRows, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService,
  type ServerProcess, type ServiceOptions,
} from './support/harness.ts';

const isRoot = process.getuid?.() === 0;

// A service that reports what it can reach. Every answer is JSON.
const PROBE_SERVICE = `
import http from 'node:http';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const attempt = (fn) => { try { fn(); return 'ok'; } catch (e) { return e.code || String(e); } };
http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const send = (o) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(o)); };
  const paths = url.searchParams.getAll('path');
  switch (url.pathname) {
    case '/healthz': return send({ ok: true });
    case '/whoami': return send({ uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), home: process.env.HOME, tmp: process.env.TMPDIR, pid: process.pid });
    case '/read': return send(Object.fromEntries(paths.map((p) => [p, attempt(() => readFileSync(p))])));
    case '/list': return send(Object.fromEntries(paths.map((p) => [p, attempt(() => readdirSync(p))])));
    case '/write-own': return send({
      home: attempt(() => writeFileSync(join(process.env.HOME, 'probe'), 'x')),
      tmp: attempt(() => writeFileSync(join(process.env.TMPDIR, 'probe'), 'x')),
      release: attempt(() => readFileSync('server.js')),
    });
    case '/setsid': {
      // Not detached: setsid(1) then makes the session itself and execs sleep, keeping the pid.
      const child = spawn('setsid', ['sleep', '600'], { stdio: 'ignore' });
      child.unref();
      return child.once('spawn', () => send({ pid: child.pid }));
    }
    default: res.statusCode = 404; return send({});
  }
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

interface WhoAmI {
  uid: number;
  gid: number;
  groups: number[];
  home: string;
  tmp: string;
  pid: number;
}

describe.skipIf(!isRoot)('instances are isolated from the server and from each other (server as root)', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let service: ServiceOptions;
  let stagingUrl: string;
  let prodUrl: string;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const get = async <T>(base: string, path: string): Promise<T> => (await (await fetch(base + path)).json()) as T;
  const releaseDirOf = (env: string) => {
    // One directory per environment, named by its key: hello.staging.
    const entries = readdirSync(join(dataDir, 'releases', `hello.${env}`)).filter((e) => !e.startsWith('.'));
    return join(dataDir, 'releases', `hello.${env}`, entries[0]!);
  };

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'probe');
    dataDir = join(work, '.slipway');
    mkdirSync(app);
    writeFileSync(join(app, 'server.js'), PROBE_SERVICE);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'probe', version: '1.0.0', type: 'module' }));
    const [sp, pp] = [await freePort(), await freePort()];
    stagingUrl = `http://127.0.0.1:${sp}`;
    prodUrl = `http://127.0.0.1:${pp}`;
    service = { version: '1.0.0', envs: { staging: { instances: 1, port: sp }, production: { instances: 1, port: pp } } };
    writeService(app, service);
    server = await startServerProcess(dataDir);
    for (const env of ['production', 'staging']) {
      const r = await cli('deploy', env);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
  }, 60_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('runs each environment as an unprivileged uid of its own, with the instances group and a HOME it owns', async () => {
    const staging = await get<WhoAmI>(stagingUrl, '/whoami');
    const prod = await get<WhoAmI>(prodUrl, '/whoami');
    for (const w of [staging, prod]) {
      expect(w.uid).toBeGreaterThanOrEqual(INSTANCE_IDS.firstUser);
      expect(w.uid).toBeLessThanOrEqual(INSTANCE_IDS.lastUser);
      expect(w.gid).toBe(INSTANCE_IDS.group);
      expect(w.groups.filter((g) => g !== INSTANCE_IDS.group)).toEqual([]); // none of the server's groups
    }
    expect(staging.uid).not.toBe(prod.uid);
    expect(staging.home).toBe(join(dataDir, 'releases', 'hello.staging', '.home'));
    expect(staging.tmp.startsWith(staging.home)).toBe(true);
    expect(await get(stagingUrl, '/write-own')).toEqual({ home: 'ok', tmp: 'ok', release: 'ok' });
    // The record of the allocation is the filesystem: HOME's owner.
    expect(statSync(staging.home).uid).toBe(staging.uid);
    expect(statSync(releaseDirOf('staging')).uid).toBe(staging.uid);
  });

  it("refuses staging's code the admin token, state.db, the master key, production's files and production's environment", async () => {
    const prod = await get<WhoAmI>(prodUrl, '/whoami');
    const targets = [
      join(dataDir, 'admin.token'),
      join(dataDir, 'state.db'),
      join(dataDir, 'keys', 'master.key'),
      join(releaseDirOf('production'), 'server.js'),
      join(dataDir, 'releases', 'hello.production', '.home', 'probe'),
      join(dataDir, 'logs', 'hello.production', `${liveInstanceRows(dataDir).find((i) => i.env === 'hello/production')?.id}.log`),
      `/proc/${prod.pid}/environ`,
    ];
    const got = await get<Record<string, string>>(stagingUrl, `/read?${targets.map((t) => `path=${encodeURIComponent(t)}`).join('&')}`);
    for (const t of targets) expect(['EACCES', 'EPERM'], `${t}: ${got[t]}`).toContain(got[t]);
    const listed = await get<Record<string, string>>(stagingUrl, `/list?path=${encodeURIComponent(dataDir)}&path=${encodeURIComponent(join(dataDir, 'releases'))}&path=${encodeURIComponent(join(dataDir, 'releases', 'hello.production'))}`);
    expect(Object.values(listed)).toEqual(['EACCES', 'EACCES', 'EACCES']);
    // Production kept working throughout, and staging still serves.
    expect((await fetch(`${prodUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${stagingUrl}/healthz`)).status).toBe(200);
  });

  it('gives a local user made with useradd nothing of the data directory', () => {
    const name = `slipway-probe-${process.pid}`;
    expect(spawnSync('useradd', ['--no-create-home', '--system', name]).status).toBe(0);
    try {
      const uid = Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout.trim());
      const gid = Number(spawnSync('id', ['-g', name], { encoding: 'utf8' }).stdout.trim());
      for (const args of [['ls', dataDir], ['cat', join(dataDir, 'admin.token')], ['cat', join(dataDir, 'state.db')], ['ls', join(dataDir, 'releases', 'hello.staging')]]) {
        const r = spawnSync(args[0]!, args.slice(1), { uid, gid, encoding: 'utf8' });
        expect(r.status, `${args.join(' ')}: ${r.stdout}`).not.toBe(0);
        expect(r.stderr).toMatch(/Permission denied/);
      }
    } finally {
      spawnSync('userdel', [name]);
    }
  });

  it('stops a child the instance started with setsid once the instance is replaced', async () => {
    const { pid: grandchild } = await get<{ pid: number }>(stagingUrl, '/setsid');
    const old = await get<WhoAmI>(stagingUrl, '/whoami');
    expect(isPidAlive(grandchild)).toBe(true);
    // Its own session: a signal to the instance's process group does not reach it.
    const sid = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[3]);
    await waitFor('the child to be in a session of its own', () => sid(grandchild) === grandchild, 5_000);
    expect(sid(old.pid)).toBe(old.pid);
    writeService(app, { ...service, version: '1.0.1' });
    const r = await cli('deploy', 'staging');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await waitFor('the setsid child to be gone', () => !isPidAlive(grandchild), 10_000);
    expect(isPidAlive(old.pid)).toBe(false);
    // The new release runs as the same uid: the allocation is stable.
    expect((await get<WhoAmI>(stagingUrl, '/whoami')).uid).toBe(old.uid);
  }, 60_000);

  it('ends instance sessions when the server stops with its instances, and tightens a data directory an older slipway left readable', async () => {
    const before = { staging: (await get<WhoAmI>(stagingUrl, '/whoami')).uid, production: (await get<WhoAmI>(prodUrl, '/whoami')).uid };
    // Stopping the server with its instances ends their sessions too.
    const { pid: grandchild } = await get<{ pid: number }>(prodUrl, '/setsid');
    await shutdownEverything(server.url, dataDir);
    expect(isPidAlive(grandchild)).toBe(false);
    loosen(dataDir);
    expect(statSync(join(dataDir, 'state.db')).mode & 0o777).toBe(0o644);
    server = await startServerProcess(dataDir, 'server-2.log');
    const log = readFileSync(join(dataDir, '..', 'server-2.log'), 'utf8');
    expect(log).toMatch(/tightened \d+ path\(s\) in the data directory/);
    const mode = (p: string) => statSync(join(dataDir, p)).mode & 0o777;
    expect(mode('.')).toBe(0o710);
    expect(mode('releases')).toBe(0o710);
    expect(mode('releases/hello.staging')).toBe(0o710);
    for (const f of ['state.db', 'admin.token', 'keys/master.key']) expect(mode(f), f).toBe(0o600);
    for (const d of ['logs', 'artefacts', 'router', 'keys', 'logs/hello.staging']) expect(mode(d), d).toBe(0o700);
    expect(statSync(releaseDirOf('production')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, 'releases', 'hello.production', '.home')).mode & 0o777).toBe(0o700);
    // After a restart each environment keeps its uid, and staging is refused again.
    await waitFor('instances serving again', async () => (await fetch(`${prodUrl}/healthz`).catch(() => null))?.status === 200 && (await fetch(`${stagingUrl}/healthz`).catch(() => null))?.status === 200, 20_000);
    expect((await get<WhoAmI>(stagingUrl, '/whoami')).uid).toBe(before.staging);
    expect((await get<WhoAmI>(prodUrl, '/whoami')).uid).toBe(before.production);
    const token = join(dataDir, 'admin.token');
    expect(await get(stagingUrl, `/read?path=${encodeURIComponent(token)}`)).toEqual({ [token]: 'EACCES' });
  }, 90_000);
});

// What a server that is not root does, run as nobody: the refusal and the warning.
const NOT_ROOT_SCRIPT = `
import { assertRunUserPossible } from '${join(import.meta.dirname, '..', 'src', 'runtime', 'process', 'run-identity.ts')}';
import { dataDirPaths, prepareDataDir } from '${join(import.meta.dirname, '..', 'src', 'store', 'data-dir.ts')}';
const out = { notices: [] };
for (const [key, user] of [['other', 'www-data'], ['self', String(process.getuid())]]) {
  try { assertRunUserPossible(user); out[key] = 'ok'; } catch (e) { out[key] = e.code + ': ' + e.message; }
}
prepareDataDir(dataDirPaths(process.argv[2]), { onNotice: (m) => out.notices.push(m) });
console.log(JSON.stringify(out));
`;

describe.skipIf(!isRoot)('a server that is not root', () => {
  it('refuses a run.user other than its own, precisely, and warns that instances run as itself', () => {
    const work = scratchDir();
    chmodSync(work, 0o777);
    writeFileSync(join(work, 'probe.mts'), NOT_ROOT_SCRIPT);
    const nobody = 65534;
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(work, 'probe.mts'), join(work, 'data')], {
      uid: nobody, gid: nobody, cwd: join(import.meta.dirname, '..'), env: { PATH: process.env.PATH, TMPDIR: work, HOME: work }, encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { other: string; self: string; notices: string[] };
    expect(out.other).toBe(`E_CONFIG_INVALID: run.user: "www-data" cannot be honoured: this slipway server does not run as root (uid ${nobody}), so its instances can only run as its own user; remove run.user, or run the server as root`);
    expect(out.self).toBe('ok');
    expect(out.notices.join('\n')).toMatch(/does not run as root \(uid 65534\): its instances run as its own user/);
    expect(statSync(join(work, 'data')).mode & 0o777).toBe(0o700);
    expect(statSync(join(work, 'data', 'releases')).mode & 0o777).toBe(0o700);
  });
});

describe('run.user and run.memory in slipway.yaml', () => {
  const config = (user: unknown) => ({
    service: 'svc',
    run: { command: 'node server.js', user },
    environments: { staging: { listen: '127.0.0.1:8081' } },
  });

  it('takes a user name or a numeric uid', () => {
    for (const user of ['www-data', 1000, '1000']) {
      const v = validateConfigData(config(user));
      expect(v.ok && v.config.run.user).toBe(String(user));
    }
  });

  it('reads run.memory as bytes, refusing a size without a unit', () => {
    const withMemory = (memory: unknown) => validateConfigData({ ...config(undefined), run: { command: 'node server.js', memory } });
    const v = withMemory('64m');
    expect(v.ok && v.config.run.memoryBytes).toBe(64 * 1024 * 1024);
    expect(v.ok && 'user' in v.config.run).toBe(false);
    expect(withMemory(64).ok).toBe(false);
  });

  it("refuses root and the uids slipway gives environments", () => {
    for (const user of ['root', 0, '0', INSTANCE_IDS.group, INSTANCE_IDS.firstUser, INSTANCE_IDS.lastUser, 'a b', '']) {
      const v = validateConfigData(config(user));
      expect(v.ok, String(user)).toBe(false);
      if (!v.ok) expect(v.issues[0]!.path).toEqual(['run', 'user']);
    }
  });
});

/** What an older slipway left: every directory 0755, every file 0644. */
function loosen(dir: string): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    try {
      const st = lstatSync(p);
      if (st.isSymbolicLink()) continue;
      if (st.isDirectory()) {
        chmodSync(p, 0o755);
        loosen(p);
      } else chmodSync(p, 0o644);
    } catch (e) {
      // A file the stopped server's last writes removed meanwhile (a SQLite journal, a lock): nothing to loosen.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  chmodSync(dir, 0o755);
}
