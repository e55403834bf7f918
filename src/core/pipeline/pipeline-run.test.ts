import { describe, expect, it } from 'vitest';
import { approvalRefusal, canonicalManifest, countedApprovals, isRunFinished, summariseTestOutput, versionFor, type ApprovalRecord } from './pipeline-run.ts';

const SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';

describe('versionFor', () => {
  it.each([
    [[], '0.0.0+a1b2c3d'],
    [['v1.2.3'], '1.2.3'],
    [['1.2.3', 'v1.10.0', 'release-7'], '1.10.0'],
    [['v2.0.0-rc.1'], '2.0.0-rc.1'],
    [['nightly', 'v1'], '0.0.0+a1b2c3d'],
  ])('tags %j give %s', (tags, version) => {
    expect(versionFor(tags, SHA)).toBe(version);
  });
});

describe('summariseTestOutput', () => {
  it('reads node --test and TAP counts, and nothing from other output', () => {
    expect(summariseTestOutput('ok 1\n# tests 3\n# suites 0\n# pass 2\n# fail 1\n')).toEqual({ tests: 3, pass: 2, fail: 1 });
    expect(summariseTestOutput('ℹ tests 4\nℹ pass 4\nℹ fail 0\n')).toEqual({ tests: 4, pass: 4, fail: 0 });
    expect(summariseTestOutput('all good')).toEqual({ tests: null, pass: null, fail: null });
  });
});

describe('approvals', () => {
  const run = { id: 7, startedBy: 'alice', status: 'waiting' as const, stage: 'approval' as const, attempt: 2 };
  const policy = { count: 2, roles: [], distinctFromStarter: true };
  const given = (actor: string, attempt: number, decision: 'approve' | 'reject' = 'approve'): ApprovalRecord => ({ id: 0, runId: 7, actor, decision, reason: null, roles: null, at: 0, attempt });

  it('refuses the starter when four eyes are asked for, and allows them otherwise', () => {
    expect(approvalRefusal({ run, policy, actor: 'alice', roles: null, given: [] })).toMatch(/four eyes: alice started run #7/);
    expect(approvalRefusal({ run, policy: { ...policy, distinctFromStarter: false }, actor: 'alice', roles: null, given: [] })).toBeNull();
  });

  it('refuses a second approval by the same user in the same attempt, not in a later one', () => {
    expect(approvalRefusal({ run, policy, actor: 'bob', roles: null, given: [given('bob', 2)] })).toMatch(/already approved/);
    expect(approvalRefusal({ run, policy, actor: 'bob', roles: null, given: [given('bob', 1)] })).toBeNull();
  });

  it('refuses a user whose known roles do not include a required one', () => {
    const p = { ...policy, roles: ['release-manager'] };
    expect(approvalRefusal({ run, policy: p, actor: 'bob', roles: ['developer'], given: [] })).toMatch(/needs one of the roles release-manager; bob has developer/);
    expect(approvalRefusal({ run, policy: p, actor: 'bob', roles: ['release-manager'], given: [] })).toBeNull();
  });

  it('refuses any decision on a finished run', () => {
    expect(approvalRefusal({ run: { ...run, status: 'succeeded' }, policy, actor: 'bob', roles: null, given: [] })).toMatch(/has succeeded/);
  });

  it('counts distinct approvers of the current attempt only', () => {
    const list = [given('bob', 1), given('bob', 2), given('bob', 2), given('carol', 2), given('dave', 2, 'reject')];
    expect(countedApprovals(list, 2).map((a) => a.actor)).toEqual(['bob', 'carol']);
  });
});

describe('canonicalManifest', () => {
  it('is the same text whatever the key order, so a signature checks anywhere', () => {
    const a = { service: 's', version: '1', digest: 'sha256:x', commit: null, builtAt: 1, builder: 'b', tests: null, files: { b: '2', a: '1' }, origin: 'build' as const, runId: 1 };
    const b = { runId: 1, origin: 'build' as const, files: { a: '1', b: '2' }, tests: null, builder: 'b', builtAt: 1, commit: null, digest: 'sha256:x', version: '1', service: 's' };
    expect(canonicalManifest(a)).toBe(canonicalManifest(b));
    expect(canonicalManifest({ ...a, digest: 'sha256:y' })).not.toBe(canonicalManifest(a));
  });
});

describe('finished runs', () => {
  it('a run has finished when it succeeded or failed; running and waiting ones have not', () => {
    expect(['running', 'waiting', 'succeeded', 'failed'].filter(isRunFinished)).toEqual(['succeeded', 'failed']);
  });
});

describe('the edges of versions, approvals and manifests', () => {
  it.each([
    [[' v1.2.3 '], '1.2.3'],
    [['v1.2.3+build.5'], '1.2.3+build.5'],
    [['x1.2.3', '1.2.3x', 'vv1.2.3', '1.2', '1.2.3+'], '0.0.0+a1b2c3d'],
    [['10.0.0', '9.0.0'], '10.0.0'],
    [['1.20.0', '1.3.0'], '1.20.0'],
    [['1.2.30', '1.2.4'], '1.2.30'],
    [['2.0.0-rc.1', '2.0.0'], '2.0.0'],
    [['2.0.0', '2.0.0-rc.1'], '2.0.0'],
  ])('tags %j give %s', (tags, version) => {
    expect(versionFor(tags, SHA)).toBe(version);
  });

  it('a required role is asked only when the policy names one and the approver\'s roles are known, and one is enough', () => {
    const run = { id: 7, startedBy: 'alice', status: 'waiting' as const, stage: 'approval' as const, attempt: 1 };
    const policy = { count: 1, roles: ['release-manager', 'sre'], distinctFromStarter: false };
    expect(approvalRefusal({ run, policy, actor: 'bob', roles: [], given: [] })).toBe('approving run #7 needs one of the roles release-manager, sre; bob has none');
    // A refused rejection says rejecting, not approving.
    expect(approvalRefusal({ run, policy, actor: 'bob', roles: [], given: [], decision: 'reject' })).toBe('rejecting run #7 needs one of the roles release-manager, sre; bob has none');
    expect(approvalRefusal({ run: { ...run, startedBy: 'bob' }, policy: { ...policy, roles: [], distinctFromStarter: true }, actor: 'bob', roles: [], given: [], decision: 'reject' }))
      .toBe('four eyes: bob started run #7 and may not reject it; another user must decide');
    expect(approvalRefusal({ run, policy, actor: 'bob', roles: ['dev', 'ops'], given: [] })).toBe('approving run #7 needs one of the roles release-manager, sre; bob has dev, ops');
    expect(approvalRefusal({ run, policy, actor: 'bob', roles: ['dev', 'sre'], given: [] })).toBeNull();
    expect(approvalRefusal({ run, policy, actor: 'bob', roles: null, given: [] })).toBeNull();
    expect(approvalRefusal({ run, policy: { ...policy, roles: [] }, actor: 'bob', roles: ['dev'], given: [] })).toBeNull();
  });

  it('another user\'s approval, or a rejection by the same user, does not count as approving twice', () => {
    const run = { id: 7, startedBy: 'alice', status: 'waiting' as const, stage: 'approval' as const, attempt: 1 };
    const policy = { count: 2, roles: [], distinctFromStarter: true };
    const record = (actor: string, decision: 'approve' | 'reject'): ApprovalRecord => ({ id: 0, runId: 7, actor, decision, reason: null, roles: null, at: 0, attempt: 1 });
    expect(approvalRefusal({ run, policy, actor: 'bob', roles: null, given: [record('carol', 'approve'), record('bob', 'reject')] })).toBeNull();
    expect(approvalRefusal({ run, policy, actor: 'bob', roles: null, given: [record('bob', 'approve')] }))
      .toBe('bob has already approved run #7; approvals must come from 2 different users');
  });

  it('a manifest keeps its lists in order and writes what is missing as null', () => {
    const m = { service: 's', version: '1', digest: 'sha256:x', commit: null, builtAt: 1, builder: 'b', tests: null, files: { a: '1' }, origin: 'build' as const, runId: 1 };
    expect(canonicalManifest(m)).toBe('{"builder":"b","builtAt":1,"commit":null,"digest":"sha256:x","files":{"a":"1"},"origin":"build","runId":1,"service":"s","tests":null,"version":"1"}');
    const withList = { ...m, tags: ['b', 'a'], extra: undefined } as unknown as typeof m;
    expect(canonicalManifest(withList)).toContain('"extra":null');
    expect(canonicalManifest(withList)).toContain('"tags":["b","a"]');
  });
});
