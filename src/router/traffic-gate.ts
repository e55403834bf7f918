// What stands between an environment's listener and its backends when an operator
// closes the door: maintenance (every request answered 503 with Retry-After and a
// message, HTML for browsers and JSON for the rest) and a traffic pause (new
// requests held, in arrival order, until the pause is lifted or its deadline
// passes, then sent on as if they had just arrived). Instances keep running behind
// both: the server's health probes go to them directly, never through here, and
// ACME challenges are answered before a request reaches its environment.
//
// Only gated requests pay for any of this: the listener checks two fields of the
// route and calls in here only when one is set.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { EnvRoute } from './env-route.ts';
import { hasRequestBody, writeRawAnswer, type RouterAnswer } from './router-answers.ts';
import { sendAnswer } from './proxy.ts';
import { prefersHtml, type MaintenanceAnswers } from './traffic-hold.ts';

/** A request's answer while in maintenance; a body it sent is not read, so its connection closes. */
function maintenanceAnswerFor(m: MaintenanceAnswers, req: IncomingMessage): RouterAnswer {
  const a = prefersHtml(req.headers.accept) ? m.html : m.json;
  return hasRequestBody(req) ? { ...a, headers: [...a.headers, 'connection', 'close'] } : a;
}

function queueFullAnswer(o: { queueLimit: number; retryAfterSeconds: number }): RouterAnswer {
  const body = Buffer.from(JSON.stringify({
    error: 'hold_queue_full',
    limit: 'queue_limit',
    queueLimit: o.queueLimit,
    message: `traffic to this environment is paused and ${o.queueLimit} requests already wait; retry in ${o.retryAfterSeconds}s (slipway pause-traffic --queue-limit)`,
  }) + '\n');
  return { status: 503, headers: ['content-type', 'application/json', 'content-length', String(body.length), 'retry-after', String(o.retryAfterSeconds), 'cache-control', 'no-store'], body };
}

/**
 * A request for an environment in maintenance or paused (the listener checked
 * `route.maintenance` and `route.hold.isHolding`): answered, or held. A held one
 * comes back here when the pause ends, so one released into maintenance (turned
 * on meanwhile) gets its 503; otherwise `proceed` proxies it as if it had just
 * arrived (its latency is counted from then: time held is the operator's, not
 * the release's).
 */
export function gateRequest(route: EnvRoute, req: IncomingMessage, res: ServerResponse, proceed: () => void): void {
  if (route.maintenance !== null) {
    route.counters.maintenance++;
    sendAnswer(res, maintenanceAnswerFor(route.maintenance, req));
    return;
  }
  const hold = route.hold;
  if (!hold.isHolding) {
    proceed();
    return;
  }
  const refuse = (): void => sendAnswer(res, withClose(queueFullAnswer({ queueLimit: hold.limit, retryAfterSeconds: hold.retryAfterSeconds() }), req));
  const isAdmitted = hold.admit(() => {
    if (!res.destroyed) gateRequest(route, req, res, proceed);
  }, (forget) => res.once('close', forget), () => refuseLater(route, refuse));
  countHold(route, isAdmitted);
  if (!isAdmitted) refuse();
}

/** The same for an upgrade request (a WebSocket): answered on its raw socket, or held. */
export function gateUpgrade(route: EnvRoute, req: IncomingMessage, socket: Duplex, proceed: () => void): void {
  if (route.maintenance !== null) {
    route.counters.maintenance++;
    writeRawAnswer(socket, prefersHtml(req.headers.accept) ? route.maintenance.html : route.maintenance.json);
    return;
  }
  const hold = route.hold;
  if (!hold.isHolding) {
    proceed();
    return;
  }
  const refuse = (): void => writeRawAnswer(socket, queueFullAnswer({ queueLimit: hold.limit, retryAfterSeconds: hold.retryAfterSeconds() }));
  const isAdmitted = hold.admit(() => {
    if (!socket.destroyed) gateUpgrade(route, req, socket, proceed);
  }, (forget) => socket.once('close', forget), () => refuseLater(route, refuse));
  countHold(route, isAdmitted);
  if (!isAdmitted) refuse();
}

/** Held, then refused because the router's workers together hold the queue limit (traffic-hold.ts). */
function refuseLater(route: EnvRoute, refuse: () => void): void {
  route.counters.held--;
  route.counters.holdQueueFull++;
  refuse();
}

function countHold(route: EnvRoute, isAdmitted: boolean): void {
  if (isAdmitted) route.counters.held++;
  else route.counters.holdQueueFull++;
}

function withClose(a: RouterAnswer, req: IncomingMessage): RouterAnswer {
  return hasRequestBody(req) ? { ...a, headers: [...a.headers, 'connection', 'close'] } : a;
}
