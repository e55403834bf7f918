// What the CLI prints for a rollout and for times, without a server.

import { describe, expect, it } from 'vitest';
import type { EnvironmentStatus, RolloutView } from '../api/views.ts';
import { demoFailureLine } from './demo.ts';
import { ago, formatRolloutLine, formatStatus } from './output.ts';

const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

const base: RolloutView = {
  id: 7, env: 'production', kind: 'deploy', phase: 'progressing', from: 1, to: 2, step: 2,
  steps: ['#2 to 1 instance(s)', 'traffic #1 80%, #2 20%', 'pause 5m', 'traffic #2 100%', '#1 to 0 instance(s)'],
  abortSteps: null, current: 'pause 5m', traffic: { 1: 80, 2: 20 }, preview: null, reason: null, createdBy: 'alice', createdAt: 0, finishedAt: null,
};

describe('cli output', () => {
  it('a rollout under way shows its step out of all and what the step does', () => {
    expect(plain(formatRolloutLine(base))).toBe('rollout #7 deploy → #2 progressing step 3/5 (pause 5m)');
  });

  it('an aborting rollout counts the steps of the way back, not of the plan', () => {
    const r = { ...base, phase: 'aborting', step: 0, abortSteps: ['#1 to 2 instance(s)', '#2 to 0 instance(s)'], current: '#1 to 2 instance(s)', reason: 'analysis failed: error_rate' };
    expect(plain(formatRolloutLine(r))).toBe('rollout #7 deploy → #2 aborting restoring 1/2 (#1 to 2 instance(s)) — analysis failed: error_rate');
  });

  it('a finished rollout shows how it ended and why, with no step that never ran', () => {
    const r = { ...base, phase: 'rolled_back', reason: 'abort by ops', finishedAt: 10 };
    expect(plain(formatRolloutLine(r))).toBe('rollout #7 deploy → #2 rolled_back — abort by ops');
  });

  it('times read as a person says them', () => {
    const now = 1_000_000_000;
    expect(ago(null, now)).toBe('-');
    expect(ago(now - 42_000, now)).toBe('42s ago');
    expect(ago(now - 5 * 60_000, now)).toBe('5m ago');
    expect(ago(now - 3 * 3600_000, now)).toBe('3h ago');
    expect(ago(now - 2 * 86400_000, now)).toBe('2d ago');
    expect(ago(now + 5000, now)).toBe('0s ago');
  });
});

// What an app, a Prometheus server or a client may put in text the CLI quotes: a window
// title (OSC 0), a screen clear, a carriage return that would draw over the line.
const HOSTILE = '\x1b]0;owned\x07\x1b[2Jgone\rspoof';
const SHOWN = '\\x1b]0;owned\\x07\\x1b[2Jgone\\x0dspoof';

/** Output with its own colours taken out: anything the terminal would still act on is left. */
const actedOn = (s: string) => /[\x00-\x08\x0b-\x1f\x7f-\x9f]/.test(plain(s));

describe('text from outside in human output', () => {
  const env = (o: Partial<EnvironmentStatus>): EnvironmentStatus => ({
    env: 'shop/production', service: 'shop', name: 'production', listen: '127.0.0.1:8080', listenError: null, preview: null,
    stable: null, rollout: null, lastRollout: null, instances: [], weights: { 1: 100 }, cluster: null, ...o,
  });

  it('status shows the analysis and watch reasons, the shadow verdict and its examples, and a maintenance message as text', () => {
    const rolling = env({
      rollout: base,
      analysis: { decision: 'inconclusive', checks: [], reason: `Prometheus refused "up": ${HOSTILE}` },
      shadow: {
        decision: 'fail', reason: `1 field differs: ${HOSTILE}`, compared: 20, differing: 20, diffRate: 1, maxDiffRate: 0.01, fields: [],
        examples: [{ endpoint: 'GET /api/motd', url: `/api/motd/${HOSTILE}`, field: `/body/${HOSTILE}`, stable: 'hello', candidate: HOSTILE }],
        skipped: { inflight: 0, bodyTooLarge: 0, failed: 0, noBackend: 0 },
      },
      traffic: { maintenance: { message: HOSTILE, retryAfterSeconds: 120, since: Date.now(), by: 'alice' }, pause: null },
    });
    const watched = env({
      env: 'shop/staging', name: 'staging',
      watch: { rolloutId: 3, release: 2, previous: 1, state: 'rolled_back', startedAt: 0, until: 1, baseline: { kind: 'before-rollout', description: 'release #1' }, maxErrorRate: 1, decision: 'fail', reason: HOSTILE },
    });
    const text = plain(formatStatus([rolling, watched]));
    expect(text).toContain(`analysis: inconclusive — Prometheus refused "up": ${SHOWN}`);
    expect(text).toContain(`shadow:   fail — 1 field differs: ${SHOWN}`);
    expect(text).toContain(`GET /api/motd /body/${SHOWN}: stable hello → new ${SHOWN}  /api/motd/${SHOWN}`);
    expect(text).toContain(`(by alice): "${SHOWN}"`);
    expect(text).toContain(`watch:    #2 rolled back (ended) against release #1: fail — ${SHOWN}`);
    expect(actedOn(formatStatus([rolling, watched]))).toBe(false);
  });

  it('status shows who deployed, took down or paused it, a listen error and a TLS failure as text', () => {
    const stable = {
      id: 1, env: 'shop/production', number: 1, service: 'shop', artefactDigest: `sha256:${'a'.repeat(64)}`, configHash: `sha256:${'b'.repeat(64)}`,
      configVersion: null, createdAt: Date.now(), createdBy: `ci-${HOSTILE}`, instances: 1, strategy: 'rolling',
    };
    const s = env({
      stable, listenError: `listen EADDRINUSE ${HOSTILE}`,
      down: { at: 0, by: `bob-${HOSTILE}`, release: 1 },
      traffic: { maintenance: null, pause: { untilMs: Date.now() + 60_000, maxMs: 60_000, queueLimit: 10, since: Date.now(), by: `carol-${HOSTILE}` } },
      tls: {
        source: 'acme', certificates: [{ names: [`shop.test${HOSTILE}`], issuer: `CN=${HOSTILE}`, notBefore: '2026-01-01T00:00:00Z', notAfter: '2099-01-01T00:00:00Z', fingerprint256: 'AA' }],
        lastAttempt: { at: new Date().toISOString(), ok: false, error: `ACME said: ${HOSTILE}` },
      },
    });
    const text = plain(formatStatus([s]));
    expect(text).toContain(`deployed 0s ago by ci-${SHOWN})`);
    expect(text).toContain(`cannot listen: listen EADDRINUSE ${SHOWN}`);
    expect(text).toContain(`by bob-${SHOWN} (it ran #1)`);
    expect(text).toContain(`(by carol-${SHOWN})`);
    expect(text).toContain(`failed: ACME said: ${SHOWN}`);
    expect(text).toContain(`shop.test${SHOWN}  issuer CN=${SHOWN}`);
    expect(actedOn(formatStatus([s]))).toBe(false);
  });

  it('a demo that fails shows the error\'s message as text', () => {
    expect(plain(demoFailureLine(new Error(`deploy refused: ${HOSTILE}`)))).toBe(`demo failed: deploy refused: ${SHOWN}`);
    expect(actedOn(demoFailureLine(new Error(HOSTILE)))).toBe(false);
  });
});

describe("replay's sample in status", () => {
  const env = (recorded: EnvironmentStatus['recorded']): EnvironmentStatus => ({
    env: 'shop/production', service: 'shop', name: 'production', listen: '127.0.0.1:8080', listenError: null, preview: null,
    stable: null, rollout: null, lastRollout: null, instances: [], weights: { 1: 100 }, cluster: null, recorded,
  });
  const counts = { kept: 1840, too_large: 312, not_text: 0, too_slow: 0, queue_full: 0, thread_failed: 0, dropped_overflow: 0, dropped_stopped: 0, dropped_write_failed: 0 };

  it('says nothing of it while the keeper dropped none, whatever the workers did not record', () => {
    for (const recorded of [undefined, null, counts, { kept: 3, too_large: 1, not_text: 0, too_slow: 0, queue_full: 0, thread_failed: 0 }]) {
      expect(plain(formatStatus([env(recorded)]))).not.toContain('recorded:');
    }
  });

  it('shows how many recorded requests were kept and dropped, and why, once any was dropped', () => {
    const text = plain(formatStatus([env({ ...counts, dropped_overflow: 95, dropped_write_failed: 7 })]));
    expect(text).toContain('  recorded: 1840 request(s) kept for replay, 102 dropped since the router started: 95 for newer ones, 7 not written (see router.log)');
    expect(plain(formatStatus([env({ ...counts, dropped_stopped: 4 })]))).toContain('  recorded: 1840 request(s) kept for replay, 4 dropped since the router started: 4 after recording stopped');
  });
});
