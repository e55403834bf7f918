// Readiness gating on a cluster: wait, by watching a release's pods, until the
// number slipway asked for are ready (or, scaling down, until the extra ones are
// gone). A pod whose container keeps restarting fails the wait at once rather than
// at the deadline: a crash loop does not get better by waiting.

import type { IPod } from 'kubernetes-models/v1/Pod';
import type { ClusterApi, PodWatch, WatchEventType } from './cluster-client.ts';

export interface PodWaitOptions {
  api: ClusterApi;
  namespace: string;
  labelSelector: string;
  /** Ready pods wanted; scaling down, the wait ends when no more than this many pods exist. */
  want: number;
  direction: 'up' | 'down';
  deadlineMs: number;
  /** Restarts of one pod's containers that count as a crash loop. */
  maxRestarts: number;
  signal?: AbortSignal;
}

export type PodWaitResult = { ok: true; ready: number } | { ok: false; reason: string };

export function isPodReady(pod: IPod): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

export function restartsOf(pod: IPod): number {
  return (pod.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0);
}

/** "pod x restarted 3 times (CrashLoopBackOff)". */
export function crashReason(pod: IPod, restarts: number): string {
  const waiting = pod.status?.containerStatuses?.find((c) => c.state?.waiting)?.state?.waiting?.reason;
  return `pod ${pod.metadata?.name} restarted ${restarts} times${waiting ? ` (${waiting})` : ''}`;
}

/**
 * A pod watch that outlives the API server's ending it (it does now and then) or a
 * cluster that cannot be reached for a while: it opens again a second later.
 * `onOpen` runs before each opening, when every pod is about to be listed again.
 */
export function keepWatchingPods(o: {
  api: ClusterApi; namespace: string; labelSelector: string;
  onEvent: (type: WatchEventType, pod: IPod) => void; onOpen?: () => void; onOpened?: () => void;
}): { stop(): void } {
  let stopped = false;
  let watch: PodWatch | null = null;
  const again = () => {
    if (!stopped) setTimeout(() => void open(), 1000).unref();
  };
  const open = async (): Promise<void> => {
    o.onOpen?.();
    try {
      watch = await o.api.watchPods({ namespace: o.namespace, labelSelector: o.labelSelector, onEvent: (t, p) => !stopped && o.onEvent(t, p), onEnd: again });
      if (stopped) watch.stop();
      else o.onOpened?.();
    } catch {
      again();
    }
  };
  void open();
  return {
    stop: () => {
      stopped = true;
      watch?.stop();
    },
  };
}

/**
 * Watches a release's pods for as long as it runs in a rollout and calls onCrash
 * once when one of them restarts `maxRestarts` times more than when first seen: a
 * canary that starts crash-looping during a pause is aborted then, not at the
 * next step.
 */
export function watchRestarts(o: { api: ClusterApi; namespace: string; labelSelector: string; maxRestarts: number; onCrash: (reason: string) => void }): { stop(): void } {
  const firstSeen = new Map<string, number>();
  let crashed = false;
  const watch = keepWatchingPods({
    api: o.api,
    namespace: o.namespace,
    labelSelector: o.labelSelector,
    onEvent: (type, pod) => {
      if (crashed || (type !== 'ADDED' && type !== 'MODIFIED')) return;
      const name = pod.metadata?.name ?? '';
      const restarts = restartsOf(pod);
      if (!firstSeen.has(name)) firstSeen.set(name, restarts);
      const more = restarts - firstSeen.get(name)!;
      if (more >= o.maxRestarts) {
        crashed = true;
        watch.stop();
        o.onCrash(crashReason(pod, more));
      }
    },
  });
  return watch;
}

export function waitForPods(o: PodWaitOptions): Promise<PodWaitResult> {
  const pods = new Map<string, IPod>();
  return new Promise((resolve) => {
    let watch: PodWatch | null = null;
    let settled = false;
    /**
     * Whether the watch's opening list (every existing pod as ADDED) is complete. Until
     * then a partial list would undercount: harmless going up (fewer ready), wrong
     * going down (the first pod listed would look like "only one left").
     */
    let listed = false;
    const finish = (r: PodWaitResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      watch?.stop();
      resolve(r);
    };
    const evaluate = () => {
      const all = [...pods.values()];
      const crashing = all.find((p) => restartsOf(p) >= o.maxRestarts);
      if (crashing && o.direction === 'up') {
        return finish({ ok: false, reason: crashReason(crashing, restartsOf(crashing)) });
      }
      const ready = all.filter(isPodReady).length;
      if (o.direction === 'up' ? ready >= o.want : listed && all.length <= o.want) finish({ ok: true, ready });
    };
    const timer = setTimeout(() => {
      const ready = [...pods.values()].filter(isPodReady).length;
      finish({
        ok: false,
        reason: o.direction === 'up'
          ? `${ready} of ${o.want} pod(s) ready after ${Math.round(o.deadlineMs / 1000)}s`
          : `${pods.size} pod(s) still running after ${Math.round(o.deadlineMs / 1000)}s; wanted ${o.want}`,
      });
    }, o.deadlineMs);
    const onAbort = () => finish({ ok: false, reason: 'aborted' });
    o.signal?.addEventListener('abort', onAbort);

    const open = async (): Promise<void> => {
      // A fresh watch lists every pod again as ADDED: start from an empty picture.
      pods.clear();
      listed = false;
      try {
        watch = await o.api.watchPods({
          namespace: o.namespace,
          labelSelector: o.labelSelector,
          onEvent: (type, pod) => {
            const name = pod.metadata?.name ?? '';
            if (type === 'DELETED') pods.delete(name);
            else if (type === 'ADDED' || type === 'MODIFIED') pods.set(name, pod);
            evaluate();
          },
          // The API server ends watches now and then; carry on with a new one.
          onEnd: () => {
            if (!settled) setTimeout(() => void open(), 200);
          },
        });
        if (settled) watch.stop();
        // A moment after the watch opens its opening list is whole; no pods at all is an
        // answer too (scaling to zero), and no event would say it.
        else {
          setTimeout(() => {
            listed = true;
            if (!settled) evaluate();
          }, 300);
        }
      } catch {
        if (!settled) setTimeout(() => void open(), 500);
      }
    };
    void open();
  });
}
