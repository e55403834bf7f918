// The HTTP API of config versions, secrets, the parity report and deploy plans.
// Secret values come in (set) and never go out: answers carry names, versions,
// references and who set them when.

import type { FastifyInstance } from 'fastify';
import { envKey, isEnvKey, splitEnvKey } from '../core/env-key.ts';
import { SlipwayError } from '../core/errors.ts';
import { parityReport } from '../core/config-parity.ts';
import { mayAccess } from '../core/roles.ts';
import type { ConfigEntry } from '../core/config-view.ts';
import type { ConfigVersionRecord } from '../core/records.ts';
import { parseConfigText } from '../config/index.ts';
import type { ConfigChangeAnswer, Engine } from '../engine/engine.ts';
import type { ConfigChange } from '../engine/config-versions.ts';
import type { ReadModels } from '../engine/read-models.ts';
import type { ReleaseAnswers } from './release-answers.ts';
import type { ConfigChangeJson, ConfigListJson, ConfigVersionJson, ConfigVersionsJson, ParityJson, SecretListJson } from './views.ts';
import {
  configDiffQuery, configSetBody, configUnsetBody, deployBody, envParam, secretParam, secretRmQuery, secretSetBody,
} from './schemas.ts';
import { actorOf, parse } from './request-input.ts';


/** An entry without its fingerprint: equality is decided on the server, the hash itself stays there. */
function entryView(e: ConfigEntry) {
  if (e.kind === 'plain') return e;
  const { fingerprint: _f, ...rest } = e;
  return rest;
}

function versionView(v: ConfigVersionRecord): ConfigVersionJson {
  return { number: v.number, change: v.change, createdAt: v.createdAt, createdBy: v.createdBy };
}

export interface ConfigRouteOptions {
  engine: Engine;
  reads: ReadModels;
  releases: ReleaseAnswers;
}

export function registerConfigRoutes(app: FastifyInstance, o: ConfigRouteOptions): void {
  const { engine, reads } = o;
  const knownEnv = (env: string) => {
    if (!engine.isKnownEnvironment(env)) throw new SlipwayError('E_ENV_UNKNOWN', `nothing has been deployed to "${env}" and it has no config yet`, { env });
  };

  const change = async (env: string, c: ConfigChange, body: { rollout: boolean; allowNew: boolean }, headers: Record<string, unknown>): Promise<ConfigChangeJson> => {
    const a: ConfigChangeAnswer = await engine.changeConfig({ env, change: c, actor: actorOf(headers), rollout: body.rollout, allowNew: body.allowNew });
    return {
      unchanged: a.unchanged,
      version: a.version && versionView(a.version),
      release: a.release ? o.releases.view(a.release) : null,
      rollout: a.rollout ? reads.rollouts.view(a.rollout) : null,
    };
  };
  const statusOf = (a: { unchanged: boolean; rollout: unknown }) => (a.rollout ? 202 : a.unchanged ? 200 : 201);

  app.get('/api/environments/:env/config', { config: { permission: 'read', input: { params: envParam }, summary: 'the environment\'s config (secrets by name only)' } }, async (req): Promise<ConfigListJson> => {
    const { env } = parse(envParam, req.params, 'path');
    knownEnv(env);
    const view = engine.configs.view(env);
    const stable = engine.configs.stable(env);
    const latest = engine.configs.latest(env);
    return {
      env,
      version: latest && versionView(latest),
      stable: stable ? { number: stable.number, configVersion: stable.config.configVersion } : null,
      // The newest version is not what the stable release runs yet (recorded without a rollout, or rolled back).
      pending: latest !== null && stable?.config.configVersion !== latest.number,
      entries: view.entries.map(entryView),
      conflicts: view.conflicts,
    };
  });

  app.get('/api/environments/:env/config/versions', { config: { permission: 'read', input: { params: envParam }, summary: 'config versions' } }, async (req): Promise<ConfigVersionsJson> => {
    const { env } = parse(envParam, req.params, 'path');
    knownEnv(env);
    return { env, versions: reads.environments.configVersions(env).map((v) => ({ ...versionView(v), keys: Object.keys(v.values).sort(), secrets: v.secrets })) };
  });

  app.post('/api/environments/:env/config', { config: { permission: 'admin', audit: 'config.set', input: { params: envParam, body: configSetBody }, summary: 'set config values' } }, async (req, reply) => {
    const { env } = parse(envParam, req.params, 'path');
    const body = parse(configSetBody, req.body, 'body');
    // Names only: a plain value may still be something its owner would rather not have copied around.
    req.auditNote = { target: Object.keys(body.values).sort().join(',') };
    const a = await change(env, { type: 'set', values: body.values }, body, req.headers);
    req.auditNote.details = { configVersion: a.version?.number ?? null, rollout: a.rollout?.id ?? null };
    return reply.status(statusOf(a)).send(a);
  });

  app.post('/api/environments/:env/config/unset', { config: { permission: 'admin', audit: 'config.unset', input: { params: envParam, body: configUnsetBody }, summary: 'remove config values' } }, async (req, reply) => {
    const { env } = parse(envParam, req.params, 'path');
    const body = parse(configUnsetBody, req.body, 'body');
    req.auditNote = { target: [...body.keys].sort().join(',') };
    const a = await change(env, { type: 'unset', keys: body.keys }, body, req.headers);
    req.auditNote.details = { configVersion: a.version?.number ?? null, rollout: a.rollout?.id ?? null };
    return reply.status(statusOf(a)).send(a);
  });

  app.get('/api/environments/:env/config/diff', { config: { permission: 'read', input: { params: envParam, query: configDiffQuery }, summary: 'config parity with another environment' } }, async (req): Promise<ParityJson> => {
    const { env } = parse(envParam, req.params, 'path');
    const q = parse(configDiffQuery, req.query, 'query');
    // `with=staging` is the same service's staging.
    const service = splitEnvKey(env).service;
    const other = service !== null && !isEnvKey(q.with) ? envKey(service, q.with) : engine.resolveEnvironment(q.with);
    knownEnv(env);
    knownEnv(other);
    return { left: env, right: other, rows: parityReport(engine.configs.view(env).entries, engine.configs.view(other).entries) };
  });

  app.get('/api/environments/:env/secrets', { config: { permission: 'read', input: { params: envParam }, summary: 'secret names, versions and fingerprints (never values)' } }, async (req): Promise<SecretListJson> => {
    const { env } = parse(envParam, req.params, 'path');
    knownEnv(env);
    return { env, secrets: engine.configs.listSecrets(env) };
  });

  app.put('/api/environments/:env/secrets/:name', { config: { permission: 'admin', audit: 'secret.set', input: { params: secretParam, body: secretSetBody }, summary: 'set a secret (the value is never shown again)' } }, async (req, reply) => {
    const { env, name } = parse(secretParam, req.params, 'path');
    const body = parse(secretSetBody, req.body, 'body');
    req.auditNote = { target: `secret ${name}` };
    const a = await change(env, { type: 'secret-set', name, value: body.value }, body, req.headers);
    req.auditNote.details = { configVersion: a.version?.number ?? null, rollout: a.rollout?.id ?? null };
    return reply.status(statusOf(a)).send(a);
  });

  app.delete('/api/environments/:env/secrets/:name', { config: { permission: 'admin', audit: 'secret.delete', input: { params: secretParam, query: secretRmQuery }, summary: 'remove a secret' } }, async (req, reply) => {
    const { env, name } = parse(secretParam, req.params, 'path');
    const q = parse(secretRmQuery, req.query, 'query');
    req.auditNote = { target: `secret ${name}` };
    const a = await change(env, { type: 'secret-rm', name }, { rollout: q.rollout === '1' || q.rollout === 'true', allowNew: false }, req.headers);
    req.auditNote.details = { configVersion: a.version?.number ?? null, rollout: a.rollout?.id ?? null };
    return reply.status(statusOf(a)).send(a);
  });

  app.post('/api/environments/:env/plan', { config: { permission: 'read', audit: false, input: { params: envParam, body: deployBody }, summary: 'what a deploy would do (changes nothing)' } }, async (req) => {
    const { env } = parse(envParam, req.params, 'path');
    const body = parse(deployBody, req.body, 'body');
    const config = parseConfigText(body.config.text, body.config.file);
    // Only a caller who could deploy here gets the checks that touch the host (secrets
    // read, names resolved, ports probed): a viewer's plan must not be a way to probe.
    const full = req.identity !== undefined && mayAccess(req.identity, 'deploy', env).allowed;
    return engine.planDeploy({ env, artefactDigest: body.artefact, config, actor: actorOf(req.headers) }, { full });
  });
}
