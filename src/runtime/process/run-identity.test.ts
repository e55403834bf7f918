// Who an environment's instances run as: allocated once, recorded by the filesystem,
// never shared, and never a reason to follow a symlink. Needs root (it chowns).

import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { INSTANCE_IDS } from '../../core/service-config.ts';
import { assertRunUserPossible, preparePipelineIdentity, prepareRunIdentity, releasePipelineIdentity, removeTreeSafely, uidRegistryProblem } from './run-identity.ts';

describe.skipIf(process.getuid?.() !== 0)('prepareRunIdentity (server as root)', () => {
  let releases: string;
  // The admin allows uid 1234 as a run.user (the cases below are about what else holds).
  beforeEach(() => {
    process.env.SLIPWAY_RUN_USERS = '1234';
  });
  afterEach(() => {
    delete process.env.SLIPWAY_RUN_USERS;
  });

  /** releases/<env>/<digest> with a file and a subdirectory, as an unpack by root leaves them. */
  function release(env: string, digest = 'abc'): { envDir: string; releaseDir: string } {
    const releaseDir = join(releases, env, digest);
    mkdirSync(join(releaseDir, 'lib'), { recursive: true, mode: 0o755 });
    writeFileSync(join(releaseDir, 'server.js'), '', { mode: 0o644 });
    writeFileSync(join(releaseDir, 'lib', 'run.sh'), '', { mode: 0o4755 });
    return { envDir: join(releases, env), releaseDir };
  }

  beforeEach(() => {
    releases = join(mkdtempSync(join(tmpdir(), 'slipway-identity-')), 'releases');
    mkdirSync(releases);
    // The machine-wide uid record of this case alone: other tests' servers claim uids too.
    process.env.SLIPWAY_UID_REGISTRY = join(releases, '..', 'uids');
  });
  afterEach(() => {
    rmSync(join(releases, '..'), { recursive: true, force: true });
    delete process.env.SLIPWAY_UID_REGISTRY;
  });

  it("removes an environment's tree by its user's hand: root never walks into what that user owns", () => {
    // Passable down to releases/, as a data directory is (data-dir.ts).
    chmodSync(join(releases, '..'), 0o711);
    lchownSync(releases, 0, INSTANCE_IDS.group);
    chmodSync(releases, 0o710);
    const r = release('staging');
    const id = prepareRunIdentity({ ...r, user: undefined });
    // The instance's own doings: nested files, a dotfile, and a link to a file of root's.
    const outside = join(releases, '..', 'roots-file');
    writeFileSync(outside, 'keep');
    const asUser = (cmd: string) => execFileSync('sh', ['-c', cmd], { uid: id.uid!, gid: id.gid!, cwd: r.releaseDir });
    asUser(`mkdir -p a/b && echo x > a/b/c && echo y > .hidden && ln -s ${outside} link`);
    removeTreeSafely(r.envDir);
    expect(existsSync(r.envDir)).toBe(false);
    expect(readFileSync(outside, 'utf8')).toBe('keep');

    // A directory of root's inside the user's tree: the user cannot empty it, and root
    // does not reach in for it, so the tree stays and the removal says so.
    const s2 = release('production');
    const id2 = prepareRunIdentity({ ...s2, user: undefined });
    mkdirSync(join(s2.releaseDir, 'roots'));
    writeFileSync(join(s2.releaseDir, 'roots', 'f'), '');
    expect(lstatSync(s2.releaseDir).uid).toBe(id2.uid);
    expect(() => removeTreeSafely(s2.releaseDir)).toThrow(/could not empty it/);
    expect(existsSync(join(s2.releaseDir, 'roots', 'f'))).toBe(true);
  });

  /** Passable down to releases/, as a data directory is (data-dir.ts). */
  function passable(): void {
    chmodSync(join(releases, '..'), 0o711);
    lchownSync(releases, 0, INSTANCE_IDS.group);
    chmodSync(releases, 0o710);
  }

  it("gives a pipeline user up: what runs as it is killed, its HOME emptied by its hand, its uid's record entry dropped", async () => {
    // Giving a user up kills every process of its uid, which is safe because the
    // machine's record gives each uid to one HOME. A record of this case alone would
    // hand out a uid another test's server uses, and kill that test's processes.
    delete process.env.SLIPWAY_UID_REGISTRY;
    passable();
    const id = preparePipelineIdentity({ releasesDir: releases, service: 'shop' })!;
    const record = join('/var/lib/slipway/uids', String(id.uid));
    expect(readFileSync(record, 'utf8').trim()).toBe(id.home);
    execFileSync('sh', ['-c', 'mkdir -p cache/a && echo x > cache/a/b'], { uid: id.uid!, gid: id.gid!, cwd: id.home });
    // A run's directory (root's, passable) with the user's checkout in it.
    const runDir = join(releases, '..', 'run-1');
    mkdirSync(join(runDir, 'work'), { recursive: true });
    lchownSync(runDir, 0, INSTANCE_IDS.group);
    chmodSync(runDir, 0o710);
    lchownSync(join(runDir, 'work'), id.uid!, id.gid!);
    execFileSync('sh', ['-c', 'mkdir -p src/lib && echo x > src/lib/c'], { uid: id.uid!, gid: id.gid!, cwd: join(runDir, 'work') });
    // A daemon of the user that carries no marker (it cleared its environment).
    const daemon = spawn('sleep', ['4646'], { uid: id.uid!, gid: id.gid!, env: {}, detached: true, stdio: 'ignore' });
    const exited = new Promise((r) => daemon.once('exit', r));
    // Another HOME's uid, which the record gives to it: never touched.
    const other = prepareRunIdentity({ ...release('staging'), user: undefined });
    const bystander = spawn('sleep', ['4747'], { uid: other.uid!, gid: other.gid!, env: {}, detached: true, stdio: 'ignore' });
    try {
      expect(releasePipelineIdentity({ releasesDir: releases, service: 'shop', trees: [runDir] })).toBe(true);
      await exited;
      expect(existsSync(join(releases, '.pipeline.shop'))).toBe(false);
      expect(existsSync(runDir)).toBe(false);
      expect(existsSync(record)).toBe(false);
      expect(bystander.exitCode).toBeNull();
      expect(existsSync(other.home)).toBe(true);
      // Given up for good: the next run of the service gets a user afresh.
      expect(preparePipelineIdentity({ releasesDir: releases, service: 'shop' })!.uid).toBe(id.uid);
    } finally {
      daemon.kill('SIGKILL');
      bystander.kill('SIGKILL');
    }
  });

  it('removes nothing for a service that has no pipeline user', () => {
    const tree = join(releases, '..', 'run-1');
    mkdirSync(tree);
    expect(releasePipelineIdentity({ releasesDir: releases, service: 'shop', trees: [tree] })).toBe(false);
    expect(existsSync(tree)).toBe(true);
  });

  it('gives a pipeline user up without killing anything when the record names another HOME for its uid', () => {
    passable();
    const id = preparePipelineIdentity({ releasesDir: releases, service: 'shop' })!;
    const record = join(releases, '..', 'uids', String(id.uid));
    writeFileSync(record, '/elsewhere/releases/web/.home\n');
    const bystander = spawn('sleep', ['4848'], { uid: id.uid!, gid: id.gid!, env: {}, detached: true, stdio: 'ignore' });
    try {
      releasePipelineIdentity({ releasesDir: releases, service: 'shop', trees: [] });
      expect(existsSync(join(releases, '.pipeline.shop'))).toBe(false);
      expect(readFileSync(record, 'utf8')).toBe('/elsewhere/releases/web/.home\n');
      expect(bystander.exitCode).toBeNull();
    } finally {
      bystander.kill('SIGKILL');
    }
  });

  it('still gives uids where the machine-wide record cannot be kept', () => {
    const blocker = join(releases, '..', 'a-file');
    writeFileSync(blocker, '');
    process.env.SLIPWAY_UID_REGISTRY = join(blocker, 'uids');
    const a = prepareRunIdentity({ ...release('staging'), user: undefined });
    const b = prepareRunIdentity({ ...release('production'), user: undefined });
    expect(a.uid).toBe(INSTANCE_IDS.firstUser);
    expect(b.uid).not.toBe(a.uid);
    // What the server's start says.
    expect(uidRegistryProblem()).toMatch(/cannot keep the machine-wide uid record/);
  });

  it("never gives a uid another data directory's environment holds, and gives up one two servers once shared", () => {
    const a = prepareRunIdentity({ ...release('staging'), user: undefined });
    // A second server's data directory on the same machine.
    const otherReleases = join(releases, '..', 'other', 'releases');
    const b = { envDir: join(otherReleases, 'staging'), releaseDir: join(otherReleases, 'staging', 'abc') };
    mkdirSync(b.releaseDir, { recursive: true });
    writeFileSync(join(b.releaseDir, 'server.js'), '');
    const bId = prepareRunIdentity({ ...b, user: undefined });
    expect(bId.uid).not.toBe(a.uid);
    // A third, made before the record: its HOME already says the first one's uid.
    const thirdReleases = join(releases, '..', 'third', 'releases');
    const c = { envDir: join(thirdReleases, 'web'), releaseDir: join(thirdReleases, 'web', 'abc') };
    mkdirSync(join(c.envDir, '.home', 'tmp'), { recursive: true });
    lchownSync(join(c.envDir, '.home'), a.uid!, INSTANCE_IDS.group);
    mkdirSync(join(c.releaseDir, 'lib'), { recursive: true });
    writeFileSync(join(c.releaseDir, 'server.js'), '');
    writeFileSync(join(c.releaseDir, 'lib', 'run.sh'), '', { mode: 0o4775 });
    // A link the old user left, to a file of root's: given away as a link, never followed.
    const roots = join(releases, '..', 'roots-file');
    writeFileSync(roots, '', { mode: 0o644 });
    symlinkSync(roots, join(c.releaseDir, 'lib', 'link'));
    for (const p of ['lib/run.sh', 'lib/link', 'lib', 'server.js', '.']) lchownSync(join(c.releaseDir, p), a.uid!, INSTANCE_IDS.group);
    const cId = prepareRunIdentity({ ...c, user: undefined });
    expect([a.uid, bId.uid]).not.toContain(cId.uid);
    expect(lstatSync(join(c.releaseDir, 'server.js')).uid).toBe(cId.uid);
    expect([lstatSync(join(c.releaseDir, 'lib', 'run.sh')).uid, lstatSync(join(c.releaseDir, 'lib', 'run.sh')).mode & 0o7777]).toEqual([cId.uid, 0o700]);
    expect(lstatSync(join(c.releaseDir, 'lib', 'link')).uid).toBe(cId.uid);
    expect([lstatSync(roots).uid, lstatSync(roots).mode & 0o7777]).toEqual([0, 0o644]);
    expect(lstatSync(cId.home).uid).toBe(cId.uid);
    // The first keeps its uid.
    expect(prepareRunIdentity({ ...release('staging', 'def'), user: undefined }).uid).toBe(a.uid);
  });

  it('gives each environment a uid of its own from the range, the same one every time', () => {
    const a = prepareRunIdentity({ ...release('staging'), user: undefined });
    const b = prepareRunIdentity({ ...release('production'), user: undefined });
    expect(a.uid).toBe(INSTANCE_IDS.firstUser);
    expect(b.uid).not.toBe(a.uid);
    expect([a.gid, b.gid]).toEqual([INSTANCE_IDS.group, INSTANCE_IDS.group]);
    expect(prepareRunIdentity({ ...release('staging', 'def'), user: undefined }).uid).toBe(a.uid);
    expect(lstatSync(a.home).uid).toBe(a.uid);
    expect(lstatSync(a.tmp).uid).toBe(a.uid);
  });

  it('gives the release tree to the uid with owner-only modes and no setuid bit; the environment directory stays root', () => {
    const r = release('staging');
    const id = prepareRunIdentity({ ...r, user: undefined });
    const mode = (p: string) => lstatSync(join(r.releaseDir, p)).mode & 0o7777;
    expect([mode('.'), mode('lib'), mode('server.js'), mode('lib/run.sh')]).toEqual([0o700, 0o700, 0o600, 0o700]);
    expect(lstatSync(join(r.releaseDir, 'lib', 'run.sh')).uid).toBe(id.uid);
    const env = lstatSync(r.envDir);
    expect([env.uid, env.gid, env.mode & 0o7777]).toEqual([0, INSTANCE_IDS.group, 0o710]);
  });

  it("does not take another environment's uid from a HOME that claims it, and sets that HOME aside", () => {
    const a = prepareRunIdentity({ ...release('staging'), user: undefined });
    const b = release('production');
    mkdirSync(join(b.envDir, '.home'));
    lchownSync(join(b.envDir, '.home'), a.uid!, 0);
    const id = prepareRunIdentity({ ...b, user: undefined });
    expect(id.uid).not.toBe(a.uid);
    expect(lstatSync(id.home).uid).toBe(id.uid);
    const aside = readdirSync(b.envDir).filter((n) => n.startsWith('.home.retired-'));
    expect(aside).toHaveLength(1);
    expect(lstatSync(join(b.envDir, aside[0]!)).uid).toBe(0);
  });

  it('refuses a release directory that is a symlink, changing nothing it points at', () => {
    const target = join(releases, '..', 'elsewhere');
    mkdirSync(target);
    chmodSync(target, 0o755);
    mkdirSync(join(releases, 'staging'));
    symlinkSync(target, join(releases, 'staging', 'abc'));
    expect(() => prepareRunIdentity({ envDir: join(releases, 'staging'), releaseDir: join(releases, 'staging', 'abc'), user: undefined })).toThrow(/not a directory/);
    expect([lstatSync(target).uid, lstatSync(target).mode & 0o777]).toEqual([0, 0o755]);
  });

  it('refuses run.user root by another name, a uid of the range, and an unknown name', () => {
    for (const user of ['toor-that-does-not-exist', String(INSTANCE_IDS.firstUser), '0']) {
      expect(() => prepareRunIdentity({ ...release('staging'), user }), user).toThrow(/run\.user/);
    }
    expect(prepareRunIdentity({ ...release('staging'), user: '1234' }).uid).toBe(1234);
  });

  it("refuses a run.user that already runs another environment", () => {
    prepareRunIdentity({ ...release('production'), user: '1234' });
    expect(() => prepareRunIdentity({ ...release('staging'), user: '1234' })).toThrow(/already runs environment "production"/);
  });
});

describe.skipIf(process.getuid?.() !== 0)('run.user on a server running as root', () => {
  afterEach(() => {
    delete process.env.SLIPWAY_RUN_USERS;
  });

  it('is refused unless the admin lists the user in SLIPWAY_RUN_USERS', () => {
    expect(() => assertRunUserPossible('nobody')).toThrow(expect.objectContaining({ code: 'E_POLICY_DENIED', details: expect.objectContaining({ key: 'run.user' }) }));
    process.env.SLIPWAY_RUN_USERS = 'www-data, nobody';
    expect(() => assertRunUserPossible('nobody')).not.toThrow();
  });
});
