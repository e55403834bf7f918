// One router worker: a process that proxies traffic on listening sockets it shares
// with the other workers (router-workers.ts). It has no admin API and no secret: its
// keeper, the process that forked it, steers it over the IPC channel alone, with
// the messages below. When the keeper goes, the worker goes too, so that a router
// started afresh finds the ports free.

import { errorMessage, isSlipwayError } from '../core/errors.ts';
import { parseRouteTable, type RouteTable } from './route-table.ts';
import { Router } from './router.ts';
import { RecordBatcher } from './shadow/replay-recorder.ts';
import type { HoldSlots } from './traffic-hold.ts';

export type WorkerRequest =
  | { id: number; op: 'put'; table: RouteTable }
  /** Validates a pushed table with this worker's schema: after an upgrade it is newer than the keeper's. */
  | { id: number; op: 'check'; table: unknown }
  | { id: number; op: 'stats' }
  | { id: number; op: 'status' }
  | { id: number; op: 'inflight'; backend: string }
  | { id: number; op: 'drain'; backend: string; timeoutMs: number }
  | { id: number; op: 'close'; graceMs: number };

/** The keeper's answer to a worker's `slot` request. */
export interface SlotAnswer {
  op: 'slot-answer';
  slotId: number;
  isGranted: boolean;
}

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: string }
  /** A slot of a pause's queue limit, which the workers share (traffic-hold.ts). */
  | { type: 'slot'; slotId: number; env: string; untilMs: number; queueLimit: number }
  | { type: 'unslot'; env: string; untilMs: number }
  /** Requests recorded for replay, anonymised, one JSON line each: the keeper writes them (shadow/replay-store.ts). */
  | { type: 'record'; env: string; lines: string[] };

interface WorkerLog {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
}

export function runRouterWorker(log: WorkerLog): void {
  let isClosing = false;
  const reply = (m: WorkerMessage, then?: () => void): void => {
    if (process.connected) process.send!(m, undefined, {}, () => then?.());
  };
  const slotWaiters = new Map<number, (isGranted: boolean) => void>();
  let nextSlotId = 1;
  const holdSlots = (env: string): HoldSlots => ({
    acquire: ({ untilMs, queueLimit }) =>
      new Promise((resolve, reject) => {
        if (!process.connected) return reject(new Error('no keeper'));
        const slotId = nextSlotId++;
        slotWaiters.set(slotId, resolve);
        reply({ type: 'slot', slotId, env, untilMs, queueLimit });
      }),
    release: ({ untilMs }) => reply({ type: 'unslot', env, untilMs }),
  });
  const recorded = new RecordBatcher((env, lines) => reply({ type: 'record', env, lines }));
  const router = new Router({ log, holdSlots, record: (env, line) => recorded.add(env, line) });
  const answer = async (m: WorkerRequest): Promise<unknown> => {
    switch (m.op) {
      case 'check':
        try {
          return { table: parseRouteTable(m.table) };
        } catch (e) {
          if (isSlipwayError(e)) return { invalid: e.message, details: e.details };
          throw e;
        }
      case 'put':
        // The keeper persisted it and checked its version; this applies it.
        return router.putTable(m.table, async () => {});
      case 'stats':
        return router.statsJson();
      case 'status':
        return { head: router.currentHead, listeners: router.listenerStatus() };
      case 'inflight':
        return router.inflight(m.backend);
      case 'drain':
        return router.drainWithin(m.backend, m.timeoutMs);
      case 'close':
        isClosing = true;
        await router.close(m.graceMs);
        recorded.flush();
        return { closed: true };
    }
  };
  process.on('message', (m: WorkerRequest | SlotAnswer) => {
    if (m.op === 'slot-answer') {
      slotWaiters.get(m.slotId)?.(m.isGranted);
      slotWaiters.delete(m.slotId);
      return;
    }
    answer(m).then(
      // A closed worker has nothing left to serve: it exits once the keeper has the answer.
      (value) => reply({ type: 'reply', id: m.id, ok: true, value }, m.op === 'close' ? () => process.exit(0) : undefined),
      (e: unknown) => reply({ type: 'reply', id: m.id, ok: false, error: errorMessage(e) }),
    );
  });
  // The keeper alone stops a worker; a worker whose keeper died (kill -9) stops at
  // once, as the single router process did, so that the ports are free for the next.
  process.on('disconnect', () => {
    log.warn({ pid: process.pid, isClosing }, 'router worker lost its keeper; exiting');
    process.exit(isClosing ? 0 : 1);
  });
  process.on('SIGTERM', () => {});
  process.on('SIGINT', () => {});
  reply({ type: 'ready' });
}
