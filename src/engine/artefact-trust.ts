// Trusting an artefact: every artefact on the server has a manifest signed with the
// server's Ed25519 key (a pipeline build writes a full one; an upload gets a short
// one once its digest is checked), and every deploy checks, before anything runs,
// that the file still hashes to its digest and that the manifest's signature holds.
// Also the artefact collector, which never removes one a release may need.

import { existsSync, rmSync } from 'node:fs';
import { SlipwayError } from '../core/errors.ts';
import { canonicalManifest, type ArtefactManifest } from '../core/pipeline/pipeline-run.ts';
import type { ArtefactRecord } from '../core/records.ts';
import { sha256File } from '../artefact/index.ts';
import type { SigningKey } from '../security/signing-key.ts';
import type { StateStore } from '../store/state-store.ts';

export interface VerifiedArtefact {
  digest: string;
  manifest: ArtefactManifest;
  keyId: string;
}

export class ArtefactTrust {
  constructor(private readonly deps: { store: StateStore; key: SigningKey; now: () => number; /** After artefacts were removed: the blob collector. */ onCollected?: () => void }) {}

  get keyId(): string {
    return this.deps.key.keyId;
  }

  /**
   * Signs and records a manifest. The first build (or CI) manifest of a digest stays
   * (a rebuild makes the same bytes); it replaces the short manifest of an upload.
   */
  sign(manifest: ArtefactManifest): { signature: string; keyId: string } {
    const signedText = canonicalManifest(manifest);
    const signature = this.deps.key.sign(signedText);
    const existing = this.deps.store.pipeline.getManifest(manifest.digest);
    const replace = manifest.origin !== 'upload' && existing?.manifest.origin === 'upload';
    this.deps.store.pipeline.putManifest(manifest.digest, { signedText, signature, keyId: this.deps.key.keyId, createdAt: this.deps.now() }, replace);
    const kept = this.deps.store.pipeline.getManifest(manifest.digest)!;
    return { signature: kept.signature, keyId: kept.keyId };
  }

  /** An uploaded artefact (its digest already checked while it was received) gets a short manifest. */
  signUpload(record: ArtefactRecord, uploader: string): void {
    if (this.deps.store.pipeline.getManifest(record.digest)) return;
    this.sign({
      service: record.service, version: 'upload', digest: record.digest, commit: null, builtAt: record.createdAt, builder: uploader,
      tests: null, files: {}, origin: 'upload', runId: null,
    });
  }

  /**
   * Throws E_ARTEFACT_TAMPERED unless the file hashes to its digest and its manifest
   * is signed by this server's key and names that digest.
   */
  async verify(digest: string): Promise<VerifiedArtefact> {
    const { store, key } = this.deps;
    const artefact = store.getArtefact(digest);
    if (!artefact || !existsSync(artefact.path)) {
      throw new SlipwayError('E_NOT_FOUND', `artefact ${digest} is not on the server; upload it first (slipway deploy does both)`, { digest });
    }
    const actual = await sha256File(artefact.path);
    if (actual !== digest) {
      throw new SlipwayError('E_ARTEFACT_TAMPERED', `artefact ${digest} was altered on the server: its file now hashes to ${actual}; refusing to deploy it. Build or upload it again`, { digest, actual, path: artefact.path });
    }
    const stored = store.pipeline.getManifest(digest);
    if (!stored) {
      throw new SlipwayError('E_ARTEFACT_TAMPERED', `artefact ${digest} has no signed manifest; refusing to deploy it. Upload it again so the server can check and sign it`, { digest });
    }
    if (stored.keyId !== key.keyId || !key.verify(stored.signedText, stored.signature)) {
      throw new SlipwayError('E_ARTEFACT_TAMPERED', `the manifest of artefact ${digest} is not signed by this server's key ${key.keyId} (signed by ${stored.keyId}, or altered); refusing to deploy it`, { digest, keyId: stored.keyId });
    }
    if (stored.manifest.digest !== digest) {
      throw new SlipwayError('E_ARTEFACT_TAMPERED', `the manifest of artefact ${digest} names another artefact (${stored.manifest.digest}); refusing to deploy it`, { digest });
    }
    return { digest, manifest: stored.manifest, keyId: stored.keyId };
  }

  /**
   * Removes a service's artefacts beyond the newest `keep`, except any that a release
   * refers to (a rollback may need it) or that `alsoKeep` names (a run in progress).
   */
  collect(service: string, keep: number, alsoKeep: Set<string>): string[] {
    const removed: string[] = [];
    const all = this.deps.store.pipeline.artefactsOf(service);
    for (const a of all.slice(keep)) {
      if (a.inRelease || alsoKeep.has(a.digest)) continue;
      rmSync(a.path, { force: true });
      this.deps.store.pipeline.deleteArtefact(a.digest);
      removed.push(a.digest);
    }
    if (removed.length > 0) this.deps.onCollected?.();
    return removed;
  }
}
