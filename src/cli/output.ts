// Human output of the CLI: status tables, rollout progress lines, errors.

import pc from 'picocolors';
import { isSlipwayError } from '../core/errors.ts';
import type { RolloutEventRecord } from '../core/records.ts';
import { isTerminal } from '../core/rollout.ts';
import type { EnvironmentStatus, RolloutView } from '../api/views.ts';

export function ago(ts: number | null, now = Date.now()): string {
  if (ts === null) return '-';
  const s = Math.max(0, Math.round((now - ts) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

const PHASE_COLOUR: Record<string, (s: string) => string> = {
  succeeded: pc.green, failed: pc.red, rolled_back: pc.yellow, aborting: pc.yellow, progressing: pc.cyan, pending: pc.cyan, paused: pc.magenta,
};

export function phase(p: string): string {
  return (PHASE_COLOUR[p] ?? ((s: string) => s))(p);
}

const STATE_COLOUR: Record<string, (s: string) => string> = {
  ready: pc.green, starting: pc.cyan, draining: pc.yellow, stopping: pc.yellow, failed: pc.red, stopped: pc.dim,
};

/**
 * Text an app or a deployer wrote (a log line, an event or rollout message that quotes
 * an instance's last log lines) as a terminal may show it: only colour (SGR: ESC [ … m)
 * and line breaks pass as written. Every other control character, the escape of a cursor move, a
 * screen clear, a window title or a clipboard write (OSC 52) among them, a CR
 * that would draw over the line, is shown as \xNN text instead, and a bidi
 * control (U+202A–U+202E, U+2066–U+2069) as \uNNNN.
 */
export function terminalSafe(text: string): string {
  return text.replace(/\x1b\[[0-9;:]*m|[\x00-\x08\x0b-\x1f\x7f-\x9f]|[\u202a-\u202e\u2066-\u2069]/g, (m) => {
    if (m.length > 1) return m;
    const code = m.charCodeAt(0);
    // Bidi embeddings, overrides and isolates reorder what follows them on the line
    // (a log line could show another instance's name, or a reason read backwards).
    return code > 0xff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\x${code.toString(16).padStart(2, '0')}`;
  });
}

const QUOTED_LOG = '; last log lines:\n';

/**
 * The log lines a failed instance's reason quotes, once: the step's failure, the
 * rollback and the rollout's end all carry the same reason, and a follower
 * printed its ten lines three or four times. `seen` holds the blocks shown so far
 * (one per command); a repeat is named, not shown.
 */
export function withoutRepeatedLog(text: string, seen: Set<string> | undefined): string {
  const at = text.indexOf(QUOTED_LOG);
  if (seen === undefined || at < 0) return text;
  const block = text.slice(at + QUOTED_LOG.length);
  if (!seen.has(block)) {
    seen.add(block);
    return text;
  }
  return `${text.slice(0, at)} (its last log lines are above)`;
}

export function formatEvent(e: RolloutEventRecord, seen?: Set<string>): string {
  const t = new Date(e.ts).toISOString().slice(11, 23);
  const colour = e.level === 'error' ? pc.red : e.level === 'warn' ? pc.yellow : (s: string) => s;
  return `${pc.dim(t)} ${colour(terminalSafe(withoutRepeatedLog(e.message, seen)))}`;
}

export function formatRolloutLine(r: RolloutView, seen?: Set<string>): string {
  const head = `rollout #${r.id} ${r.kind} → #${r.to} ${phase(r.phase)}`;
  // The reason may quote a failed instance's last log lines.
  const reason = r.reason ? ` — ${terminalSafe(withoutRepeatedLog(r.reason, seen))}` : '';
  if (isTerminal(r.phase)) return `${head}${reason}`;
  const steps = r.phase === 'aborting' ? r.abortSteps ?? [] : r.steps;
  const label = r.phase === 'aborting' ? 'restoring' : 'step';
  return `${head} ${label} ${Math.min(r.step + 1, steps.length)}/${steps.length}${r.current ? ` (${r.current})` : ''}${reason}`;
}

const WATCH_COLOUR: Record<string, (s: string) => string> = { watching: pc.cyan, passed: pc.green, rolled_back: pc.red, inconclusive: pc.yellow };

/** The watch window after the last rollout: what it compares with, and how it stands or ended. */
export function watchLine(w: NonNullable<EnvironmentStatus['watch']>, now = Date.now()): string {
  const state = (WATCH_COLOUR[w.state] ?? ((x: string) => x))(w.state.replace('_', ' '));
  const when = w.state === 'watching' ? `${Math.max(0, Math.round((w.until - now) / 1000))}s left` : `ended`;
  // An analysis's reason: it may quote a Prometheus server's error, or a query slipway.yaml wrote.
  const verdict = w.decision && w.reason ? `: ${w.decision} — ${terminalSafe(w.reason)}` : '';
  return `#${w.release} ${state} (${when}) against ${w.baseline.description}${verdict}`;
}

/**
 * A shadow step's verdict: the figures, the fields that differ, a few examples (masked
 * by the server). The examples quote the app's answers (a JSON key, a line of a text
 * body) and a client's request path: text from outside, shown through terminalSafe.
 */
function formatShadow(v: NonNullable<EnvironmentStatus['shadow']>): string[] {
  const colour = v.decision === 'fail' ? pc.red : v.decision === 'pass' ? pc.green : pc.yellow;
  const out = [`  shadow:   ${colour(v.decision)} — ${terminalSafe(v.reason)}`];
  const skipped = Object.entries(v.skipped).filter(([, n]) => n > 0).map(([why, n]) => `${n} ${why}`).join(', ');
  if (skipped) out.push(pc.dim(`            copies not compared: ${skipped}`));
  for (const e of v.examples) {
    out.push(terminalSafe(`            ${e.endpoint} ${e.field}: stable ${e.stable} → new ${e.candidate}  `) + pc.dim(terminalSafe(e.url)));
  }
  return out;
}

export function formatStatus(envs: EnvironmentStatus[]): string {
  if (envs.length === 0) return 'nothing deployed yet; try `slipway deploy staging`';
  const out: string[] = [];
  // Several services on one server: each one's environments under its name.
  const services = new Set(envs.map((s) => s.service));
  let shown: string | null | undefined;
  for (const s of envs) {
    if (services.size > 1 && s.service !== shown) {
      out.push(pc.dim(`service ${s.service ?? '(none)'}`));
      shown = s.service;
    }
    // Who deployed, took it down or paused it: names recorded from a request; a listen
    // error quotes the system. Neither is ours to trust with the terminal.
    const stable = s.stable ? `#${s.stable.number} (${s.stable.artefactDigest.slice(7, 19)}, deployed ${ago(s.stable.createdAt)} by ${terminalSafe(s.stable.createdBy)})` : 'none';
    out.push(`${pc.bold(s.env)}  ${s.listen ? `${s.tls ? 'https' : 'http'}://${s.listen}` : ''}${s.listenError ? pc.red(`  cannot listen: ${terminalSafe(s.listenError)}`) : ''}`);
    out.push(`  stable:   ${stable}`);
    // The runtime's words quote an address from the server's environment: not ours to trust with the terminal either.
    if (s.runtimeUnreachable) out.push(`  runtime:  ${pc.yellow(terminalSafe(s.runtimeUnreachable))}; instances keep their last known state and traffic`);
    if (s.down) out.push(`  ${pc.yellow('down')}      since ${new Date(s.down.at).toISOString()} by ${terminalSafe(s.down.by)}${s.down.release !== null ? ` (it ran #${s.down.release})` : ''}; \`slipway deploy ${s.env}\` in its service's directory brings it up`);
    if (s.rollout) {
      out.push(`  ${formatRolloutLine(s.rollout)}`);
      const steps = s.rollout.phase === 'aborting' ? s.rollout.abortSteps ?? [] : s.rollout.steps;
      steps.forEach((step, i) => {
        const mark = i < s.rollout!.step ? pc.green('✓') : i === s.rollout!.step ? pc.cyan('▶') : pc.dim('·');
        out.push(`    ${mark} ${i + 1}. ${i === s.rollout!.step ? step : pc.dim(step)}`);
      });
    }
    // terminalSafe as in watchLine: an analysis's reason may quote Prometheus.
    if (s.rollout && s.analysis) out.push(`  analysis: ${s.analysis.decision} — ${terminalSafe(s.analysis.reason)}`);
    else if (s.lastRollout) out.push(`  last:     ${formatRolloutLine(s.lastRollout)}, ended ${ago(s.lastRollout.finishedAt)}`);
    if (s.watch && !s.rollout) out.push(`  watch:    ${watchLine(s.watch)}`);
    if (s.shadow) out.push(...formatShadow(s.shadow));
    const dropped = s.recorded ? recordedDropsLine(s.recorded) : null;
    if (dropped) out.push(`  recorded: ${dropped}`);
    if (s.tls) out.push(...formatTls(s.tls));
    const weights = Object.entries(s.weights).map(([rel, w]) => `#${rel} ${Math.round(w * 10) / 10}%`).join(', ');
    out.push(`  traffic:  ${weights || pc.yellow('no ready instance')}${s.cluster?.traffic === 'gateway' ? pc.dim('  (HTTPRoute)') : ''}`);
    if (s.traffic?.maintenance) out.push(`  ${pc.yellow('maintenance')}: every request answered 503 since ${ago(s.traffic.maintenance.since)} (by ${terminalSafe(s.traffic.maintenance.by)}): "${terminalSafe(s.traffic.maintenance.message)}"`);
    if (s.traffic?.pause) out.push(`  ${pc.yellow('paused')}:   new requests held until ${new Date(s.traffic.pause.untilMs).toISOString().slice(11, 19)} UTC at the latest (by ${terminalSafe(s.traffic.pause.by)})`);
    if (s.cluster) {
      out.push(`  cluster:  namespace ${s.cluster.namespace}${s.cluster.context ? `, context ${s.cluster.context}` : ''}, traffic by ${s.cluster.traffic}`);
      for (const r of s.cluster.releases) {
        if (r.replicas === 0 && r.serving === 0) continue;
        const live = r.live ? `, now ${r.live.ready}/${r.live.pods} pod(s) Ready${r.live.restarts > 0 ? pc.yellow(`, ${r.live.restarts} restart(s)`) : ''}` : '';
        out.push(`    #${String(r.release).padEnd(4)} ${r.replicas} replica(s), ${r.serving} ready and serving${live}`);
      }
    }
    for (const i of s.instances) {
      const colour = STATE_COLOUR[i.state] ?? ((x: string) => x);
      out.push(`    ${i.id.padEnd(28)} #${String(i.release).padEnd(4)} ${colour(i.state.padEnd(9))} port ${i.port}  ${i.container ? `container ${i.container}` : `pid ${i.pid ?? '-'}`}${i.lastError ? pc.dim(`  ${terminalSafe(i.lastError.split('\n')[0]!)}`) : ''}`);
    }
    out.push('');
  }
  return out.join('\n').trimEnd();
}

/** Why the router's keeper dropped recorded lines, in the words of docs/replay.md's table. */
const DROPS: [outcome: string, why: string][] = [
  ['dropped_overflow', 'for newer ones'],
  ['dropped_stopped', 'after recording stopped'],
  ['dropped_write_failed', 'not written (see router.log)'],
];

/**
 * Replay's sample, shown only when the keeper dropped lines of it: how many were
 * kept and how many dropped, and why (the other outcomes are in /metrics and --json).
 */
function recordedDropsLine(recorded: Readonly<Record<string, number>>): string | null {
  const drops = DROPS.filter(([outcome]) => (recorded[outcome] ?? 0) > 0);
  if (drops.length === 0) return null;
  const dropped = drops.reduce((n, [outcome]) => n + recorded[outcome]!, 0);
  const why = drops.map(([outcome, text]) => {
    const part = `${recorded[outcome]} ${text}`;
    return outcome === 'dropped_write_failed' ? pc.red(part) : part;
  });
  return `${recorded['kept'] ?? 0} request(s) kept for replay, ${dropped} dropped since the router started: ${why.join(', ')}`;
}

/** Each certificate's names, issuer, issue date and expiry, then the last attempt to load or renew them. */
function formatTls(t: NonNullable<EnvironmentStatus['tls']>): string[] {
  const lines = t.certificates.length === 0 ? [`  tls:      ${pc.yellow(`no certificate yet (${t.source})`)}`] : [];
  t.certificates.forEach((c, i) => {
    const daysLeft = Math.floor((Date.parse(c.notAfter) - Date.now()) / 86_400_000);
    const expiry = `expires ${c.notAfter.slice(0, 16).replace('T', ' ')} UTC (${daysLeft < 0 ? pc.red('expired') : daysLeft < 1 ? pc.yellow('< 1 day') : `${daysLeft} days`})`;
    lines.push(`  ${i === 0 ? 'tls:     ' : '         '} ${terminalSafe(c.names.join(', '))}  issuer ${terminalSafe(c.issuer)}, issued ${c.notBefore.slice(0, 10)}, ${expiry}`);
  });
  const a = t.lastAttempt;
  // A failed load or renewal quotes a file's error or an ACME server's answer.
  const attempt = a === null ? 'none yet' : `${ago(Date.parse(a.at))}: ${a.ok ? pc.green('ok') : pc.red(`failed: ${terminalSafe(a.error ?? '')}`)}`;
  lines.push(`            last ${t.source === 'acme' ? 'renewal' : 'load'} attempt ${attempt}${t.renewAt ? `; next renewal ${t.renewAt.slice(0, 16).replace('T', ' ')} UTC` : ''}`);
  return lines;
}

/**
 * A failed system call (EISDIR, EACCES, ENOSPC...) is about the machine, not a bug
 * in slipway: its message names the call (and mostly the path), and a stack trace
 * would bury it.
 */
function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).syscall === 'string' && typeof (e as NodeJS.ErrnoException).code === 'string';
}

/**
 * JSON output keeps the message exact (a program reads it, and JSON escapes every
 * control character). The terminal gets it through terminalSafe: a message may quote
 * an app's output (a failed build's last lines), escapes and all.
 */
export function printError(e: unknown, json: boolean): void {
  if (json) {
    const body = isSlipwayError(e) ? { code: e.code, message: e.message, details: e.details } : { code: 'E_INTERNAL', message: (e as Error).message };
    process.stdout.write(`${JSON.stringify({ error: body })}\n`);
    return;
  }
  if (isSlipwayError(e)) process.stderr.write(`${pc.red('error')} ${pc.dim(`[${e.code}]`)} ${terminalSafe(e.message)}\n`);
  else if (isSystemError(e)) process.stderr.write(`${pc.red('error')} ${terminalSafe(e.message)}\n`);
  else process.stderr.write(`${pc.red('error')} ${terminalSafe((e as Error).stack ?? String(e))}\n`);
}
