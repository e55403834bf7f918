// Artefacts assembled from file blobs: the server side of a deploy that sends only
// what changed. The CLI sends the tree's manifest (each entry's path, mode, size and
// sha256, in the order the packer walks), the server answers which blobs it lacks,
// the CLI sends those, and the server packs the artefact from the manifest and its
// blobs with the same deterministic packer the CLI uses (artefact/pack-directory.ts).
// So the artefact is byte for byte the .tar.gz the CLI would have uploaded for the
// same tree: the same digest, signed as an upload, verified, audited, deployed and
// rolled back like one.

import { randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { SlipwayError } from '../core/errors.ts';
import type { ArtefactRecord } from '../core/records.ts';
import { artefactLimitsFrom, overLimit, packScanned, type ArtefactLimits } from '../artefact/index.ts';
import type { PackEntry } from '../artefact/deterministic-tar.ts';
import { assertSafeTree, normaliseEntryPath } from '../artefact/tree-safety.ts';
import type { BlobStore, ServiceBlobStores } from '../store/blob-store.ts';
import type { StateStore } from '../store/state-store.ts';
import { artefactPath } from './artefact-store.ts';
import type { ArtefactTrust } from './artefact-trust.ts';

/** One entry of a tree's manifest, as the API receives it (api/blob-schemas.ts parses it). */
export type ManifestEntry =
  | { type: 'file'; path: string; mode: number; size: number; sha256: string }
  | { type: 'directory'; path: string }
  | { type: 'symlink'; path: string; target: string };

export interface BlobCheck {
  /** 'sha256:<hex>' of the manifest: names this tree before its artefact exists. */
  manifest: string;
  files: number;
  /** Distinct blobs the manifest names (two equal files are one blob). */
  blobs: number;
  /** Hex names of the blobs the server does not hold, in manifest order. */
  missing: string[];
  missingBytes: number;
  /** The artefact this manifest was assembled into before, when the server still holds it: nothing to send or assemble. */
  artefact: string | null;
}

/** Unreferenced blobs younger than this stay: a deploy may be between its upload and its assembly. */
const SWEEP_GRACE_MS = 60 * 60 * 1000;
/** The collector runs after an assembly at most this often (and whenever artefacts are collected). */
const SWEEP_EVERY_MS = 60 * 60 * 1000;

export class BlobArtefacts {
  #lastSweepMs = 0;

  constructor(private readonly deps: {
    /** One store per service: a service's deploys see and use only its own blobs. */
    blobs: ServiceBlobStores;
    store: StateStore;
    trust: ArtefactTrust;
    artefactsDir: string;
    now: () => number;
    onSweep?: (removed: { blobsRemoved: number; bytesRemoved: number }) => void;
    limits?: ArtefactLimits;
  }) {}

  private get limits(): ArtefactLimits {
    return this.deps.limits ?? artefactLimitsFrom(process.env);
  }

  /** Which blobs of a manifest the service's store lacks. Checks the manifest; stores nothing. */
  async check(service: string, entries: readonly ManifestEntry[]): Promise<BlobCheck> {
    const blobs = this.deps.blobs.of(service);
    const manifest = await this.validate(entries);
    const missing: string[] = [];
    const distinct = new Map<string, number>();
    for (const e of entries) if (e.type === 'file') distinct.set(e.sha256, e.size);
    let missingBytes = 0;
    for (const [hex, size] of distinct) {
      if (blobs.has(hex)) continue;
      missing.push(hex);
      missingBytes += size;
    }
    return { manifest, files: entries.filter((e) => e.type !== 'directory').length, blobs: distinct.size, missing, missingBytes, artefact: this.heldArtefactOf(blobs, manifest) };
  }

  /** Receives one batch of a service's blobs (store/blob-store.ts has the format). */
  receive(service: string, body: AsyncIterable<Buffer>): Promise<{ received: number; bytes: number }> {
    const l = this.limits;
    return this.deps.blobs.of(service).receive(body, { maxBatchBytes: l.maxDecompressedBytes, maxBlobBytes: l.maxFileBytes, maxBlobs: l.maxEntries });
  }

  /**
   * Packs the artefact of a manifest from held blobs, stores and signs it as an
   * upload. Refuses (E_BLOB_MISSING, nothing stored) when a blob is not held, or no
   * longer hashes to its name (it is removed, so the CLI sends it again).
   */
  async assemble(o: { service: string; entries: readonly ManifestEntry[]; uploader: string }): Promise<{ record: ArtefactRecord; reused: boolean; manifest: string }> {
    const blobs = this.deps.blobs.of(o.service);
    const manifest = await this.validate(o.entries);
    const held = this.heldArtefactOf(blobs, manifest);
    if (held) return { record: this.deps.store.getArtefact(held)!, reused: true, manifest };
    const files = new Map<string, number>();
    for (const e of o.entries) if (e.type === 'file') files.set(e.sha256, e.size);
    const missing = [...files.keys()].filter((hex) => !blobs.has(hex));
    // A blob of another size than the manifest says is damaged (or the manifest lies): removed, so it is sent again.
    if (missing.length === 0) missing.push(...wrongSize(blobs, files));
    if (missing.length > 0) throw blobsMissing(missing);
    // Each blob's bytes are hashed again as they are packed (a crash may have damaged one).
    const entries: PackEntry[] = o.entries.map((e) => e.type === 'file'
      ? { path: e.path, absolutePath: blobs.pathOf(e.sha256), type: 'file', isExecutable: (e.mode & 0o111) !== 0, size: e.size, sha256: e.sha256 }
      : e.type === 'directory'
        ? { path: e.path, absolutePath: '', type: 'directory', isExecutable: true, size: 0 }
        : { path: e.path, absolutePath: '', type: 'symlink', isExecutable: false, size: 0, linkpath: e.target });
    const tmp = join(this.deps.artefactsDir, `.assembling-${randomUUID()}.tar.gz`);
    try {
      const fileCount = entries.filter((e) => e.type !== 'directory').length;
      const packed = await packScanned({ root: this.deps.artefactsDir, entries, fileCount, fingerprint: manifest, newestChangeMs: 0 }, tmp).catch((e: unknown) => {
        const blob = (e as SlipwayError).details?.blob;
        if ((e as SlipwayError).code !== 'E_ARTEFACT_TAMPERED' || typeof blob !== 'string') throw e;
        blobs.remove(blob);
        throw blobsMissing([blob]);
      });
      const existing = this.deps.store.getArtefact(packed.digest);
      let record: ArtefactRecord;
      if (existing && existsSync(existing.path)) {
        record = existing;
      } else {
        const path = artefactPath(this.deps.artefactsDir, packed.digest);
        await rename(tmp, path);
        record = { digest: packed.digest, service: o.service, bytes: packed.bytes, path, createdAt: this.deps.now() };
        this.deps.store.putArtefact(record);
      }
      // Its bytes were made here from verified blobs: from here on, the signature vouches for it.
      this.deps.trust.signUpload(record, o.uploader);
      blobs.writeRefs({ artefact: record.digest, manifest, blobs: [...files.keys()] });
      if (this.deps.now() - this.#lastSweepMs > SWEEP_EVERY_MS) this.sweep();
      return { record, reused: false, manifest };
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  /** At start: the one store all services shared before stores were per service goes (it is only a cache). */
  removeSharedLayout(): void {
    this.deps.blobs.removeSharedLayout();
  }

  /** Removes, in every service's store, blobs that no artefact the server keeps was made of (see BlobStore.sweep). */
  sweep(): { blobsRemoved: number; bytesRemoved: number } {
    this.#lastSweepMs = this.deps.now();
    const removed = { blobsRemoved: 0, bytesRemoved: 0 };
    for (const service of this.deps.blobs.services()) {
      const r = this.deps.blobs.of(service).sweep({
        isKept: (digest) => {
          const a = this.deps.store.getArtefact(digest);
          return a !== null && existsSync(a.path);
        },
        nowMs: this.deps.now(),
        graceMs: SWEEP_GRACE_MS,
      });
      removed.blobsRemoved += r.blobsRemoved;
      removed.bytesRemoved += r.bytesRemoved;
    }
    this.deps.onSweep?.(removed);
    return removed;
  }

  private heldArtefactOf(blobs: BlobStore, manifest: string): string | null {
    const digest = blobs.artefactOfManifest(manifest);
    if (!digest) return null;
    const a = this.deps.store.getArtefact(digest);
    return a && existsSync(a.path) ? digest : null;
  }

  /**
   * Refuses a manifest the packer would never make: a path not in its canonical form
   * (absolute, with '..', './', '//' or a backslash), a path twice, a symlink leading
   * out, a tree over the artefact limits. Returns the manifest's digest.
   */
  private async validate(entries: readonly ManifestEntry[]): Promise<string> {
    const limits = this.limits;
    if (entries.length === 0) throw new SlipwayError('E_ARTEFACT_INVALID', 'the manifest names no file; there is nothing to deploy');
    if (entries.length > limits.maxEntries) throw overLimit({ what: `the manifest has ${entries.length} entries`, limit: 'maxEntries', value: limits.maxEntries });
    let fileBytes = 0;
    const hash = createHash('sha256').update('slipway-manifest-1\n');
    for (const e of entries) {
      if (normaliseEntryPath(e.path) !== e.path || e.path === '') {
        throw new SlipwayError('E_UNSAFE_PATH', `refusing "${e.path.slice(0, 200)}": a manifest path must be relative, '/'-separated, with no '.', '..' or empty segment`, { entry: e.path.slice(0, 200) });
      }
      if (e.type === 'file') fileBytes += e.size;
      hash.update(`${e.type}\0${e.path}\0${e.type === 'file' ? `${(e.mode & 0o111) !== 0 ? 'x' : '-'}\0${e.size}\0${e.sha256}` : e.type === 'symlink' ? e.target : ''}\n`);
    }
    if (fileBytes > limits.maxFileBytes) throw overLimit({ what: `the manifest's files add up to ${fileBytes} bytes`, limit: 'maxFileBytes', value: limits.maxFileBytes });
    await assertSafeTree(entries.map((e) => ({ path: e.path, type: e.type, ...(e.type === 'symlink' ? { linkpath: e.target } : {}) })));
    return `sha256:${hash.digest('hex')}`;
  }
}

/** Blobs whose size is not the manifest's: removed, and named. */
function wrongSize(blobs: BlobStore, files: Map<string, number>): string[] {
  const bad: string[] = [];
  for (const [hex, size] of files) {
    if (blobs.sizeOf(hex) === size) continue;
    blobs.remove(hex);
    bad.push(hex);
  }
  return bad;
}

function blobsMissing(missing: string[]): SlipwayError {
  return new SlipwayError('E_BLOB_MISSING', `the manifest names ${missing.length} blob(s) the server does not hold, or held damaged and removed (first: ${missing[0]}); send them first (POST /api/blobs), then assemble again. Nothing was stored`, { missing: missing.slice(0, 20), count: missing.length });
}
