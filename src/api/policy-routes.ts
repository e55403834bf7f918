// The HTTP API of the admin's policy: what each environment's slipway.yaml may ask
// of the host (listen addresses, secret sources, outbound URLs).

import type { FastifyInstance } from 'fastify';
import type { Engine } from '../engine/engine.ts';

export function registerPolicyRoutes(_app: FastifyInstance, _engine: Engine): void {
  // Filled in by the policy work (issue 19, H3/H4).
}
