// A FAKE Kubernetes API server, for tests only: no real API server can run on these
// machines. It is an HTTP server on 127.0.0.1 that answers the REST paths and JSON
// that @kubernetes/client-node sends (discovery, server-side apply, get, list,
// watch, delete), keeps objects in memory, and plays a crude Deployment controller
// and kubelet so that pods appear, become ready and go away.
//
// Its limits (what a real cluster does and this does not):
// - apply replaces the applied fields wholesale: there is one field manager, so no
//   field ownership, conflicts or merging of lists by key are modelled;
// - no admission, defaulting or schema validation (the driver's own schema check
//   is tested separately against the official schemas);
// - label selectors are equality-only (`a=b,c=d`), which is all slipway sends;
// - watches start with ADDED for what exists and do not honour resourceVersion,
//   bookmarks or timeouts;
// - pods are not scheduled or run: a pod is Ready `readyDelayMs` after it is
//   made, unless its image matches `crashImage` (or crashPods() is called on it),
//   in which case its container "restarts" every `restartEveryMs` in
//   CrashLoopBackOff and is not Ready;
// - no ReplicaSets: pods belong to their Deployment directly;
// - authorization is recorded, not enforced: every request is noted with the verb
//   the API server's authorizer would check (apply that creates counts as both
//   patch and create, as it does in the API server), so a test can compare that
//   with the RBAC rules slipway documents.

import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';

type Obj = { apiVersion: string; kind: string; metadata: Record<string, any>; spec?: any; status?: any; [k: string]: any };

interface ResourceInfo {
  group: string;
  version: string;
  plural: string;
  kind: string;
}

const RESOURCES: ResourceInfo[] = [
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod' },
  { group: '', version: 'v1', plural: 'services', kind: 'Service' },
  { group: '', version: 'v1', plural: 'secrets', kind: 'Secret' },
  { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment' },
  { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes', kind: 'HTTPRoute' },
];

export interface RecordedCall {
  verb: 'get' | 'list' | 'watch' | 'create' | 'patch' | 'delete';
  group: string;
  resource: string;
  namespace: string;
  name: string | null;
  /** The raw request body, to check what was sent (e.g. that no secret value is). */
  body: string;
}

export interface FakeKubeOptions {
  token?: string;
  readyDelayMs?: number;
  restartEveryMs?: number;
  terminateDelayMs?: number;
  crashImage?: RegExp;
}

interface WatchStream {
  group: string;
  plural: string;
  namespace: string;
  selector: Record<string, string>;
  res: ServerResponse;
}

export class FakeKubeApi {
  readonly calls: RecordedCall[] = [];
  /** Discovery requests (non-resource URLs such as /apis/apps/v1), which RBAC's system:discovery allows everyone. */
  readonly discovery: string[] = [];
  private readonly store = new Map<string, Obj>();
  private readonly watches = new Set<WatchStream>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private resourceVersion = 1;
  private podSeq = 0;
  private readonly crashing = new Set<Obj>();
  private server: Server | null = null;
  readonly token: string;
  private readonly opts: Required<Omit<FakeKubeOptions, 'token'>>;

  /** How long pods made from now on take to become Ready (a slow image pull, say). */
  setReadyDelay(ms: number): void {
    this.opts.readyDelayMs = ms;
  }

  constructor(o: FakeKubeOptions = {}) {
    this.token = o.token ?? 'fake-token';
    this.opts = {
      readyDelayMs: o.readyDelayMs ?? 40,
      restartEveryMs: o.restartEveryMs ?? 60,
      terminateDelayMs: o.terminateDelayMs ?? 40,
      crashImage: o.crashImage ?? /crash/,
    };
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /**
   * Writes `<dir>/kubeconfig` whose current context (`context`) is this fake, as
   * the server reads it through KUBECONFIG; returns its path. Call after start().
   */
  writeKubeconfig(dir: string, context = 'fake'): string {
    const file = join(dir, 'kubeconfig');
    const server = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    writeFileSync(file, stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': context,
      clusters: [{ name: context, cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'slipway', user: { token: this.token } }],
      contexts: [{ name: context, context: { cluster: context, user: 'slipway' } }],
    }));
    return file;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const w of this.watches) w.res.end();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  /** Objects of a kind in a namespace, as the fake holds them. */
  objects(kind: string, namespace: string): Obj[] {
    return [...this.store.values()].filter((o) => o.kind === kind && o.metadata.namespace === namespace);
  }

  object(kind: string, namespace: string, name: string): Obj | undefined {
    return this.objects(kind, namespace).find((o) => o.metadata.name === name);
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    if (req.headers.authorization !== `Bearer ${this.token}`) return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));

    const discovery = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/?$/.exec(url.pathname);
    if (discovery && req.method === 'GET') {
      this.discovery.push(url.pathname);
      const group = discovery[2] ?? '';
      const version = discovery[1] ?? discovery[3]!;
      const resources = RESOURCES.filter((r) => r.group === group && r.version === version);
      if (resources.length === 0) return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
      return send(res, 200, {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: group ? `${group}/${version}` : version,
        resources: resources.map((r) => ({ name: r.plural, singularName: r.kind.toLowerCase(), namespaced: true, kind: r.kind, verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] })),
      });
    }

    const m = /^\/(?:api\/v1|apis\/([^/]+)\/v1)\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(url.pathname);
    const info = m ? RESOURCES.find((r) => r.group === (m[1] ?? '') && r.plural === m[3]) : undefined;
    if (!m || !info) return send(res, 404, status(404, 'NotFound', `no route for ${req.method} ${url.pathname}`));
    const namespace = decodeURIComponent(m[2]!);
    const name = m[4] ? decodeURIComponent(m[4]) : null;
    const record = (verb: RecordedCall['verb']) => this.calls.push({ verb, group: info.group, resource: info.plural, namespace, name, body });

    if (req.method === 'GET' && name === null) {
      let selector: Record<string, string>;
      try {
        selector = parseSelector(url.searchParams.get('labelSelector') ?? '');
      } catch (e) {
        return send(res, 400, status(400, 'BadRequest', (e as Error).message));
      }
      if (url.searchParams.get('watch') === 'true') {
        record('watch');
        return this.openWatch({ group: info.group, plural: info.plural, namespace, selector, res });
      }
      record('list');
      const items = this.matching(info, namespace, selector);
      return send(res, 200, { kind: `${info.kind}List`, apiVersion: info.group ? `${info.group}/v1` : 'v1', metadata: { resourceVersion: String(this.resourceVersion) }, items });
    }
    if (req.method === 'GET' && name !== null) {
      record('get');
      const o = this.store.get(key(info, namespace, name));
      return o ? send(res, 200, o) : send(res, 404, status(404, 'NotFound', `${info.plural} "${name}" not found`));
    }
    if (req.method === 'PATCH' && name !== null) return this.apply({ info, namespace, name, body, url, req, res, record });
    if (req.method === 'DELETE' && name !== null) {
      record('delete');
      const o = this.store.get(key(info, namespace, name));
      if (!o) return send(res, 404, status(404, 'NotFound', `${info.plural} "${name}" not found`));
      this.remove(info, o);
      if (info.kind === 'Deployment') for (const p of this.podsOf(o)) this.remove(podInfo(), p);
      return send(res, 200, { kind: 'Status', apiVersion: 'v1', status: 'Success', details: { name, kind: info.plural } });
    }
    return send(res, 405, status(405, 'MethodNotAllowed', `${req.method} is not supported by this fake`));
  }

  private apply(o: { info: ResourceInfo; namespace: string; name: string; body: string; url: URL; req: IncomingMessage; res: ServerResponse; record: (v: RecordedCall['verb']) => void }): void {
    const { info, namespace, name, res } = o;
    o.record('patch');
    if (o.req.headers['content-type'] !== 'application/apply-patch+yaml') {
      return send(res, 415, status(415, 'UnsupportedMediaType', `this fake accepts only server-side apply, not ${o.req.headers['content-type']}`));
    }
    const manager = o.url.searchParams.get('fieldManager');
    if (!manager) return send(res, 400, status(400, 'BadRequest', 'PATCH /apply requires a non-empty fieldManager'));
    let applied: Obj;
    try {
      applied = parseYaml(o.body) as Obj;
    } catch (e) {
      return send(res, 400, status(400, 'BadRequest', `invalid YAML: ${(e as Error).message}`));
    }
    const wantVersion = info.group ? `${info.group}/v1` : 'v1';
    if (applied?.apiVersion !== wantVersion || applied.kind !== info.kind || applied.metadata?.name !== name) {
      return send(res, 400, status(400, 'BadRequest', 'apiVersion, kind and metadata.name must match the URL'));
    }
    if (applied.metadata.namespace !== undefined && applied.metadata.namespace !== namespace) {
      return send(res, 400, status(400, 'BadRequest', 'the namespace of the object does not match the namespace of the request'));
    }
    const k = key(info, namespace, name);
    const existing = this.store.get(k);
    // Apply that creates is authorized as create too.
    if (!existing) o.record('create');
    const { apiVersion, kind, metadata, status: _ignored, ...rest } = applied;
    const obj: Obj = {
      apiVersion,
      kind,
      ...rest,
      metadata: {
        ...metadata,
        namespace,
        uid: existing?.metadata.uid ?? `uid-${this.resourceVersion}`,
        creationTimestamp: existing?.metadata.creationTimestamp ?? new Date().toISOString(),
        resourceVersion: String(++this.resourceVersion),
        generation: (existing?.metadata.generation ?? 0) + (JSON.stringify(existing?.spec) === JSON.stringify(rest.spec) ? 0 : 1),
        managedFields: [{ manager, operation: 'Apply', apiVersion }],
      },
      ...(existing?.status ? { status: existing.status } : {}),
    };
    this.store.set(k, obj);
    this.emit(existing ? 'MODIFIED' : 'ADDED', info, obj);
    if (info.kind === 'Deployment') this.reconcileDeployment(obj);
    send(res, existing ? 200 : 201, obj);
  }

  private matching(info: ResourceInfo, namespace: string, selector: Record<string, string>): Obj[] {
    return [...this.store.values()].filter((o) => o.kind === info.kind && o.metadata.namespace === namespace && labelsMatch(o.metadata.labels, selector));
  }

  private openWatch(w: WatchStream): void {
    w.res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    // As the API server does: the answer starts at once, even before any event.
    w.res.flushHeaders();
    this.watches.add(w);
    w.res.on('close', () => this.watches.delete(w));
    const info = RESOURCES.find((r) => r.group === w.group && r.plural === w.plural)!;
    for (const o of this.matching(info, w.namespace, w.selector)) w.res.write(`${JSON.stringify({ type: 'ADDED', object: o })}\n`);
  }

  private emit(type: 'ADDED' | 'MODIFIED' | 'DELETED', info: ResourceInfo, o: Obj): void {
    for (const w of this.watches) {
      if (w.group === info.group && w.plural === info.plural && w.namespace === o.metadata.namespace && labelsMatch(o.metadata.labels, w.selector)) {
        w.res.write(`${JSON.stringify({ type, object: o })}\n`);
      }
    }
  }

  private remove(info: ResourceInfo, o: Obj): void {
    this.store.delete(key(info, o.metadata.namespace, o.metadata.name));
    this.emit('DELETED', info, o);
  }

  private update(info: ResourceInfo, o: Obj): void {
    o.metadata.resourceVersion = String(++this.resourceVersion);
    this.emit('MODIFIED', info, o);
  }

  private podsOf(d: Obj): Obj[] {
    return [...this.store.values()].filter((p) => p.kind === 'Pod' && p.metadata.namespace === d.metadata.namespace && p.metadata.ownerReferences?.[0]?.name === d.metadata.name);
  }

  // The Deployment controller and kubelet, crudely: make or end pods to match replicas.
  private reconcileDeployment(d: Obj): void {
    const live = this.podsOf(d).filter((p) => !p.metadata.deletionTimestamp);
    const want = d.spec?.replicas ?? 1;
    for (let i = live.length; i < want; i++) this.startPod(d);
    for (const p of live.slice(want)) this.terminatePod(p);
    this.updateDeploymentStatus(d);
  }

  private startPod(d: Obj): void {
    const template = d.spec.template;
    const container = template.spec.containers[0];
    const pod: Obj = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `${d.metadata.name}-${(++this.podSeq).toString(36).padStart(5, '0')}`,
        namespace: d.metadata.namespace,
        labels: { ...template.metadata.labels },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name, uid: d.metadata.uid }],
        resourceVersion: String(++this.resourceVersion),
      },
      spec: template.spec,
      status: {
        phase: 'Pending',
        conditions: [{ type: 'Ready', status: 'False' }],
        containerStatuses: [{ name: container.name, image: container.image, ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }],
      },
    };
    this.store.set(key(podInfo(), pod.metadata.namespace, pod.metadata.name), pod);
    this.emit('ADDED', podInfo(), pod);
    if (this.opts.crashImage.test(container.image)) {
      this.crashLoop(pod);
      return;
    }
    this.later(this.opts.readyDelayMs, () => {
      if (!this.isRunning(pod) || this.crashing.has(pod)) return;
      const cs = pod.status.containerStatuses[0];
      cs.ready = true;
      cs.state = { running: { startedAt: new Date().toISOString() } };
      pod.status.phase = 'Running';
      pod.status.conditions = [{ type: 'Ready', status: 'True' }];
      this.update(podInfo(), pod);
      this.refreshOwner(pod);
    });
  }

  /** Makes the running pods that match a selector start crash-looping, as a bad release might after a while. */
  crashPods(selector: Record<string, string>): number {
    const pods = [...this.store.values()].filter((p) => p.kind === 'Pod' && labelsMatch(p.metadata.labels, selector) && this.isRunning(p));
    for (const p of pods) this.crashLoop(p);
    return pods.length;
  }

  private isRunning(pod: Obj): boolean {
    return this.store.has(key(podInfo(), pod.metadata.namespace, pod.metadata.name)) && !pod.metadata.deletionTimestamp;
  }

  private crashLoop(pod: Obj): void {
    this.crashing.add(pod);
    const tick = () => {
      if (!this.isRunning(pod)) return;
      const cs = pod.status.containerStatuses[0];
      cs.restartCount += 1;
      cs.ready = false;
      cs.state = { waiting: { reason: 'CrashLoopBackOff', message: 'back-off restarting failed container' } };
      pod.status.phase = 'Running';
      pod.status.conditions = [{ type: 'Ready', status: 'False' }];
      this.update(podInfo(), pod);
      this.refreshOwner(pod);
      this.later(this.opts.restartEveryMs, tick);
    };
    this.later(this.opts.restartEveryMs, tick);
  }

  private terminatePod(p: Obj): void {
    p.metadata.deletionTimestamp = new Date().toISOString();
    p.status.conditions = [{ type: 'Ready', status: 'False' }];
    this.update(podInfo(), p);
    this.later(this.opts.terminateDelayMs, () => {
      if (!this.store.has(key(podInfo(), p.metadata.namespace, p.metadata.name))) return;
      this.remove(podInfo(), p);
      this.refreshOwner(p);
    });
  }

  private refreshOwner(p: Obj): void {
    const d = this.store.get(`apps/deployments/${p.metadata.namespace}/${p.metadata.ownerReferences[0].name}`);
    if (d) this.updateDeploymentStatus(d);
  }

  private updateDeploymentStatus(d: Obj): void {
    const pods = this.podsOf(d).filter((p) => !p.metadata.deletionTimestamp);
    const ready = pods.filter((p) => p.status.conditions.some((c: any) => c.type === 'Ready' && c.status === 'True')).length;
    d.status = { observedGeneration: d.metadata.generation, replicas: pods.length, readyReplicas: ready, availableReplicas: ready, updatedReplicas: pods.length };
    this.update(RESOURCES.find((r) => r.kind === 'Deployment')!, d);
  }
}

function podInfo(): ResourceInfo {
  return RESOURCES[0]!;
}

function key(info: ResourceInfo, namespace: string, name: string): string {
  return `${info.group}/${info.plural}/${namespace}/${name}`;
}

function parseSelector(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').filter(Boolean)) {
    const m = /^([A-Za-z0-9./_-]+)=([A-Za-z0-9._-]*)$/.exec(part.trim());
    if (!m) throw new Error(`this fake understands only equality selectors (a=b), not "${part}"`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

function labelsMatch(labels: Record<string, string> | undefined, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
