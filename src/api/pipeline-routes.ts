// The HTTP API of the release pipeline: start a run from a commit, follow it,
// approve or reject it, re-run it from the stage that failed, and read the
// deployment checklist of a run or a release.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SlipwayError } from '../core/errors.ts';
import { parseConfigText } from '../config/index.ts';
import type { Engine } from '../engine/engine.ts';
import type { ReadModels } from '../engine/read-models.ts';
import { assertSignature, fetchBranch, parsePush, webhookSettings } from '../engine/pipeline/push-trigger.ts';
import { checklistParam, rejectBody, releaseBody, runParam, runsQuery } from './pipeline-schemas.ts';
import { emptyBody } from './schemas.ts';
import { actorOf, parse } from './request-input.ts';
import type { ApprovalAnswerJson, RunsJson } from './views.ts';

/** The approver's slipway role, as their token says (null only if no token was checked). */
const rolesOf = (req: FastifyRequest): string[] | null => (req.identity ? [req.identity.role] : null);

export interface PipelineRouteOptions {
  engine: Engine;
  reads: ReadModels;
}

export function registerPipelineRoutes(app: FastifyInstance, o: PipelineRouteOptions): void {
  const runner = o.engine.pipeline;
  // An approval is for the run's production environment: a token limited to other environments may not give it.
  const approvalEnv = (req: FastifyRequest): string | undefined => {
    const r = runParam.safeParse(req.params);
    return r.success ? runner.approvalEnvOf(r.data.id) : undefined;
  };

  app.post('/api/pipeline/runs', { config: { permission: 'deploy', audit: 'release.start', input: { body: releaseBody }, summary: 'start a release run of a git commit: build, test, staging, approval, production' } }, async (req, reply) => {
    const body = parse(releaseBody, req.body, 'body');
    const { source, configText, file } = await runner.readSource(body);
    const config = parseConfigText(configText, `${file}@${source.commit.slice(0, 7)}`);
    const run = runner.begin({ source, config, actor: actorOf(req.headers) });
    req.auditNote = { target: `run ${run.id}`, details: { commit: source.commit, ref: body.ref ?? null } };
    return reply.status(202).send(runner.view(run.id));
  });

  // Each run with its approvals, as its own page has them: who already approved is what
  // decides whether a list's Approve button would be refused (approval-refusal.js).
  app.get('/api/pipeline/runs', { config: { permission: 'read', input: { query: runsQuery }, summary: 'a page of release runs, newest first, each with its approvals; status and stage keep only the runs with that status, at that stage' } }, async (req): Promise<RunsJson> => {
    const q = parse(runsQuery, req.query, 'query');
    if (q.before !== undefined && !o.reads.runs.exists(q.before)) {
      throw new SlipwayError('E_BAD_REQUEST', `query: before: there is no run #${q.before}; give the \`next\` of the page before (see slipway runs)`, { field: 'before' });
    }
    const { ids, total, more, next } = runner.page(q);
    const runs = ids.map((id) => {
      const { run, approvals } = runner.view(id);
      return { ...run, approvals };
    });
    return { runs, total, more, next };
  });

  app.get('/api/pipeline/runs/:id', { config: { permission: 'read', input: { params: runParam }, summary: 'a run with its stages and approvals' } }, async (req) => {
    const { id } = parse(runParam, req.params, 'path');
    return runner.view(id);
  });

  app.post('/api/pipeline/runs/:id/approve', { config: { permission: 'approve', envOf: approvalEnv, audit: 'release.approve', input: { params: runParam, body: emptyBody }, summary: 'approve a run for production (four eyes may apply)' } }, async (req, reply) => {
    const { id } = parse(runParam, req.params, 'path');
    parse(emptyBody, req.body, 'body');
    req.auditNote = { target: `run ${id}` };
    const approval = runner.approve(id, actorOf(req.headers), rolesOf(req));
    return reply.status(201).send({ approval, run: runner.view(id).run } satisfies ApprovalAnswerJson);
  });

  app.post('/api/pipeline/runs/:id/reject', { config: { permission: 'approve', envOf: approvalEnv, audit: 'release.reject', input: { params: runParam, body: rejectBody }, summary: 'reject a run, with a reason' } }, async (req, reply) => {
    const { id } = parse(runParam, req.params, 'path');
    const body = parse(rejectBody, req.body, 'body');
    req.auditNote = { target: `run ${id}` };
    const approval = runner.reject(id, actorOf(req.headers), rolesOf(req), body.reason);
    return reply.status(201).send({ approval, run: runner.view(id).run } satisfies ApprovalAnswerJson);
  });

  app.post('/api/pipeline/runs/:id/rerun', { config: { permission: 'deploy', audit: 'release.rerun', input: { params: runParam, body: emptyBody }, summary: 'run a failed run again from the stage that failed' } }, async (req, reply) => {
    const { id } = parse(runParam, req.params, 'path');
    parse(emptyBody, req.body, 'body');
    req.auditNote = { target: `run ${id}` };
    runner.rerun(id, actorOf(req.headers));
    return reply.status(202).send(runner.view(id));
  });

  // A git push webhook (GitHub style). It carries no token: the HMAC signature of
  // the raw body is its credential, so the body is kept as text to check it.
  const webhook = webhookSettings(process.env);
  void app.register(async (scope) => {
    scope.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: 5 * 1024 * 1024 }, (_req, body, done) => done(null, body));
    scope.post('/api/pipeline/webhook', { config: { permission: 'public', summary: 'git push webhook; its HMAC signature (X-Hub-Signature-256) is its credential' } }, async (req, reply) => {
      if (!webhook) throw new SlipwayError('E_WEBHOOK_SIGNATURE', 'this server has no push webhook: start it with SLIPWAY_WEBHOOK_SECRET and SLIPWAY_WEBHOOK_REPO set');
      const body = typeof req.body === 'string' ? req.body : '';
      const sig = req.headers['x-hub-signature-256'];
      assertSignature(webhook.secret, body, typeof sig === 'string' ? sig : undefined);
      const event = req.headers['x-github-event'];
      if (event === 'ping') return { ok: true };
      if (event !== undefined && event !== 'push') return reply.status(202).send({ ignored: `event ${String(event)}` });
      const push = parsePush(body);
      if (!push || push.ref !== `refs/heads/${webhook.branch}`) return reply.status(202).send({ ignored: `not a push of a commit to ${webhook.branch}` });
      await fetchBranch(webhook.repo, webhook.branch);
      const { source, configText, file } = await runner.readSource({ repo: webhook.repo, ref: push.after, subdir: webhook.subdir });
      const earlier = runner.unfailedRunOf(source.commit);
      if (earlier) return reply.status(200).send({ duplicate: true, run: earlier });
      const config = parseConfigText(configText, `${file}@${source.commit.slice(0, 7)}`);
      // The pusher starts the run: four eyes then keeps them from approving their own push.
      const run = runner.begin({ source, config, actor: push.pusher });
      return reply.status(202).send(runner.view(run.id));
    });
  });

  app.get('/api/checklists/:ref', { config: { permission: 'read', input: { params: checklistParam }, summary: 'the deployment checklist of a run or a release, with evidence' } }, async (req) => {
    const { ref } = parse(checklistParam, req.params, 'path');
    if (/^\d+$/.test(ref)) return runner.checklist(Number(ref));
    const [named, number] = ref.split('#') as [string, string];
    const env = o.engine.resolveEnvironment(named);
    const release = o.reads.releases.byNumber(env, Number(number));
    if (!release) throw new SlipwayError('E_NOT_FOUND', `${env} has no release #${number}; see slipway releases ${env}`, { env });
    const run = runner.runOfArtefact(release.artefactDigest);
    if (!run) throw new SlipwayError('E_NOT_FOUND', `${ref} was not made by a pipeline run (deployed with slipway deploy), so it has no checklist`, { ref });
    return runner.checklist(run.id);
  });
}
