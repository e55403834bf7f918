// The CLI's side of the HTTP API. Every command reaches the server through this;
// nothing in cli/ opens the state database.

import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { SlipwayError, type ErrorCode } from '../core/errors.ts';
import {
  ACTOR_HEADER, ARTEFACT_DIGEST_HEADER, ARTEFACT_SERVICE_HEADER, type ConfigSetBody, type ConfigUnsetBody, type DeployBody, type PromoteBody, type RollbackBody,
  type SecretSetBody, type ShutdownBody,
} from '../api/schemas.ts';
import type { ConfigChangeJson, ConfigListJson, ConfigVersionsJson, DeployPlanJson, ParityJson, SecretListJson } from '../api/views.ts';
import type { EnvironmentStatus, ReleaseView, RolloutView } from '../api/views.ts';
import type { RolloutEventRecord } from '../core/records.ts';
import type { RejectBody, ReleaseBody } from '../api/pipeline-schemas.ts';
import type { ApprovalRecord, StageRecord } from '../core/pipeline/pipeline-run.ts';
import type { ChecklistItem } from '../core/pipeline/checklist.ts';

/** A pipeline run as the API shows it. */
export interface RunJson {
  id: number;
  service: string;
  repo: string;
  subdir: string;
  ref: string;
  commit: string;
  version: string;
  status: 'running' | 'waiting' | 'succeeded' | 'failed';
  stage: string;
  reason: string | null;
  startedBy: string;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
  artefactDigest: string | null;
  attempt: number;
}

export interface RunViewJson {
  run: RunJson;
  stages: StageRecord[];
  approvals: ApprovalRecord[];
}

export interface ChecklistJson {
  run: RunJson;
  items: ChecklistItem[];
}

export interface DeployAnswerJson {
  unchanged: boolean;
  release: ReleaseView;
  rollout: RolloutView | null;
}

/** Who the CLI says it is: SLIPWAY_ACTOR when set (scripts, CI, tests), else the OS user name. */
export function localActor(): string {
  const fromEnv = process.env.SLIPWAY_ACTOR;
  if (fromEnv) return fromEnv;
  try {
    return userInfo().username || 'local';
  } catch {
    return 'local';
  }
}

/** --server, then SLIPWAY_SERVER, then the server.json a server wrote in the data directory. */
export function findServerUrl(opts: { server?: string | undefined; dataDir: string }): string {
  const explicit = opts.server ?? process.env.SLIPWAY_SERVER;
  if (explicit) return explicit.replace(/\/+$/, '');
  const file = join(resolve(opts.dataDir), 'server.json');
  if (existsSync(file)) {
    try {
      const url = (JSON.parse(readFileSync(file, 'utf8')) as { url?: string }).url;
      if (url) return url;
    } catch {
      // fall through to the error below
    }
  }
  throw new SlipwayError(
    'E_SERVER_UNREACHABLE',
    `no slipway server found for data directory ${resolve(opts.dataDir)}; start one with \`slipway server\` (in this directory), or point at one with --server URL or SLIPWAY_SERVER`,
  );
}

export class ApiClient {
  constructor(readonly baseUrl: string, private readonly actor = localActor()) {}

  private async call<T>(method: string, path: string, body?: unknown, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        ...init,
        headers: { [ACTOR_HEADER]: this.actor, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (e) {
      throw new SlipwayError('E_SERVER_UNREACHABLE', `cannot reach the slipway server at ${this.baseUrl}: ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}; is \`slipway server\` running?`, {}, { cause: e });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = { error: { code: 'E_INTERNAL', message: text.slice(0, 500) } };
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string; details?: Record<string, unknown> } }).error ?? {};
      throw new SlipwayError((err.code as ErrorCode) ?? 'E_INTERNAL', err.message ?? `HTTP ${res.status}`, err.details ?? {});
    }
    return json as T;
  }

  serverInfo() {
    return this.call<Record<string, unknown>>('GET', '/api/server');
  }

  async uploadArtefact(file: string, digest: string, service: string): Promise<{ digest: string; bytes: number }> {
    const size = statSync(file).size;
    return this.call('POST', '/api/artefacts', undefined, {
      body: Readable.toWeb(createReadStream(file)) as unknown as RequestInit['body'],
      duplex: 'half',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size), [ARTEFACT_DIGEST_HEADER]: digest, [ARTEFACT_SERVICE_HEADER]: service },
    } as RequestInit & { headers: Record<string, string> });
  }

  deploy(env: string, body: DeployBody) {
    return this.call<DeployAnswerJson>('POST', `/api/environments/${encodeURIComponent(env)}/deploys`, body);
  }

  rollback(env: string, body: RollbackBody) {
    return this.call<{ release: ReleaseView; rollout: RolloutView }>('POST', `/api/environments/${encodeURIComponent(env)}/rollback`, body);
  }

  rolloutCommand(env: string, action: 'pause' | 'resume' | 'promote' | 'abort', body: PromoteBody | Record<string, never> = {}) {
    return this.call<{ rollout: RolloutView }>('POST', `/api/environments/${encodeURIComponent(env)}/${action}`, body);
  }

  status(env?: string): Promise<EnvironmentStatus[]> {
    if (env) return this.call<EnvironmentStatus>('GET', `/api/environments/${encodeURIComponent(env)}`).then((s) => [s]);
    return this.call<{ environments: EnvironmentStatus[] }>('GET', '/api/environments').then((r) => r.environments);
  }

  releases(env: string) {
    return this.call<{ env: string; stable: number | null; releases: (ReleaseView & { isStable: boolean })[] }>('GET', `/api/environments/${encodeURIComponent(env)}/releases`);
  }

  rollout(id: number) {
    return this.call<RolloutView>('GET', `/api/rollouts/${id}`);
  }

  rolloutEvents(id: number, after: number, waitMs: number) {
    return this.call<{ rollout: RolloutView; events: RolloutEventRecord[] }>('GET', `/api/rollouts/${id}/events?after=${after}&wait=${waitMs}`);
  }

  logs(env: string, q: { instance?: string; lines?: number }) {
    const qs = new URLSearchParams();
    if (q.instance) qs.set('instance', q.instance);
    if (q.lines) qs.set('lines', String(q.lines));
    return this.call<{ env: string; lines: { instance: string; line: string }[] }>('GET', `/api/environments/${encodeURIComponent(env)}/logs?${qs}`);
  }

  async followLogs(env: string, q: { instance?: string; lines?: number }, onRecord: (r: { instance: string; line: string }) => void, signal?: AbortSignal): Promise<void> {
    const qs = new URLSearchParams({ follow: '1' });
    if (q.instance) qs.set('instance', q.instance);
    if (q.lines) qs.set('lines', String(q.lines));
    const res = await fetch(`${this.baseUrl}/api/environments/${encodeURIComponent(env)}/logs?${qs}`, { headers: { [ACTOR_HEADER]: this.actor }, ...(signal ? { signal } : {}) });
    if (!res.ok || !res.body) throw new SlipwayError('E_SERVER_UNREACHABLE', `log stream refused: HTTP ${res.status} ${await res.text()}`);
    let buf = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) if (l) onRecord(JSON.parse(l) as { instance: string; line: string });
    }
  }

  config(env: string) {
    return this.call<ConfigListJson>('GET', `/api/environments/${encodeURIComponent(env)}/config`);
  }

  configVersions(env: string) {
    return this.call<ConfigVersionsJson>('GET', `/api/environments/${encodeURIComponent(env)}/config/versions`);
  }

  setConfig(env: string, body: ConfigSetBody) {
    return this.call<ConfigChangeJson>('POST', `/api/environments/${encodeURIComponent(env)}/config`, body);
  }

  unsetConfig(env: string, body: ConfigUnsetBody) {
    return this.call<ConfigChangeJson>('POST', `/api/environments/${encodeURIComponent(env)}/config/unset`, body);
  }

  configDiff(left: string, right: string) {
    return this.call<ParityJson>('GET', `/api/environments/${encodeURIComponent(left)}/config/diff?with=${encodeURIComponent(right)}`);
  }

  secrets(env: string) {
    return this.call<SecretListJson>('GET', `/api/environments/${encodeURIComponent(env)}/secrets`);
  }

  /** The value travels in the body of a loopback request, never in a URL or on a command line. */
  setSecret(env: string, name: string, body: SecretSetBody) {
    return this.call<ConfigChangeJson>('PUT', `/api/environments/${encodeURIComponent(env)}/secrets/${encodeURIComponent(name)}`, body);
  }

  removeSecret(env: string, name: string, opts: { rollout: boolean }) {
    return this.call<ConfigChangeJson>('DELETE', `/api/environments/${encodeURIComponent(env)}/secrets/${encodeURIComponent(name)}?rollout=${opts.rollout ? '1' : '0'}`);
  }

  plan(env: string, body: DeployBody) {
    return this.call<DeployPlanJson>('POST', `/api/environments/${encodeURIComponent(env)}/plan`, body);
  }

  release(body: ReleaseBody) {
    return this.call<RunViewJson>('POST', '/api/pipeline/runs', body);
  }

  runs(limit = 30) {
    return this.call<{ runs: RunJson[] }>('GET', `/api/pipeline/runs?limit=${limit}`);
  }

  run(id: number) {
    return this.call<RunViewJson>('GET', `/api/pipeline/runs/${id}`);
  }

  approve(id: number) {
    return this.call<{ approval: ApprovalRecord; run: RunJson }>('POST', `/api/pipeline/runs/${id}/approve`, {});
  }

  reject(id: number, body: RejectBody) {
    return this.call<{ approval: ApprovalRecord; run: RunJson }>('POST', `/api/pipeline/runs/${id}/reject`, body);
  }

  rerun(id: number) {
    return this.call<RunViewJson>('POST', `/api/pipeline/runs/${id}/rerun`, {});
  }

  checklist(ref: string) {
    return this.call<ChecklistJson>('GET', `/api/checklists/${encodeURIComponent(ref)}`);
  }

  shutdown(body: ShutdownBody) {
    return this.call<{ ok: boolean }>('POST', '/api/shutdown', body);
  }
}

export const TERMINAL_PHASES = new Set(['succeeded', 'failed', 'rolled_back']);

/** Follows a rollout's events until it ends; returns its final view. */
export async function followRollout(client: ApiClient, id: number, onEvent: (e: RolloutEventRecord) => void): Promise<RolloutView> {
  let after = 0;
  for (;;) {
    const { rollout, events } = await client.rolloutEvents(id, after, 10_000);
    for (const e of events) {
      onEvent(e);
      after = e.id;
    }
    if (TERMINAL_PHASES.has(rollout.phase) && events.length === 0) return rollout;
  }
}
