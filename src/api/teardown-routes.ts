// The HTTP API of `slipway down` and `slipway remove`.
//
// Who may: down needs the deploy permission in the environment (a deployer who may
// put a release there may take it out of service, and a deploy brings it back);
// remove needs admin, in every environment alike, production or not: it forgets
// releases, config versions and secrets for good, which no deploy gives back.

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Engine } from '../engine/engine.ts';
import type { DownAnswerJson, RemoveAnswerJson } from './views.ts';
import { actorOf, parse } from './request-input.ts';
import { emptyBody, envParam } from './schemas.ts';

/** DELETE takes no body; a query it does not know is refused, not ignored. */
const noQuery = z.strictObject({});

export function registerTeardownRoutes(app: FastifyInstance, engine: Engine): void {
  app.post('/api/environments/:env/down', {
    config: { permission: 'deploy', audit: 'environment.down', input: { params: envParam, body: emptyBody }, summary: 'stop every instance of the environment and release its listener; its history stays, a deploy brings it up' },
  }, async (req): Promise<DownAnswerJson> => {
    const { env } = parse(envParam, req.params, 'path');
    parse(emptyBody, req.body, 'body');
    req.auditNote = { target: env };
    const answer = await engine.teardown.down({ env, actor: actorOf(req.headers) });
    req.auditNote = { target: env, details: { changed: answer.changed, release: answer.down.release, stopped: answer.stopped.length } };
    return answer;
  });

  app.delete('/api/environments/:env', {
    config: { permission: 'admin', audit: 'environment.remove', input: { params: envParam, query: noQuery }, summary: 'take the environment down, then forget its releases, rollouts, config versions and secrets (audit entries stay)' },
  }, async (req): Promise<RemoveAnswerJson> => {
    const { env } = parse(envParam, req.params, 'path');
    // Nothing is removed on a request that carries anything unexpected.
    parse(noQuery, req.query, 'query');
    req.auditNote = { target: env };
    const answer = await engine.teardown.remove({ env, actor: actorOf(req.headers) });
    req.auditNote = { target: env, details: { ...answer.forgotten, stopped: answer.stopped.length } };
    return answer;
  });
}
