// The CLI's side of the HTTP API. Every command reaches the server through this;
// nothing in cli/ opens the state database.

import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { Agent, fetch as undiciFetch } from 'undici';
import { SlipwayError, type ErrorCode } from '../core/errors.ts';
import { isTerminal } from '../core/rollout.ts';
import { runningServers } from '../store/server-register.ts';
import {
  ARTEFACT_DIGEST_HEADER, ARTEFACT_SERVICE_HEADER, type ConfigSetBody, type ConfigUnsetBody, type DeployBody, type PromoteBody, type RollbackBody,
  type LogsQuery, type PolicySetBody, type ReleasesQuery, type SecretSetBody, type ShutdownBody,
} from '../api/schemas.ts';
import type {
  ApprovalAnswerJson, ArtefactUploadJson, AuditEntriesJson, AuditVerificationJson, ChecklistJson, ConfigChangeJson, ConfigListJson, ConfigVersionsJson, CreatedTokenJson,
  DeployAnswerJson, DeployPlanJson, DownAnswerJson, EnvironmentStatus, RemoveAnswerJson, EnvironmentsJson, LogRecordJson, LogsJson, ParityJson, PolicyJson, ReleasesJson, RollbackAnswerJson,
  RolloutCommandJson, RolloutEventsJson, RolloutView, RunViewJson, RunsJson, SecretListJson, ShutdownJson, TokenView, TokensJson, WhoamiJson,
} from '../api/views.ts';
import type { RolloutEventRecord } from '../core/records.ts';
import type { AuditQueryInput, TokenCreateBody } from '../api/auth-schemas.ts';
import type { SlipwayEvent } from '../core/events.ts';
import type { RejectBody, ReleaseBody } from '../api/pipeline-schemas.ts';
import type { CiKeyBody, CiKeyJson, CiReleaseBody } from '../api/ci-schemas.ts';
import type { AssembleBody, BlobCheckBody } from '../api/blob-schemas.ts';
import type { AssembledArtefactJson, BlobBatchJson, BlobCheckJson } from '../api/views.ts';
import type { MaintenanceOnBody, PauseTrafficBody } from '../api/traffic-schemas.ts';
import type { TrafficGateJson } from '../api/views.ts';

// The answers' types are the API's own (api/views.ts); named here too for the commands that take them from the client.
export type { ChecklistJson, DeployAnswerJson, LogRecordJson, RunJson, RunViewJson } from '../api/views.ts';

function logsQueryString(q: LogsQuery): URLSearchParams {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null) qs.set(k, String(v));
  return qs;
}

/**
 * The API token: --token, then SLIPWAY_TOKEN, then the admin token the server wrote
 * in its data directory (readable only by the user who runs it). null: none found.
 */
export function findToken(opts: { token?: string | undefined; dataDir: string }): string | null {
  const explicit = opts.token ?? process.env.SLIPWAY_TOKEN;
  if (explicit) return explicit.trim();
  const file = join(resolve(opts.dataDir), 'admin.token');
  try {
    return readFileSync(file, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/** The server's refusal of a stream, as the error it names (or the HTTP status when it names none). */
async function refusal(res: Response, what: string): Promise<SlipwayError> {
  let err: { code?: string; message?: string } = {};
  try {
    err = (JSON.parse(await res.text()) as { error?: typeof err }).error ?? {};
  } catch {
    // not JSON
  }
  return new SlipwayError((err.code as ErrorCode) ?? 'E_INTERNAL', err.message ?? `${what} refused: HTTP ${res.status}`);
}

export interface FoundServer {
  url: string;
  /** The data directory whose admin.token is the default credential for it. */
  dataDir: string;
  /** Where the URL came from, for errors that name it. */
  source: string;
}

/**
 * --server, then SLIPWAY_SERVER, then the server.json a server wrote in the data
 * directory. When the data directory was not chosen (no --data-dir, no
 * SLIPWAY_DATA_DIR) and the one here has no server, the one server this user runs
 * on the machine (store/server-register.ts): one server runs every service, so
 * `slipway deploy` works from each service's own directory.
 */
export function findServer(opts: { server?: string | undefined; dataDir: string; dataDirChosen?: boolean }): FoundServer {
  const explicit = opts.server ?? process.env.SLIPWAY_SERVER;
  if (explicit) return { url: explicit.replace(/\/+$/, ''), dataDir: opts.dataDir, source: opts.server ? '--server' : 'SLIPWAY_SERVER' };
  const here = resolve(opts.dataDir);
  const url = serverUrlIn(here);
  if (url) return { url, dataDir: here, source: `server.json in ${opts.dataDir}` };
  if (opts.dataDirChosen) {
    throw new SlipwayError(
      'E_SERVER_UNREACHABLE',
      `no slipway server found for data directory ${here}; start one with \`slipway server\` and that --data-dir (or SLIPWAY_DATA_DIR), or point at one with --server URL or SLIPWAY_SERVER`,
      { dataDir: here },
    );
  }
  const running = runningServers();
  const only = running[0];
  if (running.length === 1 && only) return { url: only.url, dataDir: only.dataDir, source: `the server of ${only.dataDir}` };
  if (running.length > 1) {
    throw new SlipwayError(
      'E_SERVER_AMBIGUOUS',
      `no slipway server uses ${here}, and ${running.length} run on this machine: ${running.map((r) => `${r.dataDir} (${r.url})`).join(', ')}; pick one with --data-dir DIR or SLIPWAY_DATA_DIR`,
      { dataDirs: running.map((r) => r.dataDir) },
    );
  }
  throw new SlipwayError(
    'E_SERVER_UNREACHABLE',
    `no slipway server runs on this machine for this user (none uses ${here}); start one with \`slipway server\` (one runs every service on the host), or point at one with --data-dir DIR, --server URL or SLIPWAY_SERVER`,
    { dataDir: here },
  );
}

function serverUrlIn(dataDir: string): string | null {
  const file = join(dataDir, 'server.json');
  if (!existsSync(file)) return null;
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { url?: string }).url || null;
  } catch {
    return null;
  }
}

/** How long fetch waits for an answer's headers: undici's default, kept for every call but one. */
const ANSWER_WAIT_MS = 300_000;

/**
 * How long `slipway deploy` waits for the server to make the release before it stops
 * waiting (the server goes on either way). Making it is an unpack and check of the
 * artefact, or an image build, before the server answers: a build that installs
 * dependencies can take many minutes, and the CLI says every 10 s that it waits.
 */
export const MAKE_RELEASE_WAIT_MS = 30 * 60_000;

export interface ApiClientOptions {
  /** MAKE_RELEASE_WAIT_MS unless given (tests give a short one). */
  makeReleaseWaitMs?: number;
}

export class ApiClient {
  private readonly makeReleaseWaitMs: number;
  private longWaitAgent: Agent | null = null;

  /**
   * `service`: the service a bare environment name belongs to (from --service, or
   * slipway.yaml where the command runs): `production` is sent as `shop/production`.
   * Without one, the server takes a bare name that only one service has.
   */
  constructor(readonly baseUrl: string, private readonly token: string | null = null, readonly service: string | null = null, options: ApiClientOptions = {}) {
    this.makeReleaseWaitMs = options.makeReleaseWaitMs ?? MAKE_RELEASE_WAIT_MS;
  }

  /** The environment as the API names it: `shop/production`, or a bare name when no service is known. */
  qualify(env: string): string {
    return env.includes('/') || this.service === null ? env : `${this.service}/${env}`;
  }

  private envPath(env: string): string {
    return `/api/environments/${encodeURIComponent(this.qualify(env))}`;
  }

  /** The headers every request carries: the token, when there is one. */
  authHeaders(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  /**
   * `answerWithinMs`: how long to wait for the answer's headers, when not fetch's
   * 300 s; such a call goes through undici's own fetch, whose agent takes the wait.
   */
  private async call<T>(method: string, path: string, body?: unknown, init: RequestInit & { headers?: Record<string, string> } = {}, answerWithinMs = ANSWER_WAIT_MS): Promise<T> {
    let res: Response;
    const request: RequestInit = {
      method,
      ...init,
      headers: { ...this.authHeaders(), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    };
    try {
      res = answerWithinMs === ANSWER_WAIT_MS ? await fetch(`${this.baseUrl}${path}`, request) : await this.fetchWaiting(`${this.baseUrl}${path}`, request, answerWithinMs);
    } catch (e) {
      throw new SlipwayError('E_SERVER_UNREACHABLE', unreachableMessage(this.baseUrl, method, path, e, answerWithinMs), {}, { cause: e });
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

  private async fetchWaiting(url: string, request: RequestInit, waitMs: number): Promise<Response> {
    // One agent per client: its keep-alive socket is closed with the process.
    this.longWaitAgent ??= new Agent({ headersTimeout: waitMs, bodyTimeout: waitMs });
    return (await undiciFetch(url, { ...(request as Parameters<typeof undiciFetch>[1]), dispatcher: this.longWaitAgent })) as unknown as Response;
  }

  whoami() {
    return this.call<WhoamiJson>('GET', '/api/whoami');
  }

  tokens() {
    return this.call<TokensJson>('GET', '/api/tokens');
  }

  createToken(body: TokenCreateBody) {
    return this.call<CreatedTokenJson>('POST', '/api/tokens', body);
  }

  revokeToken(id: string) {
    return this.call<TokenView>('POST', `/api/tokens/${encodeURIComponent(id)}/revoke`, {});
  }

  audit(q: AuditQueryInput) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...q, env: q.env === undefined ? undefined : this.qualify(q.env) })) if (v !== undefined) qs.set(k, String(v));
    return this.call<AuditEntriesJson>('GET', `/api/audit?${qs}`);
  }

  verifyAudit() {
    return this.call<AuditVerificationJson>('GET', '/api/audit/verify');
  }

  serverInfo() {
    return this.call<Record<string, unknown>>('GET', '/api/server');
  }

  async uploadArtefact(file: string, digest: string, service: string): Promise<ArtefactUploadJson> {
    const size = statSync(file).size;
    return this.call('POST', '/api/artefacts', undefined, {
      body: Readable.toWeb(createReadStream(file)) as unknown as RequestInit['body'],
      duplex: 'half',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size), [ARTEFACT_DIGEST_HEADER]: digest, [ARTEFACT_SERVICE_HEADER]: service },
    } as RequestInit & { headers: Record<string, string> });
  }

  /** Which blobs of a tree's manifest the server lacks (deploys that send only what changed). */
  checkBlobs(body: BlobCheckBody) {
    return this.call<BlobCheckJson>('POST', '/api/blobs/check', body);
  }

  /** One batch of a service's blobs, gzipped as it streams (cli/blob-upload.ts makes it). */
  sendBlobs(batch: Readable, service: string) {
    return this.call<BlobBatchJson>('POST', '/api/blobs', undefined, {
      body: Readable.toWeb(batch) as unknown as RequestInit['body'],
      duplex: 'half',
      headers: { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip', [ARTEFACT_SERVICE_HEADER]: service },
    } as RequestInit & { headers: Record<string, string> });
  }

  assembleArtefact(body: AssembleBody) {
    return this.call<AssembledArtefactJson>('POST', '/api/artefacts/assemble', body);
  }

  deploy(env: string, body: DeployBody) {
    return this.call<DeployAnswerJson>('POST', `${this.envPath(env)}/deploys`, body, {}, this.makeReleaseWaitMs);
  }

  rollback(env: string, body: RollbackBody) {
    return this.call<RollbackAnswerJson>('POST', `${this.envPath(env)}/rollback`, body);
  }

  rolloutCommand(env: string, action: 'pause' | 'resume' | 'promote' | 'abort', body: PromoteBody | Record<string, never> = {}) {
    return this.call<RolloutCommandJson>('POST', `${this.envPath(env)}/${action}`, body);
  }

  status(env?: string): Promise<EnvironmentStatus[]> {
    if (env) return this.call<EnvironmentStatus>('GET', `${this.envPath(env)}`).then((s) => [s]);
    return this.call<EnvironmentsJson>('GET', '/api/environments').then((r) => r.environments);
  }

  /** A page of the environment's releases: the newest 50 unless `q` asks otherwise. */
  releases(env: string, q: ReleasesQuery = {}) {
    const qs = new URLSearchParams(Object.entries(q).filter(([, v]) => v !== undefined).map(([k, v]): [string, string] => [k, String(v)])).toString();
    return this.call<ReleasesJson>('GET', `${this.envPath(env)}/releases${qs ? `?${qs}` : ''}`);
  }

  rollout(id: number) {
    return this.call<RolloutView>('GET', `/api/rollouts/${id}`);
  }

  rolloutEvents(id: number, after: number, waitMs: number) {
    return this.call<RolloutEventsJson>('GET', `/api/rollouts/${id}/events?after=${after}&wait=${waitMs}`);
  }

  /** The newest log records of an environment's instances matching the query. */
  logs(env: string, q: LogsQuery) {
    return this.call<LogsJson>('GET', `${this.envPath(env)}/logs?${logsQueryString(q)}`);
  }

  /** The newest records, then every new one as it is written, until the server or `signal` ends the stream. */
  async followLogs(env: string, q: LogsQuery, onRecord: (r: LogRecordJson) => void, signal?: AbortSignal): Promise<void> {
    const qs = logsQueryString({ ...q, follow: '1' });
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${this.envPath(env)}/logs?${qs}`, { headers: this.authHeaders(), ...(signal ? { signal } : {}) });
    } catch (e) {
      throw new SlipwayError('E_SERVER_UNREACHABLE', `cannot reach the slipway server at ${this.baseUrl}: ${(e as Error).message}`, {}, { cause: e });
    }
    if (!res.ok || !res.body) throw await refusal(res, 'log stream');
    let buf = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) onRecord(JSON.parse(l) as LogRecordJson);
    }
  }

  /**
   * Follows the event stream (SSE), reconnecting with Last-Event-ID when the
   * connection drops, so that no event is missed. Ends when `signal` aborts.
   */
  async followEvents(q: { env?: string; types?: string; after?: number }, onEvent: (e: SlipwayEvent) => void, signal?: AbortSignal): Promise<void> {
    let last: number | null = null;
    for (let failures = 0; !signal?.aborted; ) {
      const qs = new URLSearchParams();
      if (q.env) qs.set('env', this.qualify(q.env));
      if (q.types) qs.set('types', q.types);
      if (last === null && q.after !== undefined) qs.set('after', String(q.after));
      try {
        const res = await fetch(`${this.baseUrl}/api/events?${qs}`, {
          headers: { ...this.authHeaders(), ...(last !== null ? { 'last-event-id': String(last) } : {}) }, ...(signal ? { signal } : {}),
        });
        if (!res.ok || !res.body) throw await refusal(res, 'event stream');
        failures = 0;
        let buf = '';
        const decoder = new TextDecoder();
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buf += decoder.decode(chunk, { stream: true });
          let cut: number;
          while ((cut = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            const data = frame.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
            if (!data) continue;
            const e = JSON.parse(data) as SlipwayEvent;
            last = e.id;
            onEvent(e);
          }
        }
      } catch (e) {
        if (signal?.aborted) return;
        if (e instanceof SlipwayError) throw e;
        if (++failures > 30) throw new SlipwayError('E_SERVER_UNREACHABLE', `lost the event stream of ${this.baseUrl}: ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 1000)); // then resume from the last event seen
    }
  }

  config(env: string) {
    return this.call<ConfigListJson>('GET', `${this.envPath(env)}/config`);
  }

  configVersions(env: string) {
    return this.call<ConfigVersionsJson>('GET', `${this.envPath(env)}/config/versions`);
  }

  setConfig(env: string, body: ConfigSetBody) {
    return this.call<ConfigChangeJson>('POST', `${this.envPath(env)}/config`, body);
  }

  unsetConfig(env: string, body: ConfigUnsetBody) {
    return this.call<ConfigChangeJson>('POST', `${this.envPath(env)}/config/unset`, body);
  }

  configDiff(left: string, right: string) {
    return this.call<ParityJson>('GET', `${this.envPath(left)}/config/diff?with=${encodeURIComponent(this.qualify(right))}`);
  }

  secrets(env: string) {
    return this.call<SecretListJson>('GET', `${this.envPath(env)}/secrets`);
  }

  /** The value travels in the body of a loopback request, never in a URL or on a command line. */
  setSecret(env: string, name: string, body: SecretSetBody) {
    return this.call<ConfigChangeJson>('PUT', `${this.envPath(env)}/secrets/${encodeURIComponent(name)}`, body);
  }

  removeSecret(env: string, name: string, opts: { rollout: boolean }) {
    return this.call<ConfigChangeJson>('DELETE', `${this.envPath(env)}/secrets/${encodeURIComponent(name)}?rollout=${opts.rollout ? '1' : '0'}`);
  }

  plan(env: string, body: DeployBody) {
    return this.call<DeployPlanJson>('POST', `${this.envPath(env)}/plan`, body);
  }

  release(body: ReleaseBody) {
    return this.call<RunViewJson>('POST', '/api/pipeline/runs', body);
  }

  /** An artefact a CI built, for a run of its service (a ci token may not use the deploy upload). */
  async uploadCiArtefact(file: string, digest: string, service: string): Promise<ArtefactUploadJson> {
    const size = statSync(file).size;
    return this.call('POST', '/api/pipeline/ci/artefacts', undefined, {
      body: Readable.toWeb(createReadStream(file)) as unknown as RequestInit['body'],
      duplex: 'half',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size), [ARTEFACT_DIGEST_HEADER]: digest, [ARTEFACT_SERVICE_HEADER]: service },
    } as RequestInit & { headers: Record<string, string> });
  }

  ciRelease(body: CiReleaseBody) {
    return this.call<RunViewJson>('POST', '/api/pipeline/ci/runs', body);
  }

  ciKeys() {
    return this.call<{ keys: CiKeyJson[] }>('GET', '/api/ci-keys');
  }

  putCiKey(name: string, body: CiKeyBody) {
    return this.call<CiKeyJson>('PUT', `/api/ci-keys/${encodeURIComponent(name)}`, body);
  }

  removeCiKey(name: string) {
    return this.call<CiKeyJson>('POST', `/api/ci-keys/${encodeURIComponent(name)}/remove`, {});
  }

  /** A page of runs, newest first; `before`: the previous page's `next`. */
  runs(limit = 30, before?: number, only: { status?: string | undefined; stage?: string | undefined } = {}) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (before !== undefined) q.set('before', String(before));
    if (only.status !== undefined) q.set('status', only.status);
    if (only.stage !== undefined) q.set('stage', only.stage);
    return this.call<RunsJson>('GET', `/api/pipeline/runs?${q.toString()}`);
  }

  run(id: number) {
    return this.call<RunViewJson>('GET', `/api/pipeline/runs/${id}`);
  }

  approve(id: number) {
    return this.call<ApprovalAnswerJson>('POST', `/api/pipeline/runs/${id}/approve`, {});
  }

  reject(id: number, body: RejectBody) {
    return this.call<ApprovalAnswerJson>('POST', `/api/pipeline/runs/${id}/reject`, body);
  }

  rerun(id: number) {
    return this.call<RunViewJson>('POST', `/api/pipeline/runs/${id}/rerun`, {});
  }

  checklist(ref: string) {
    // production#3: the release of this directory's service.
    const qualified = ref.includes('#') ? `${this.qualify(ref.slice(0, ref.indexOf('#')))}${ref.slice(ref.indexOf('#'))}` : ref;
    return this.call<ChecklistJson>('GET', `/api/checklists/${encodeURIComponent(qualified)}`);
  }

  maintenance(env: string, on: boolean, body: MaintenanceOnBody = {}) {
    return this.call<TrafficGateJson>('POST', `${this.envPath(env)}/maintenance/${on ? 'on' : 'off'}`, on ? body : {});
  }

  pauseTraffic(env: string, body: PauseTrafficBody) {
    return this.call<TrafficGateJson>('POST', `${this.envPath(env)}/traffic/pause`, body);
  }

  resumeTraffic(env: string) {
    return this.call<TrafficGateJson>('POST', `${this.envPath(env)}/traffic/resume`, {});
  }

  policy() {
    return this.call<PolicyJson>('GET', '/api/policy');
  }

  setPolicy(body: PolicySetBody) {
    return this.call<PolicyJson>('PUT', '/api/policy', body);
  }

  /** `slipway down`: instances stopped, listener released, history kept. */
  down(env: string) {
    return this.call<DownAnswerJson>('POST', `${this.envPath(env)}/down`, {});
  }

  /** `slipway remove`: down, then its records forgotten (audit entries stay). */
  remove(env: string) {
    return this.call<RemoveAnswerJson>('DELETE', this.envPath(env));
  }

  shutdown(body: ShutdownBody) {
    return this.call<ShutdownJson>('POST', '/api/shutdown', body);
  }
}

/** Follows a rollout's events until it ends; returns its final view. */
export async function followRollout(client: ApiClient, id: number, onEvent: (e: RolloutEventRecord) => void): Promise<RolloutView> {
  let after = 0;
  for (;;) {
    const { rollout, events } = await client.rolloutEvents(id, after, 10_000);
    for (const e of events) {
      onEvent(e);
      after = e.id;
    }
    if (isTerminal(rollout.phase) && events.length === 0) return rollout;
  }
}

/**
 * Why a call got no answer. fetch gives up on a server that accepted the request but
 * sent no response header in `waitedMs` (300 s, or a deploy's longer wait): that
 * server is running, and may still be at the work (a slow unpack, an image build),
 * so it is not called unreachable.
 */
export function unreachableMessage(baseUrl: string, method: string, path: string, e: unknown, waitedMs = ANSWER_WAIT_MS): string {
  const cause = (e as Error).cause;
  if ((cause as { code?: string } | undefined)?.code === 'UND_ERR_HEADERS_TIMEOUT') {
    return `the slipway server at ${baseUrl} gave no answer to ${method} ${path.split('?')[0]} within ${formatWait(waitedMs)}; it may still be at the work: see \`slipway status\` and the server's log`;
  }
  return `cannot reach the slipway server at ${baseUrl}: ${cause instanceof Error ? cause.message : (e as Error).message}; is \`slipway server\` running?`;
}

/** 300 s, 30 min, 1.5 s. */
function formatWait(ms: number): string {
  return ms >= 600_000 && ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Number((ms / 1000).toFixed(1))} s`;
}
