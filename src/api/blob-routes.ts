// Deploys that send only what changed (docs/deploy.md#sending-only-what-changed):
// the manifest first, then the blobs the server lacks, then the artefact assembled
// from them. Each service has its own blobs: every route names the service, and a
// token needs "deploy" for that service (an environment of it, or a bare name).

import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { SlipwayError } from '../core/errors.ts';
import type { Engine } from '../engine/engine.ts';
import { assembleBody, blobCheckBody } from './blob-schemas.ts';
import { actorOf, assertMayActForService, parse, serviceOfUpload } from './request-input.ts';
import type { AssembledArtefactJson, BlobBatchJson, BlobCheckJson } from './views.ts';

/** A manifest of 100,000 entries (the artefact limit) with long paths fits. */
const MANIFEST_BODY_LIMIT = 64 * 1024 * 1024;

export function registerBlobRoutes(app: FastifyInstance, engine: Engine): void {
  app.post('/api/blobs/check', { bodyLimit: MANIFEST_BODY_LIMIT, config: { permission: 'deploy', anyEnv: true, audit: false, input: { body: blobCheckBody }, summary: 'which blobs of a tree\'s manifest the server lacks (changes nothing)' } }, async (req): Promise<BlobCheckJson> => {
    const body = parse(blobCheckBody, req.body, 'body');
    assertMayActForService(req, 'deploy', body.service);
    return engine.blobs.check(body.service, body.entries);
  });

  app.post('/api/blobs', { config: { permission: 'deploy', anyEnv: true, audit: 'blobs.upload', summary: 'send a service\'s file blobs (application/octet-stream, x-slipway-service, optionally content-encoding: gzip; each blob "<sha256 hex> <size>\\n" then its bytes)' } }, async (req, reply) => {
    if (!req.body || typeof (req.body as Readable).pipe !== 'function') {
      throw new SlipwayError('E_BAD_REQUEST', 'send the blobs as the request body with content-type application/octet-stream');
    }
    const service = serviceOfUpload(req, 'deploy', 'the service whose blobs these are');
    const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity' && encoding !== 'gzip') throw new SlipwayError('E_BAD_REQUEST', `content-encoding ${encoding.slice(0, 40)} is not accepted; send gzip or nothing`);
    const raw = req.body as Readable;
    const body = encoding === 'gzip' ? raw.pipe(createGunzip()) : raw;
    if (body !== raw) {
      raw.on('error', (e) => body.destroy(e));
      // The store may refuse before it reads (a full disk: no room for the batch's
      // directory), and then nothing else hears the inflater: its error (bytes that
      // are not gzip, a connection closed under the unread body) would end the server.
      body.on('error', () => undefined);
    }
    let answer;
    try {
      answer = await engine.blobs.receive(service, body);
    } catch (e) {
      // The rest of a refused body is not read: the connection closes after the answer.
      reply.header('connection', 'close');
      if (body !== raw) body.destroy();
      if ((e as { code?: string }).code === 'Z_DATA_ERROR') throw new SlipwayError('E_BAD_REQUEST', 'the blob batch is not valid gzip; nothing of it was kept', {}, { cause: e });
      throw e;
    }
    req.auditNote = { target: `${answer.received} blobs`, details: { service, bytes: answer.bytes } };
    return reply.status(201).send(answer satisfies BlobBatchJson);
  });

  app.post('/api/artefacts/assemble', { bodyLimit: MANIFEST_BODY_LIMIT, config: { permission: 'deploy', anyEnv: true, audit: 'artefact.assemble', input: { body: assembleBody }, summary: 'make an artefact from a tree\'s manifest and the blobs sent before' } }, async (req, reply) => {
    const body = parse(assembleBody, req.body, 'body');
    assertMayActForService(req, 'deploy', body.service);
    const a = await engine.blobs.assemble({ service: body.service, entries: body.entries, uploader: actorOf(req.headers) });
    req.auditNote = { target: a.record.digest, details: { service: body.service, manifest: a.manifest, reused: a.reused } };
    return reply.status(a.reused ? 200 : 201).send({ digest: a.record.digest, bytes: a.record.bytes, reused: a.reused, manifest: a.manifest } satisfies AssembledArtefactJson);
  });
}
