// The cluster of one kubeconfig context, connected on first use: the official
// client is large, and a server with no Kubernetes environment never loads it.

import type { ClusterApi, ObjectRef, PodWatch } from './cluster-client.ts';
import type { ClusterObject } from './manifests.ts';

export class LazyKubeCluster implements ClusterApi {
  private connecting: Promise<ClusterApi> | null = null;

  constructor(private readonly context: string | null) {}

  private cluster(): Promise<ClusterApi> {
    this.connecting ??= import('./cluster-client.ts').then((m) => new m.KubeCluster(m.loadKubeConfig(this.context)));
    // A kubeconfig that could not be read is read again next time (it may have been fixed).
    this.connecting.catch(() => (this.connecting = null));
    return this.connecting;
  }

  async apply(o: ClusterObject): Promise<void> {
    return (await this.cluster()).apply(o);
  }

  async delete(ref: ObjectRef): Promise<boolean> {
    return (await this.cluster()).delete(ref);
  }

  async listDeployments(namespace: string, labelSelector: string) {
    return (await this.cluster()).listDeployments(namespace, labelSelector);
  }

  async watchPods(o: Parameters<ClusterApi['watchPods']>[0]): Promise<PodWatch> {
    return (await this.cluster()).watchPods(o);
  }
}
