// Rules that relate one environment to another, or to `run`. They read the raw
// parsed data (guarding every step) rather than the schema's output so that they
// still report when some unrelated field is malformed: fixing one error should
// not uncover another that was there all along.

import { listenersOverlap } from '../core/listen-overlap.ts';
import { formatListen } from '../core/service-config.ts';
import type { ListenAddress } from '../core/service-config.ts';
import { parseListen } from './fields.ts';
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
  const seen: { name: string; listen: ListenAddress }[] = [];
  // Document order, so the second of two clashing environments is the one blamed.
  for (const [name, value] of Object.entries(envs)) {
    const env = asMap(value);
    const listen = parseListen(env?.['listen']);
    if (listen !== null) {
      const other = seen.find((s) => listenersOverlap(s.listen, listen));
      if (other !== undefined) {
        issues.push({
          path: ['environments', name, 'listen'],
          at: 'value',
          message: `${formatListen(listen)} clashes with environment "${other.name}" (${formatListen(other.listen)}); each environment needs its own address`,
        });
      }
      seen.push({ name, listen });
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
