// The HTTP API of traffic gates: maintenance (the router answers every request of
// the environment 503 with a message) and traffic pauses (the router holds new
// requests for a while). Each needs the deploy permission in that environment,
// like a deploy, and is audited; the state shows in the environment's status.

import type { FastifyInstance } from 'fastify';
import type { Engine } from '../engine/engine.ts';
import { emptyBody, envParam } from './schemas.ts';
import { maintenanceOnBody, pauseTrafficBody } from './traffic-schemas.ts';
import { actorOf, parse } from './request-input.ts';
import type { TrafficGateJson } from './views.ts';

export function registerTrafficRoutes(app: FastifyInstance, engine: Engine): void {
  const gates = engine.traffic;

  app.post('/api/environments/:env/maintenance/on', { config: { permission: 'deploy', audit: 'maintenance.on', input: { params: envParam, body: maintenanceOnBody }, summary: 'answer every request of the environment 503 with a message; instances keep running' } }, async (req): Promise<TrafficGateJson> => {
    const { env } = parse(envParam, req.params, 'path');
    const body = parse(maintenanceOnBody, req.body, 'body');
    const a = await gates.maintenanceOn({ env, message: body.message, retryAfterSeconds: body.retryAfterSeconds, actor: actorOf(req.headers) });
    req.auditNote = { target: env, details: { message: a.maintenance?.message, retryAfterSeconds: a.maintenance?.retryAfterSeconds, changed: a.changed } };
    return a;
  });

  app.post('/api/environments/:env/maintenance/off', { config: { permission: 'deploy', audit: 'maintenance.off', input: { params: envParam, body: emptyBody }, summary: 'serve the environment again' } }, async (req): Promise<TrafficGateJson> => {
    const { env } = parse(envParam, req.params, 'path');
    parse(emptyBody, req.body, 'body');
    const a = await gates.maintenanceOff({ env, actor: actorOf(req.headers) });
    req.auditNote = { target: env, details: { changed: a.changed } };
    return a;
  });

  app.post('/api/environments/:env/traffic/pause', { config: { permission: 'deploy', audit: 'traffic.pause', input: { params: envParam, body: pauseTrafficBody }, summary: 'hold new requests of the environment for at most maxMs, then send them on in order' } }, async (req): Promise<TrafficGateJson> => {
    const { env } = parse(envParam, req.params, 'path');
    const body = parse(pauseTrafficBody, req.body, 'body');
    const a = await gates.pause({ env, maxMs: body.maxMs, queueLimit: body.queueLimit, actor: actorOf(req.headers) });
    req.auditNote = { target: env, details: { maxMs: body.maxMs, queueLimit: a.pause?.queueLimit } };
    return a;
  });

  app.post('/api/environments/:env/traffic/resume', { config: { permission: 'deploy', audit: 'traffic.resume', input: { params: envParam, body: emptyBody }, summary: 'send the requests a pause holds on now, in arrival order' } }, async (req): Promise<TrafficGateJson> => {
    const { env } = parse(envParam, req.params, 'path');
    parse(emptyBody, req.body, 'body');
    const a = await gates.resume({ env, actor: actorOf(req.headers) });
    req.auditNote = { target: env, details: { changed: a.changed } };
    return a;
  });
}
