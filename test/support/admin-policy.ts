// The admin's host policy for end-to-end tests whose services call things on
// loopback (a webhook receiver, a Prometheus) or read secrets outside their
// environment's default scope: by default a deploy of such a slipway.yaml is
// refused E_POLICY_DENIED (issue 19), so the test first allows what it needs, as
// an admin would, with `slipway policy set` and the data directory's admin.token.

import { runCli } from './harness.ts';

export async function allowInPolicy(o: { cwd: string; dataDir: string; yaml: string }): Promise<void> {
  const r = await runCli(['policy', 'set', '-'], { cwd: o.cwd, dataDir: o.dataDir, input: o.yaml });
  if (r.code !== 0) throw new Error(`slipway policy set failed (${r.code}): ${r.stdout}${r.stderr}`);
}

/** Every environment may call anything on loopback (receivers and Prometheus started by the test). */
export const LOOPBACK_ALLOWED = "environments:\n  '*':\n    outbound:\n      allow: ['http://127.0.0.1:*', 'http://localhost:*']\n";
