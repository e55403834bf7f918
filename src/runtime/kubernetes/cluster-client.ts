// The only file that talks to a Kubernetes API server, through the official client
// (@kubernetes/client-node). It does five things and the RBAC in
// docs/kubernetes.md allows exactly those: apply (server-side, as field manager
// `slipway`), list Deployments, delete, and watch Pods.

import { KubeConfig, KubernetesObjectApi, PatchStrategy, Watch } from '@kubernetes/client-node';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IPod } from 'kubernetes-models/v1/Pod';
import { SlipwayError } from '../../core/errors.ts';
import type { ClusterObject } from './manifests.ts';
import { FIELD_MANAGER } from './names.ts';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface PodWatch {
  stop(): void;
}

/** What the driver needs of a cluster; KubeCluster is the real one. */
export interface ClusterApi {
  apply(o: ClusterObject): Promise<void>;
  /** false when there was nothing to delete. */
  delete(ref: ObjectRef): Promise<boolean>;
  listDeployments(namespace: string, labelSelector: string): Promise<IDeployment[]>;
  /** Calls onEvent for every pod change (and once per existing pod at the start); onEnd when the stream ends. */
  watchPods(o: { namespace: string; labelSelector: string; onEvent: (type: WatchEventType, pod: IPod) => void; onEnd: (err: unknown) => void }): Promise<PodWatch>;
}

/** A kubeconfig as kubectl finds it ($KUBECONFIG, ~/.kube/config, or the in-cluster account), at the given context. */
export function loadKubeConfig(context: string | null): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  if (context !== null) {
    if (kc.getContextObject(context) === null) {
      const known = kc.getContexts().map((c) => c.name);
      throw new SlipwayError('E_CONFIG_INVALID', `kubeconfig has no context "${context}"; it has ${known.join(', ') || 'none'}`);
    }
    kc.setCurrentContext(context);
  }
  return kc;
}

function statusOf(e: unknown): number | undefined {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

// The client's own error text carries the whole response, headers included; only
// the status and the API's one-line reason are kept. For a Secret not even the
// reason is, so that no part of what was sent can reach a log.
function clusterError(action: string, o: { kind: string; name: string }, e: unknown): SlipwayError {
  const status = statusOf(e);
  const body = (e as { body?: unknown }).body;
  let reason = '';
  if (o.kind !== 'Secret') {
    const parsed = typeof body === 'string' ? safeJson(body) : body;
    const message = (parsed as { message?: unknown } | undefined)?.message;
    reason = typeof message === 'string' ? `: ${message}` : '';
  }
  // Without a status the request never got an answer: the client's reason (connection
  // refused, TLS settings) is about the connection, not about what was sent.
  const what = status === undefined ? `could not reach the cluster: ${String((e as Error).message).split('\n')[0]}` : `the API answered ${status}${reason}`;
  return new SlipwayError('E_DEPLOY_FAILED', `${action} ${o.kind} ${o.name} failed: ${what}`, { status, kind: o.kind, name: o.name });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export class KubeCluster implements ClusterApi {
  private readonly objects: KubernetesObjectApi;

  constructor(private readonly kc: KubeConfig) {
    this.objects = KubernetesObjectApi.makeApiClient(kc);
  }

  async apply(o: ClusterObject): Promise<void> {
    try {
      // force: slipway owns these objects; a field another manager took is taken back.
      await this.objects.patch(o as never, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (e) {
      throw clusterError('applying', { kind: o.kind!, name: o.metadata?.name ?? '' }, e);
    }
  }

  async delete(ref: ObjectRef): Promise<boolean> {
    try {
      const spec = { apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, namespace: ref.namespace } };
      // Background: the Deployment's ReplicaSets and pods go after it, without holding this call.
      await this.objects.delete(spec, undefined, undefined, undefined, undefined, 'Background');
      return true;
    } catch (e) {
      if (statusOf(e) === 404) return false;
      throw clusterError('deleting', ref, e);
    }
  }

  async listDeployments(namespace: string, labelSelector: string): Promise<IDeployment[]> {
    try {
      const list = await this.objects.list('apps/v1', 'Deployment', namespace, undefined, undefined, undefined, undefined, labelSelector);
      return list.items as IDeployment[];
    } catch (e) {
      throw clusterError('listing', { kind: 'Deployment', name: `(${labelSelector})` }, e);
    }
  }

  async watchPods(o: Parameters<ClusterApi['watchPods']>[0]): Promise<PodWatch> {
    const path = `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/pods`;
    const controller = await new Watch(this.kc).watch(
      path,
      { labelSelector: o.labelSelector, allowWatchBookmarks: false },
      (type: string, pod: IPod) => o.onEvent(type as WatchEventType, pod),
      (err: unknown) => o.onEnd(err),
    );
    return { stop: () => controller.abort() };
  }
}
