// Releases from a hosted CI (slipway ci-release): the CI uploads the artefact it
// built, then starts a pipeline run of it with its account of the build (provider,
// job, commit, branch) and its test report. Both need the "release" permission for
// the artefact's service: a CI token starts runs of its own services, and the run
// then meets every gate (staging, approval, freeze) as any other does.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { envKey } from '../core/env-key.ts';
import { SlipwayError } from '../core/errors.ts';
import { mayAccess } from '../core/roles.ts';
import type { CiOrigin } from '../core/pipeline/ci-origin.ts';
import { parseConfigText } from '../config/index.ts';
import type { Engine } from '../engine/engine.ts';
import { parseTestReport } from '../engine/pipeline/test-report.ts';
import { ciKeyBody, ciKeyParam, ciReleaseBody } from './ci-schemas.ts';
import { actorOf, parse, serviceOfUpload } from './request-input.ts';
import { ARTEFACT_DIGEST_HEADER, emptyBody } from './schemas.ts';
import { requireTarGz } from './tar-gz-check.ts';
import type { ArtefactUploadJson } from './views.ts';

function forbid(req: FastifyRequest, reason: string, details: Record<string, unknown>): SlipwayError {
  const who = req.identity!;
  return new SlipwayError('E_FORBIDDEN', `${who.user} (${who.role}) may not ${req.method} ${req.routeOptions.url}: ${reason}`, { permission: 'release', role: who.role, ...details });
}

export function registerCiRoutes(app: FastifyInstance, o: { engine: Engine }): void {
  const runner = o.engine.pipeline;

  app.post('/api/pipeline/ci/artefacts', { config: { permission: 'release', anyEnv: true, audit: 'ci.artefact.upload', summary: 'upload an artefact a CI built, for a run of its service (application/octet-stream; x-slipway-digest, x-slipway-service)' } }, async (req, reply) => {
    const digest = String(req.headers[ARTEFACT_DIGEST_HEADER] ?? '');
    const service = serviceOfUpload(req, 'release', 'the artefact\'s service');
    if (!req.body || typeof (req.body as Readable).pipe !== 'function') {
      throw new SlipwayError('E_BAD_REQUEST', 'send the artefact as the request body with content-type application/octet-stream');
    }
    req.auditNote = { target: digest, details: { service } };
    let record;
    try {
      record = await o.engine.receiveArtefact(requireTarGz(req.body as Readable), digest, service, actorOf(req.headers));
    } catch (e) {
      reply.header('connection', 'close');
      throw e;
    }
    return reply.status(201).send({ digest: record.digest, bytes: record.bytes } satisfies ArtefactUploadJson);
  });

  // The CI keys: public keys only, so reading them needs no more than read.
  app.get('/api/ci-keys', { config: { permission: 'read', summary: 'the CI signing keys registered, with their services' } }, async () => ({ keys: runner.ciKeys.list() }));

  app.put('/api/ci-keys/:name', { config: { permission: 'admin', audit: 'ci-key.put', input: { params: ciKeyParam, body: ciKeyBody }, summary: 'register (or replace) a CI signing key (Ed25519 public key, PEM) for some services' } }, async (req) => {
    const { name } = parse(ciKeyParam, req.params, 'path');
    const body = parse(ciKeyBody, req.body, 'body');
    const key = runner.ciKeys.put({ name, services: body.services, publicKeyPem: body.publicKey, by: actorOf(req.headers) });
    req.auditNote = { target: `ci key ${name}`, details: { services: key.services, keyId: key.keyId } };
    return key;
  });

  app.post('/api/ci-keys/:name/remove', { config: { permission: 'admin', audit: 'ci-key.remove', input: { params: ciKeyParam, body: emptyBody }, summary: 'remove a CI signing key' } }, async (req) => {
    const { name } = parse(ciKeyParam, req.params, 'path');
    parse(emptyBody, req.body, 'body');
    req.auditNote = { target: `ci key ${name}` };
    return runner.ciKeys.remove(name);
  });

  app.post('/api/pipeline/ci/runs', { config: { permission: 'release', anyEnv: true, audit: 'release.start', input: { body: ciReleaseBody }, summary: 'start a release run of an artefact a CI built and tested: staging, acceptance, approval, production' } }, async (req, reply) => {
    const body = parse(ciReleaseBody, req.body, 'body');
    // Read before anything is recorded: a bad report starts no run.
    const testReport = body.testReport ? parseTestReport(body.testReport.text, body.testReport.format) : null;
    const configText = await runner.readArtefactConfig(body.artefact);
    const config = parseConfigText(configText, `slipway.yaml in ${body.artefact.slice(0, 19)}…`);
    if (req.identity && config.pipeline) {
      // The run deploys to the service's staging and production: the token must hold "release" in both.
      for (const env of [config.pipeline.stagingEnv, config.pipeline.productionEnv]) {
        const access = mayAccess(req.identity, 'release', envKey(config.service, env));
        if (!access.allowed) throw forbid(req, access.reason, { env: envKey(config.service, env), service: config.service });
      }
    }
    const signedBy = runner.ciKeys.check({ service: config.service, digest: body.artefact, commit: body.ci.commit, signature: body.signature ?? null });
    const ci: CiOrigin = { ...body.ci, notes: body.notes?.trim() || null, testReport, signedBy };
    const run = runner.beginFromCi({ digest: body.artefact, config, ci, version: body.version ?? null, actor: actorOf(req.headers) });
    req.auditNote = { target: `run ${run.id}`, details: { commit: ci.commit, ci: ci.provider, jobUrl: ci.jobUrl, artefact: body.artefact } };
    return reply.status(202).send(runner.view(run.id));
  });
}
