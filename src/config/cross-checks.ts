// Rules that relate one environment to another, or to `run`. They read the raw
// parsed data (guarding every step) rather than the schema's output so that they
// still report when some unrelated field is malformed: fixing one error should
// not uncover another that was there all along.

import { findListenClash, isRoutedByHost, isSameListener, type ListenerUse } from '../core/listen-overlap.ts';
import { formatListen } from '../core/service-config.ts';
import { parseListen } from './fields.ts';
import { parseHostPattern, parsePathPrefix } from './hosts-section.ts';
import type { PathIssue } from './path-issue.ts';

function asMap(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

export function checkAcrossEnvironments(data: unknown, defaultPortEnv: string): PathIssue[] {
  const root = asMap(data);
  const envs = asMap(root?.['environments']);
  if (root === null || envs === null) return [];
  const writtenPortEnv = asMap(root['run'])?.['port_env'];
  const portEnv = typeof writtenPortEnv === 'string' ? writtenPortEnv : defaultPortEnv;

  const issues: PathIssue[] = [];
  const seen: { name: string; use: ListenerUse }[] = [];
  // Document order, so the second of two clashing environments is the one blamed.
  for (const [name, value] of Object.entries(envs)) {
    const env = asMap(value);
    const use = listenerUseOf(env);
    if (use !== null) {
      const issue = listenIssue(name, use, seen);
      if (issue !== null) issues.push(issue);
      seen.push({ name, use });
    }
    const config = asMap(env?.['config']);
    if (config !== null && Object.hasOwn(config, portEnv)) {
      issues.push({
        path: ['environments', name, 'config', portEnv],
        at: 'key',
        message: `${portEnv} is set by slipway to each instance's port (run.port_env); remove it here or set run.port_env to another name`,
      });
    }
    const secrets = asMap(env?.['secrets']);
    for (const key of Object.keys(secrets ?? {})) {
      if (key === portEnv) {
        issues.push({ path: ['environments', name, 'secrets', key], at: 'key', message: `${portEnv} is set by slipway to each instance's port (run.port_env); name the secret otherwise` });
      } else if (config !== null && Object.hasOwn(config, key)) {
        // One name, one value: an instance cannot get both.
        issues.push({ path: ['environments', name, 'secrets', key], at: 'key', message: `${key} is also a plain value under config; keep it in one place (a secret, if it is one)` });
      }
    }
  }
  return issues;
}

/** The environment's listen address with its hosts and path prefix, as far as they are valid; null without a valid listen. */
function listenerUseOf(env: Record<string, unknown> | null): ListenerUse | null {
  const address = parseListen(env?.['listen']);
  if (address === null) return null;
  const written = env?.['hosts'];
  const hosts = Array.isArray(written) ? written.map(parseHostPattern).flatMap((h) => ('host' in h ? [h.host] : [])) : [];
  // Hosts written, none valid: that is the problem to report (the schema does), not a listen clash it would cause.
  if (Array.isArray(written) && written.length > 0 && hosts.length === 0) return null;
  const prefix = parsePathPrefix(env?.['path_prefix']);
  return { address, ...(hosts.length > 0 ? { hosts } : {}), ...('path' in prefix ? { pathPrefix: prefix.path } : {}) };
}

/** The first earlier environment whose listener this one's clashes with, as an issue at the key to change. */
function listenIssue(name: string, use: ListenerUse, seen: { name: string; use: ListenerUse }[]): PathIssue | null {
  for (const other of seen) {
    const clash = findListenClash(use, other.use);
    if (clash === null) continue;
    if (clash.kind === 'route') {
      const i = (use.hosts ?? []).findIndex((h) => h === clash.host);
      return {
        path: ['environments', name, 'hosts', i],
        at: 'value',
        message: `host ${clash.host} with path prefix ${clash.pathPrefix} on ${formatListen(use.address)} is also environment "${other.name}"'s; environments on one listener need different hosts or path prefixes`,
      };
    }
    const why = !isSameListener(use.address, other.use.address)
      ? 'each environment needs its own address (environments routed by hosts: share one only when each writes the same address)'
      : `environments share an address only when each names hosts: (${isRoutedByHost(use) ? `"${other.name}"` : `"${name}"`} does not)`;
    return {
      path: ['environments', name, 'listen'],
      at: 'value',
      message: `${formatListen(use.address)} clashes with environment "${other.name}" (${formatListen(other.use.address)}); ${why}`,
    };
  }
  return null;
}
