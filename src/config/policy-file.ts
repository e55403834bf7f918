// The admin's policy file (`slipway policy set policy.yaml`): read and checked
// whole, every problem named as file:line:col and key, before anything is stored.
//
//   environments:
//     '*':                      # every environment
//       outbound: { allow: ['https://hooks.slack.com/**'] }
//     staging:                  # staging of every service (shop/staging: one service's)
//       listen: ['127.0.0.1:8000-8099']
//       hosts: ['*.staging.example.com']
//       secrets: { env: ['SLIPWAY_SECRET_SHARED_*'], vault: ['shared/**'], file: ['/run/secrets/staging/*'] }
//       outbound: { allow: ['http://127.0.0.1:9090'], public: true }

import { z } from 'zod';
import { LineCounter, parseDocument } from 'yaml';
import { SlipwayError } from '../core/errors.ts';
import { EVERY_ENVIRONMENT, type EnvironmentPolicy, type HostPolicy } from '../core/policy.ts';
import { ENV_REFERENCE_PATTERN } from '../core/env-key.ts';
import { field, matching, refusal } from './fields.ts';
import type { ConfigIssue } from './load-config.ts';
import { section } from './section.ts';
import { formatPath, offsetOfPath } from './yaml-locate.ts';

const list = <T extends z.ZodType>(item: T, what: string) =>
  z.preprocess((v) => (v === null ? [] : v), z.array(item, { error: (iss) => refusal(`a list of ${what}`, iss.input) }));

const listenPattern = matching('host:port, where host may be * and port *, a number or a range such as 8000-8099 (e.g. 127.0.0.1:8000-8099, [::1]:*)', /^(\[[0-9a-fA-F:.]+\]|\*|[0-9a-zA-Z.-]+):(\*|\d{1,5}|\d{1,5}-\d{1,5})$/);
const hostPattern = matching('a host name, with * for one label or ** for several (e.g. *.staging.example.com)', /^[a-z0-9*?][a-z0-9*?.-]*$/);
const envPattern = matching('a variable name, with * for any characters (e.g. SLIPWAY_SECRET_SHARED_*)', /^[A-Za-z0-9_*?]+$/);
const vaultPattern = matching('a Vault path, with * for one segment or ** for several, optionally mount:path (e.g. shared/**, kv:staging/**)', /^([A-Za-z0-9_.*\/-]+:)?[A-Za-z0-9_.*?-]+(\/[A-Za-z0-9_.*?-]+)*$/);
const filePattern = field('an absolute path, with * for one segment or ** for several (e.g. /run/secrets/staging/*)', (v) =>
  typeof v === 'string' && /^\/\S+$/.test(v) && !v.split('/').some((s) => s === '.' || s === '..') ? v : null);
const urlPattern = matching('an http(s) URL pattern, e.g. https://hooks.example.com/**, http://127.0.0.1:9090 or http://*.internal:* (scheme may be *)', /^(https?|\*):\/\/(\[[0-9a-fA-F:.]+\]|[^/:\s]+)(:(\d{1,5}|\*))?(\/\S*)?$/);
const bool = field('true or false', (v) => (typeof v === 'boolean' ? v : null));

const environmentLevel = section({
  listen: list(listenPattern, 'host:port patterns').optional(),
  hosts: list(hostPattern, 'host name patterns').optional(),
  secrets: section({
    env: list(envPattern, 'variable name patterns').optional(),
    vault: list(vaultPattern, 'Vault path patterns').optional(),
    file: list(filePattern, 'file path patterns').optional(),
  }).optional(),
  outbound: section({
    allow: list(urlPattern, 'URL patterns').optional(),
    public: bool.optional(),
  }).optional(),
}).transform((l): EnvironmentPolicy => ({
  listen: l.listen ?? null,
  hosts: l.hosts ?? null,
  secrets: { env: l.secrets?.env ?? [], vault: l.secrets?.vault ?? [], file: l.secrets?.file ?? [] },
  outbound: { allow: l.outbound?.allow ?? [], public: l.outbound?.public ?? null },
}));

const levelKey = z.string().refine((k) => k === EVERY_ENVIRONMENT || ENV_REFERENCE_PATTERN.test(k), {
  error: (iss) => refusal(`an environment name (e.g. staging, for that environment of every service), one service's environment (e.g. shop/staging) or '${EVERY_ENVIRONMENT}' for every environment`, iss.input),
});

export const hostPolicySchema = section({
  environments: z.preprocess(
    (v) => (v === null ? {} : v),
    z.record(levelKey, z.preprocess((v) => (v === null ? {} : v), environmentLevel), { error: (iss) => refusal('a map of environment names to their rules', iss.input) }),
  ).prefault({}),
}).transform((p): HostPolicy => ({ environments: p.environments }));

/** The policy in a file's text, or E_CONFIG_INVALID naming each problem as file:line:col key: message. */
export function parsePolicyText(text: string, file: string): HostPolicy {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const issue = (offset: number, path: (string | number)[], message: string): ConfigIssue => {
    const { line, col } = lineCounter.linePos(Math.min(offset, text.length));
    return { file, line, col, path: formatPath(path), message };
  };
  const issues = policyIssues(doc, issue);
  if (!Array.isArray(issues)) return issues;
  throw new SlipwayError('E_CONFIG_INVALID', `the policy was not changed:\n${issues.map((i) => `${i.file}:${i.line}:${i.col} ${i.path || '(top)'}: ${i.message}`).join('\n')}`, { issues });
}

type IssueAt = (offset: number, path: (string | number)[], message: string) => ConfigIssue;

function policyIssues(doc: ReturnType<typeof parseDocument>, issue: IssueAt): ConfigIssue[] | HostPolicy {
  if (doc.errors.length > 0) return [issue(doc.errors[0]!.pos[0], [], `invalid YAML: ${doc.errors[0]!.message.split('\n')[0]}`)];
  let data: unknown;
  try {
    data = doc.toJS() ?? {};
  } catch (e) {
    // The yaml package refuses alias bombs here.
    return [issue(0, [], `cannot be read: ${(e as Error).message}`)];
  }
  const parsed = hostPolicySchema.safeParse(data, { error: (iss) => (iss.code === 'invalid_type' ? refusal(`a ${iss.expected}`, iss.input) : undefined) });
  if (parsed.success) return parsed.data;
  return parsed.error.issues.map((iss) => {
    const path = iss.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    const at = iss.code === 'invalid_key' || (iss.code === 'custom' && iss.params?.['at'] === 'key') ? 'key' : 'value';
    const message = iss.code === 'invalid_key' ? iss.issues.map((i) => i.message).join('; ') : iss.message;
    return issue(offsetOfPath(doc, { path, at }), path, message);
  }).sort((a, b) => a.line - b.line || a.col - b.col);
}
