// Issue 7 end to end, on a real server: every route against every kind of caller,
// the audit chain against every kind of tampering, secrets kept out of the audit
// log, and a burst of wrong tokens throttled.

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryHash } from '../src/store/audit-log.ts';
import {
  apiFetch, freePort, liveInstanceRows, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService,
  type ServerProcess,
} from './support/harness.ts';

type Role = 'viewer' | 'deployer' | 'approver' | 'admin' | 'ci';
/** What each role may do, written out here rather than imported, so the test checks the server's table. */
const MAY: Record<Role, string[]> = {
  viewer: ['read'],
  deployer: ['read', 'deploy', 'release'],
  approver: ['read', 'approve'],
  admin: ['read', 'deploy', 'approve', 'admin', 'release'],
  ci: ['read', 'release'],
};
/** Routes that need their permission in any one environment (an upload, a CI's run: the handler checks the service). */
const ANY_ENV = new Set(['/api/artefacts', '/api/artefacts/assemble', '/api/blobs', '/api/blobs/check', '/api/pipeline/ci/artefacts', '/api/pipeline/ci/runs']);

interface Operation {
  method: string;
  path: string;
  permission: string;
}

const tag = randomBytes(4).toString('hex');
const SECRET_VALUE = `audit-secret-${tag}-Qz8`;
const PLAIN_VALUE = `audit-plain-${tag}-Wv5`;

describe('authentication, roles and the audit trail', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  const tokens: Record<string, string> = {};
  let ops: Operation[] = [];
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });

  async function makeToken(user: string, role: Role, extra: Record<string, unknown> = {}): Promise<{ token: string; id: string }> {
    const r = await apiFetch(`${server.url}/api/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, role, ...extra }) });
    expect(r.status).toBe(201);
    return (await r.json()) as { token: string; id: string };
  }

  async function call(op: Operation, env: string, token: string | null): Promise<{ status: number; body: { error?: { code: string; details?: Record<string, unknown> } } }> {
    const path = op.path.replace('{env}', env).replace('{id}', op.path.startsWith('/api/tokens') ? '0000000000000000' : '999999')
      .replace('{name}', 'PROBE_NAME').replace(/\{\w+\}/g, 'probe');
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const init: RequestInit = { method: op.method, headers, signal: AbortSignal.timeout(15_000) };
    // A body no route accepts: an allowed caller gets a 400, never a side effect.
    if (op.method !== 'GET' && op.method !== 'DELETE') {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify({ __probe: true });
    }
    const r = await fetch(`${server.url}${path}?__probe=1`, init);
    const text = r.headers.get('content-type')?.includes('json') ? await r.text() : (await r.body?.cancel(), '');
    let body = {};
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      // a stream, not an answer
    }
    return { status: r.status, body };
  }

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    writeService(app, { envs: { staging: { instances: 1, port: await freePort() }, production: { instances: 1, port: await freePort() } } });
    // The route matrix sends many wrong tokens on purpose: no throttling on this server.
    server = await startServerProcess(dataDir, 'server.log', { ...process.env, SLIPWAY_AUTH_FAILURE_LIMIT: '1000000' });
    for (const role of ['viewer', 'deployer', 'approver', 'admin'] as const) tokens[role] = (await makeToken(`${role}-user`, role)).token;
    tokens.stagingDeployer = (await makeToken('stella', 'deployer', { envs: ['staging'] })).token;
    tokens.ci = (await makeToken('ci-user', 'ci', { services: ['hello'], expiresAt: Date.now() + 3600_000 })).token;
    const revoked = await makeToken('rex', 'admin');
    tokens.revoked = revoked.token;
    expect((await cli('token', 'revoke', revoked.id)).code).toBe(0);
    tokens.expired = (await makeToken('old', 'admin', { expiresAt: Date.now() + 1500 })).token;
    tokens.garbage = `slw_${'0'.repeat(16)}_${'A'.repeat(43)}`;
    const doc = (await (await fetch(`${server.url}/api/openapi.json`)).json()) as { paths: Record<string, Record<string, { 'x-slipway-permission': string }>> };
    ops = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([m, op]) => ({ method: m.toUpperCase(), path, permission: op['x-slipway-permission'] })));
    // The expiring token made above, refused once its second and a half is over.
    await waitFor('the expiring token to expire', async () => (await fetch(`${server.url}/api/whoami`, { headers: { authorization: `Bearer ${tokens.expired}` } })).status === 401, 10_000);
  }, 90_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('describes every route, each with one declared permission', () => {
    expect(ops.length).toBeGreaterThanOrEqual(28);
    for (const op of ops) expect(['public', 'read', 'deploy', 'approve', 'admin', 'release'], `${op.method} ${op.path}`).toContain(op.permission);
    const get = (m: string, p: string) => ops.find((o) => o.method === m && o.path === p)?.permission;
    expect(get('POST', '/api/environments/{env}/deploys')).toBe('deploy');
    expect(get('PUT', '/api/environments/{env}/secrets/{name}')).toBe('admin');
    expect(get('POST', '/api/tokens')).toBe('admin');
    expect(get('GET', '/healthz')).toBe('public');
    expect(get('POST', '/api/pipeline/ci/runs')).toBe('release');
  });

  it('answers every route × every caller exactly as the role allows', async () => {
    const wrong: string[] = [];
    const probes: { op: Operation; who: string; env: string }[] = [];
    for (const op of ops) {
      for (const who of ['none', 'garbage', 'revoked', 'expired', 'viewer', 'deployer', 'approver', 'admin', 'stagingDeployer', 'ci']) {
        for (const env of op.path.includes('{env}') ? ['staging', 'production'] : ['staging']) probes.push({ op, who, env });
      }
    }
    // Several probes in flight at once: each is refused or answered 400 without a
    // side effect, so their order does not matter, and one at a time spent most of
    // its time waiting on round trips.
    let next = 0;
    await Promise.all(Array.from({ length: 6 }, async () => {
      while (next < probes.length) {
        const { op, who, env } = probes[next++]!;
        const { status, body } = await call(op, env, who === 'none' ? null : tokens[who]!);
        let expected: 'pass' | 401 | 403;
        if (op.permission === 'public') expected = 'pass';
        else if (['none', 'garbage', 'revoked', 'expired'].includes(who)) expected = 401;
        else {
          const role: Role = who === 'stagingDeployer' ? 'deployer' : (who as Role);
          const granted = MAY[role].includes(op.permission);
          // The ci token's service is hello: its environments are hello/staging and hello/production.
          const outsideEnv = (who === 'stagingDeployer' || who === 'ci') && op.permission !== 'read'
            && (op.path.includes('{env}') ? who === 'ci' ? false : env !== 'staging' : !ANY_ENV.has(op.path));
          expected = granted && !outsideEnv ? 'pass' : 403;
        }
        // Passing auth: any answer but the auth refusals (a public route may refuse for its own reasons, e.g. a webhook's signature).
        const code = body.error?.code;
        const ok = expected === 'pass' ? code !== 'E_UNAUTHENTICATED' && code !== 'E_FORBIDDEN' && code !== 'E_RATE_LIMITED' && status < 500 : status === expected;
        if (!ok) wrong.push(`${who} ${op.method} ${op.path} (${env}): expected ${expected}, got ${status} ${JSON.stringify(body).slice(0, 160)}`);
        if (expected === 403 && status === 403) {
          expect(body.error?.code).toBe('E_FORBIDDEN');
          expect(body.error?.details?.permission).toBe(op.permission);
        }
        if (expected === 401 && status === 401) expect(body.error?.code).toBe('E_UNAUTHENTICATED');
      }
    }));
    expect(wrong).toEqual([]);
  }, 240_000);

  it('says why a token is refused, and which permission a role lacks', async () => {
    // Four CLI processes at once: each is refused or only reads.
    const [revoked, expired, viewer, who] = await Promise.all([
      cli('--token', tokens.revoked!, 'status'),
      cli('--token', tokens.expired!, 'status'),
      cli('--token', tokens.viewer!, 'rollback', 'staging'),
      cli('--token', tokens.stagingDeployer!, '--json', 'whoami'),
    ]);
    expect(revoked.code).not.toBe(0);
    expect(revoked.stderr).toMatch(/E_UNAUTHENTICATED.*revoked/);
    expect(expired.stderr).toMatch(/expired/);
    expect(viewer.stderr).toMatch(/E_FORBIDDEN.*"deploy" permission/);
    expect(JSON.parse(who.stdout)).toMatchObject({ user: 'stella', role: 'deployer', envs: ['staging'] });
    // A client cannot claim to be someone else: the actor is the token's user.
    const r = await fetch(`${server.url}/api/whoami`, { headers: { authorization: `Bearer ${tokens.viewer}`, 'x-slipway-actor': 'admin' } });
    expect(((await r.json()) as { user: string }).user).toBe('viewer-user');
  });

  it('records who did what, with which artefact and config, and never a secret value', async () => {
    const deploy = await cli('--token', tokens.deployer!, 'deploy', 'staging');
    expect(deploy.code, deploy.stderr).toBe(0);
    expect((await cli('--token', tokens.admin!, 'config', 'set', 'staging', `PLAIN_THING=${PLAIN_VALUE}`, 'WEIRD=$(touch pwned); `touch pwned2` | rm -rf x && echo ${HOME}')).code).toBe(0);
    // The two refusals are refused on the token alone, whatever runs meanwhile.
    const [viewerRollback, outsideRollback, set] = await Promise.all([
      cli('--token', tokens.viewer!, 'rollback', 'staging'),
      cli('--token', tokens.stagingDeployer!, 'rollback', 'production'),
      runCli(['--token', tokens.admin!, 'secret', 'set', 'staging', 'DB_PASSWORD'], { cwd: app, dataDir, input: SECRET_VALUE }),
    ]);
    expect(viewerRollback.code).not.toBe(0);
    expect(outsideRollback.code).not.toBe(0);
    expect(set.code, set.stderr).toBe(0);
    // Asked of the API, not the CLI: a CLI process per poll cost seconds each.
    await waitFor('the config rollout', async () => (await (await apiFetch(`${server.url}/api/environments/staging`)).json() as { lastRollout?: { phase: string } }).lastRollout?.phase === 'succeeded', 60_000);

    const exported = join(work, 'audit.jsonl');
    // Five readers of the audit log at once: none of them writes to it.
    const [staging, stella, exportRun, human, all] = await Promise.all([
      cli('--json', 'audit', '--env', 'staging'),
      cli('--json', 'audit', '--actor', 'stella'),
      cli('audit', 'export', '--out', exported),
      cli('audit'),
      cli('--json', 'audit'),
    ]);
    const entries = JSON.parse(staging.stdout).entries as { actor: string; action: string; target: string; outcome: string; details: Record<string, unknown> }[];
    const dep = entries.find((e) => e.action === 'deploy' && e.outcome === 'ok');
    expect(dep).toMatchObject({ actor: 'deployer-user', target: 'release 1' });
    expect(dep!.details.artefact).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(dep!.details.configHash).toBeTruthy();
    expect(entries.find((e) => e.action === 'secret.set' && e.outcome === 'ok')).toMatchObject({ actor: 'admin-user', target: 'secret DB_PASSWORD', outcome: 'ok' });
    expect(entries.find((e) => e.action === 'config.set' && e.outcome === 'ok')).toMatchObject({ target: 'PLAIN_THING,WEIRD' });
    expect(entries.some((e) => e.actor === 'viewer-user' && e.action === 'rollback' && e.outcome === 'denied')).toBe(true);
    // Filters.
    const mine = JSON.parse(stella.stdout).entries as { actor: string }[];
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((e) => e.actor === 'stella')).toBe(true);

    expect(exportRun.code).toBe(0);
    const everything = [readFileSync(exported, 'utf8'), human.stdout, readFileSync(join(dataDir, 'audit-head.json'), 'utf8')].join('\n');
    expect(everything).toContain('DB_PASSWORD');
    expect(everything).not.toContain(SECRET_VALUE);
    expect(everything).not.toContain(PLAIN_VALUE);
    const total = (JSON.parse(all.stdout).entries as unknown[]).length;
    expect(readFileSync(exported, 'utf8').trim().split('\n').length).toBeGreaterThanOrEqual(total - 1);

    // Config values with shell metacharacters reach the instance as data, never through a shell.
    const pid = liveInstanceRows(dataDir).find((i) => i.env === 'hello/staging' && i.state === 'ready')!.pid!;
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    expect(environ).toContain('WEIRD=$(touch pwned); `touch pwned2` | rm -rf x && echo ${HOME}');
    expect(existsSync(`/proc/${pid}/cwd/pwned`) || existsSync(`/proc/${pid}/cwd/pwned2`) || existsSync(join(app, 'pwned'))).toBe(false);
  }, 120_000);

  it('audit verify finds an edited, a re-hashed, a deleted, two swapped entries and a cut tail', async () => {
    type Verification = { ok: boolean; problem: { seq: number; kind: string; message: string } | null; warning: string | null };
    // The CLI where its exit code is checked (clean, the first tampering, the end);
    // the API it prints otherwise: the server finds the problem, the CLI only passes
    // its answer on, and each CLI process costs seconds.
    const verify = async () => {
      const r = await cli('--json', 'audit', 'verify');
      return { code: r.code, v: JSON.parse(r.stdout) as Verification };
    };
    const verifyByApi = async () => {
      const r = await apiFetch(`${server.url}/api/audit/verify`);
      expect(r.status).toBe(200);
      return { v: (await r.json()) as Verification };
    };
    const clean = await verify();
    expect(clean.code).toBe(0);
    expect(clean.v.ok).toBe(true);

    const db = new Database(join(dataDir, 'state.db'));
    type Row = Record<string, unknown> & { seq: number };
    const rows = () => db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as Row[];
    const all = rows();
    expect(all.length).toBeGreaterThan(8);
    const put = (r: Row) => db.prepare(`INSERT OR REPLACE INTO audit_log (seq, at, actor, action, env, target, request_id, outcome, details_json, prev_hash, hash)
      VALUES (@seq, @at, @actor, @action, @env, @target, @request_id, @outcome, @details_json, @prev_hash, @hash)`).run(r);
    const restore = () => {
      db.prepare('DELETE FROM audit_log').run();
      for (const r of all) put(r);
    };
    try {
      // 1. An entry edited in place.
      db.prepare("UPDATE audit_log SET actor = 'mallory' WHERE seq = 4").run();
      let r: { code?: number; v: Verification } = await verify();
      expect(r.code).toBe(1);
      expect(r.v.problem).toMatchObject({ seq: 4, kind: 'altered' });
      restore();

      // 2. Edited, and its own hash recomputed to match: the next entry still points at the original.
      const e4 = all.find((x) => x.seq === 4)!;
      const forged = { seq: 4, at: e4.at as number, actor: 'mallory', action: String(e4.action), env: e4.env as string | null, target: e4.target as string | null, requestId: e4.request_id as string | null,
        outcome: e4.outcome as 'ok', details: JSON.parse(String(e4.details_json)) as Record<string, unknown>, prevHash: String(e4.prev_hash) };
      db.prepare('UPDATE audit_log SET actor = ?, hash = ? WHERE seq = 4').run('mallory', entryHash(forged));
      r = await verifyByApi();
      expect(r.v.problem).toMatchObject({ seq: 4, kind: 'altered' });
      restore();

      // 3. An entry deleted.
      db.prepare('DELETE FROM audit_log WHERE seq = 5').run();
      r = await verifyByApi();
      expect(r.v.problem).toMatchObject({ seq: 5, kind: 'removed' });
      restore();

      // 4. Two entries swapped.
      const [a, b] = [all.find((x) => x.seq === 6)!, all.find((x) => x.seq === 7)!];
      db.prepare('DELETE FROM audit_log WHERE seq IN (6, 7)').run();
      put({ ...b, seq: 6 });
      put({ ...a, seq: 7 });
      r = await verifyByApi();
      expect(r.v.problem?.seq).toBe(6);
      expect(r.v.problem?.kind).toBe('reordered');
      restore();

      // 5. The tail cut off (and the sequence reset, as a careful intruder would): only the signed checkpoint shows it.
      const last = all.at(-1)!.seq;
      db.prepare('DELETE FROM audit_log WHERE seq > ?').run(last - 2);
      db.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'audit_log'").run(last - 2);
      r = await verifyByApi();
      expect(r.v.problem).toMatchObject({ seq: last - 1, kind: 'truncated' });
      expect(r.v.problem!.message).toMatch(new RegExp(`entries ${last - 1}–${last}`));
      // Without the checkpoint the chain alone looks whole: verify says it cannot rule a cut out.
      const head = join(dataDir, 'audit-head.json');
      renameSync(head, `${head}.bak`);
      r = await verifyByApi();
      expect(r.v.ok).toBe(true);
      expect(r.v.warning).toMatch(/cut tail cannot be ruled out/);
      renameSync(`${head}.bak`, head);
      restore();

      // 6. A checkpoint rewritten to hide the cut: its signature no longer holds.
      const cp = JSON.parse(readFileSync(head, 'utf8')) as { seq: number };
      writeFileSync(head, JSON.stringify({ ...cp, seq: cp.seq - 2 }));
      r = await verifyByApi();
      expect(r.v.problem?.message).toMatch(/not signed by this server's key/);
      writeFileSync(head, JSON.stringify(cp));
    } finally {
      restore();
      db.close();
    }
    const after = await verify();
    expect(after.v.ok).toBe(true);
  }, 60_000);

  it('throttles a burst of wrong tokens from one address, never a good token, and lets it in again', async () => {
    // A server with a low limit and a short window, on the same data directory.
    await apiFetch(`${server.url}/api/shutdown`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    await waitFor('the server to stop', () => !existsSync(join(dataDir, 'server.json')), 20_000);
    server = await startServerProcess(dataDir, 'server2.log', { ...process.env, SLIPWAY_AUTH_FAILURE_LIMIT: '10', SLIPWAY_AUTH_FAILURE_WINDOW_MS: '4000' });
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      statuses.push((await fetch(`${server.url}/api/environments`, { headers: { authorization: `Bearer slw_${randomBytes(8).toString('hex')}_${'B'.repeat(43)}` } })).status);
    }
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(10).every((s) => s === 429)).toBe(true);
    // While throttled, a wrong token waits and is told how long; a good token from the same address is let in.
    const bad = await fetch(`${server.url}/api/environments`, { headers: { authorization: `Bearer slw_${randomBytes(8).toString('hex')}_${'C'.repeat(43)}` } });
    expect(bad.status).toBe(429);
    expect(Number(bad.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('E_RATE_LIMITED');
    const good = await fetch(`${server.url}/api/environments`, { headers: { authorization: `Bearer ${tokens.admin}` } });
    expect(good.status).toBe(200);
    await waitFor('the window to pass', async () => (await fetch(`${server.url}/api/environments`, { headers: { authorization: `Bearer slw_${randomBytes(8).toString('hex')}_${'D'.repeat(43)}` } })).status === 401, 15_000);
  }, 60_000);
});
