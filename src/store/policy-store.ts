// The admin's host policy in state.db: each `slipway policy set` is the next
// version; the newest holds. The JSON is checked as it is read, like every column
// that holds JSON: a policy that does not parse is refused, never taken as empty.

import { z } from 'zod';
import { SlipwayError } from '../core/errors.ts';
import { EMPTY_POLICY, type HostPolicy } from '../core/policy.ts';
import type { Db } from './open-database.ts';

export interface PolicyVersion {
  number: number;
  policy: HostPolicy;
  /** The file as the admin wrote it. */
  text: string;
  createdAt: number;
  createdBy: string;
}

const patterns = z.array(z.string());
const storedPolicy = z.strictObject({
  environments: z.record(z.string(), z.strictObject({
    listen: patterns.nullable(),
    hosts: patterns.nullable(),
    secrets: z.strictObject({ env: patterns, vault: patterns, file: patterns }),
    outbound: z.strictObject({ allow: patterns, public: z.boolean().nullable() }),
  })),
});

type Row = Record<string, unknown>;

function toVersion(r: Row): PolicyVersion {
  let policy: HostPolicy;
  try {
    policy = storedPolicy.parse(JSON.parse(String(r.policy_json)));
  } catch (e) {
    throw new SlipwayError('E_STATE_CORRUPT', `state.db holds an unreadable policy (version ${String(r.number)}); set it again with slipway policy set`, {}, { cause: e });
  }
  return { number: Number(r.number), policy, text: String(r.text), createdAt: Number(r.created_at), createdBy: String(r.created_by) };
}

export class PolicyStore {
  constructor(private readonly db: Db) {}

  /** The policy that holds now; null when the admin has never set one (the defaults hold). */
  latest(): PolicyVersion | null {
    const r = this.db.prepare('SELECT * FROM policy_versions ORDER BY number DESC LIMIT 1').get() as Row | undefined;
    return r ? toVersion(r) : null;
  }

  current(): HostPolicy {
    return this.latest()?.policy ?? EMPTY_POLICY;
  }

  insert(v: Omit<PolicyVersion, 'number'>): PolicyVersion {
    const info = this.db.prepare('INSERT INTO policy_versions (policy_json, text, created_at, created_by) VALUES (?, ?, ?, ?)')
      .run(JSON.stringify(v.policy), v.text, v.createdAt, v.createdBy);
    return { ...v, number: Number(info.lastInsertRowid) };
  }
}
