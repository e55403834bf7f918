// The HTTP API of the admin's policy: what each environment's slipway.yaml may ask
// of the host (listen addresses, secret sources, outbound URLs). Anyone may read
// it (a deployer needs to know the rules); only an admin changes it, audited.

import type { FastifyInstance } from 'fastify';
import { POLICY_DEFAULTS } from '../core/policy.ts';
import { parsePolicyText } from '../config/policy-file.ts';
import type { Engine, PolicyVersion } from '../engine/engine.ts';
import { policySetBody } from './schemas.ts';
import { actorOf, parse } from './request-input.ts';

/** The policy as the API answers it (GET and PUT alike). */
export function policyView(v: PolicyVersion | null) {
  return {
    version: v && { number: v.number, createdAt: v.createdAt, createdBy: v.createdBy },
    policy: v?.policy ?? { environments: {} },
    text: v?.text ?? '',
    defaults: POLICY_DEFAULTS,
  };
}

export function registerPolicyRoutes(app: FastifyInstance, engine: Engine): void {
  app.get('/api/policy', { config: { permission: 'read', summary: "the admin's host policy, and the defaults where it says nothing" } }, async () => policyView(engine.currentPolicy()));

  app.put('/api/policy', { config: { permission: 'admin', audit: 'policy.set', input: { body: policySetBody }, summary: "replace the admin's host policy (the whole file)" } }, async (req) => {
    const body = parse(policySetBody, req.body, 'body');
    req.auditNote = { target: 'policy' };
    // Checked whole before anything is stored: a bad file changes nothing.
    const policy = parsePolicyText(body.text, body.file);
    const version = engine.setPolicy({ policy, text: body.text, actor: actorOf(req.headers) });
    req.auditNote = { target: `policy v${version.number}`, details: { environments: Object.keys(policy.environments).sort() } };
    return policyView(version);
  });
}
