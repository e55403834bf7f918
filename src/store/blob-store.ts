// File blobs named by the sha256 of their bytes, for deploys that send only what
// changed: the CLI sends a manifest of the tree, the server names the blobs it does
// not hold, the CLI sends those in one batch, and the engine assembles the artefact
// from the blobs (engine/blob-artefacts.ts). This file keeps the bytes and the
// bookkeeping on disk; it knows nothing of artefacts' format or of who may send.
//
// Each service has a store of its own: a token that may deploy one service can
// neither learn whether another's tree holds a file (whose sha256 it could guess,
// such as a config file with a candidate secret) nor assemble from another's blobs.
// Two services with equal files keep a copy each.
//
//   blobs/services/<service>/sha256/<2 hex>/<64 hex>     one file's bytes
//   blobs/services/<service>/incoming/<batch>/           a batch being received (all of it or none of it lands)
//   blobs/services/<service>/refs/<artefact hex>.json    the blobs an assembled artefact was made of, and its manifest's digest
//   blobs/services/<service>/manifests/<manifest hex>    the artefact a manifest was assembled into
//
// A blob is renamed into place only once its bytes hashed to its name, and only when
// every blob of its batch did: a refused batch leaves nothing. Blobs are not fsynced
// one by one (a first deploy has thousands); the assembly hashes each one again
// as it packs it, and removes one a crash damaged, so it is sent again.

import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { SERVICE_NAME_PATTERN } from '../core/env-key.ts';
import { SlipwayError } from '../core/errors.ts';
import { writeFileAtomicSync } from '../platform/atomic-file.ts';

const HEX64 = /^[0-9a-f]{64}$/;
/** `<64 hex> <size>\n`: the longest header line a batch may carry. */
const MAX_HEADER_BYTES = 64 + 1 + 16 + 1;
/**
 * Blobs up to this size are gathered in memory and written with one synchronous
 * call: most of a node_modules is a few kB, and an awaited open, write and close
 * per blob cost more than the bytes.
 */
const SMALL_BLOB_BYTES = 1024 * 1024;

/** What one batch may hold; a batch over any is refused whole. */
export interface BlobBatchLimits {
  /** Bytes of all blobs of the batch together. */
  maxBatchBytes: number;
  /** Bytes of one blob (one file of the tree). */
  maxBlobBytes: number;
  maxBlobs: number;
}

export interface BlobRefs {
  artefact: string;
  /** 'sha256:<hex>' of the manifest it was assembled from. */
  manifest: string;
  /** Hex names of the blobs it was made of. */
  blobs: string[];
}

/** The header of one blob in a batch: the batch is these, each followed by exactly `size` bytes. */
export function blobFrameHeader(hex: string, size: number): string {
  return `${hex} ${size}\n`;
}

/** The blob stores of every service, under one root. */
export class ServiceBlobStores {
  constructor(readonly root: string) {}

  /** The store of one service (its directory is made when a blob first lands). */
  of(service: string): BlobStore {
    if (!SERVICE_NAME_PATTERN.test(service)) throw new SlipwayError('E_BAD_REQUEST', `"${service.slice(0, 64)}" is not a service name`);
    return new BlobStore(join(this.root, 'services', service));
  }

  /** Services that have a store. */
  services(): string[] {
    return listDir(join(this.root, 'services')).filter((name) => SERVICE_NAME_PATTERN.test(name));
  }

  /**
   * Removes the store all services shared before blobs were kept per service. It is
   * only a cache: a deploy sends again what it lacks.
   */
  removeSharedLayout(): void {
    for (const name of ['sha256', 'incoming', 'refs', 'manifests']) rmSync(join(this.root, name), { recursive: true, force: true });
  }
}

export class BlobStore {
  constructor(readonly dir: string) {}

  pathOf(hex: string): string {
    return join(this.dir, 'sha256', hex.slice(0, 2), hex);
  }

  has(hex: string): boolean {
    return existsSync(this.pathOf(hex));
  }

  /** Bytes of a held blob; null when it is not held. */
  sizeOf(hex: string): number | null {
    try {
      return statSync(this.pathOf(hex)).size;
    } catch {
      return null;
    }
  }

  /** sha256 of a held blob's bytes now (hex); null when it is not held. */
  async hashOf(hex: string): Promise<string | null> {
    const hash = createHash('sha256');
    try {
      for await (const chunk of createReadStream(this.pathOf(hex)) as AsyncIterable<Buffer>) hash.update(chunk);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    return hash.digest('hex');
  }

  remove(hex: string): void {
    rmSync(this.pathOf(hex), { force: true });
  }

  /**
   * Reads a batch (blobFrameHeader + bytes, repeated) and keeps its blobs. Every
   * blob is hashed as it arrives; one whose bytes are not its name, a malformed
   * header, a batch cut short or over a limit refuses the whole batch.
   */
  async receive(body: AsyncIterable<Buffer> | Readable, limits: BlobBatchLimits): Promise<{ received: number; bytes: number }> {
    mkdirSync(join(this.dir, 'incoming'), { recursive: true, mode: 0o700 });
    const stage = await mkdtemp(join(this.dir, 'incoming', 'batch-'));
    const staged = new Set<string>();
    let header = Buffer.alloc(0);
    let bytes = 0;
    let cur: { hex: string; size: number; left: number; hash: ReturnType<typeof createHash>; fh: FileHandle | null; chunks: Buffer[] } | null = null;
    const finish = async () => {
      const c = cur!;
      cur = null;
      if (c.fh) await c.fh.close();
      else writeFileSync(join(stage, c.hex), Buffer.concat(c.chunks), { mode: 0o600, flag: 'wx' });
      const actual = c.hash.digest('hex');
      if (actual !== c.hex) {
        throw new SlipwayError('E_ARTEFACT_TAMPERED', `blob ${c.hex} was sent with bytes that hash to ${actual}; the file changed while it was sent, or the batch was altered in transit. Nothing of this batch was kept; deploy again`, { blob: c.hex, actual });
      }
      staged.add(c.hex);
    };
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        let off = 0;
        while (off < chunk.length) {
          if (cur === null) {
            const nl = chunk.indexOf(10, off);
            const piece = chunk.subarray(off, nl === -1 ? chunk.length : nl);
            if (header.length + piece.length > MAX_HEADER_BYTES) throw badBatch('a blob header is longer than a sha256 and a size');
            header = Buffer.concat([header, piece]);
            if (nl === -1) break;
            off = nl + 1;
            const m = /^([0-9a-f]{64}) (\d{1,16})$/.exec(header.toString('latin1'));
            header = Buffer.alloc(0);
            if (!m) throw badBatch('each blob must start with "<64 lower-case hex digits> <size>\\n"');
            const [, hex, sizeText] = m as unknown as [string, string, string];
            const size = Number(sizeText);
            if (staged.has(hex)) throw badBatch(`blob ${hex} is in the batch twice`);
            if (staged.size + 1 > limits.maxBlobs) throw overLimit(`more than ${limits.maxBlobs} blobs`, { maxBlobs: limits.maxBlobs });
            if (size > limits.maxBlobBytes) throw overLimit(`blob ${hex} of ${size} bytes is over the ${limits.maxBlobBytes}-byte limit for one file`, { maxBlobBytes: limits.maxBlobBytes });
            bytes += size;
            if (bytes > limits.maxBatchBytes) throw overLimit(`more than ${limits.maxBatchBytes} bytes of blobs`, { maxBatchBytes: limits.maxBatchBytes });
            cur = { hex, size, left: size, hash: createHash('sha256'), fh: size > SMALL_BLOB_BYTES ? await open(join(stage, hex), 'wx', 0o600) : null, chunks: [] };
            if (size === 0) await finish();
          } else {
            const take = Math.min(cur.left, chunk.length - off);
            const part = chunk.subarray(off, off + take);
            cur.hash.update(part);
            if (cur.fh) await cur.fh.write(part);
            else cur.chunks.push(part);
            cur.left -= take;
            off += take;
            if (cur.left === 0) await finish();
          }
        }
      }
      if (cur !== null || header.length > 0) throw badBatch('the batch ends in the middle of a blob');
      const made = new Set<string>();
      for (const hex of staged) {
        const to = this.pathOf(hex);
        if (!made.has(dirname(to))) mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
        made.add(dirname(to));
        renameSync(join(stage, hex), to);
      }
      return { received: staged.size, bytes };
    } finally {
      await (cur as { fh: FileHandle | null } | null)?.fh?.close().catch(() => undefined);
      await rm(stage, { recursive: true, force: true });
    }
  }

  /** Records what an assembled artefact was made of (for the collector) and the manifest it came from. */
  writeRefs(refs: BlobRefs): void {
    mkdirSync(join(this.dir, 'refs'), { recursive: true, mode: 0o700 });
    mkdirSync(join(this.dir, 'manifests'), { recursive: true, mode: 0o700 });
    writeFileAtomicSync(join(this.dir, 'refs', `${hexOf(refs.artefact)}.json`), `${JSON.stringify(refs)}\n`);
    writeFileAtomicSync(join(this.dir, 'manifests', hexOf(refs.manifest)), `${refs.artefact}\n`);
  }

  /** The artefact a manifest was assembled into before; null when none was (or its record is unreadable). */
  artefactOfManifest(manifest: string): string | null {
    try {
      const text = readFileSync(join(this.dir, 'manifests', hexOf(manifest)), 'utf8').trim();
      return /^sha256:[0-9a-f]{64}$/.test(text) ? text : null;
    } catch {
      return null;
    }
  }

  /**
   * Removes the blobs no kept artefact was made of, and the records of artefacts no
   * longer kept. A blob younger than `graceMs` stays whatever refers to it: it may
   * belong to a deploy between its upload and its assembly.
   */
  sweep(o: { isKept: (artefact: string) => boolean; nowMs: number; graceMs: number }): { blobsRemoved: number; bytesRemoved: number } {
    const referenced = new Set<string>();
    for (const name of listDir(join(this.dir, 'refs'))) {
      const file = join(this.dir, 'refs', name);
      let refs: BlobRefs | null = null;
      try {
        refs = JSON.parse(readFileSync(file, 'utf8')) as BlobRefs;
      } catch {
        refs = null;
      }
      if (refs && Array.isArray(refs.blobs) && o.isKept(refs.artefact)) {
        for (const b of refs.blobs) referenced.add(b);
        continue;
      }
      rmSync(file, { force: true });
      if (refs && typeof refs.manifest === 'string' && HEX64.test(hexOf(refs.manifest))) rmSync(join(this.dir, 'manifests', hexOf(refs.manifest)), { force: true });
    }
    let blobsRemoved = 0;
    let bytesRemoved = 0;
    const cutoff = o.nowMs - o.graceMs;
    for (const prefix of listDir(join(this.dir, 'sha256'))) {
      for (const hex of listDir(join(this.dir, 'sha256', prefix))) {
        if (referenced.has(hex)) continue;
        const path = join(this.dir, 'sha256', prefix, hex);
        try {
          const st = statSync(path);
          if (st.mtimeMs > cutoff) continue;
          rmSync(path, { force: true });
          blobsRemoved += 1;
          bytesRemoved += st.size;
        } catch {
          // gone already
        }
      }
    }
    // Batches a crash interrupted.
    for (const name of listDir(join(this.dir, 'incoming'))) {
      const path = join(this.dir, 'incoming', name);
      try {
        if (statSync(path).mtimeMs <= cutoff) rmSync(path, { recursive: true, force: true });
      } catch {
        // gone already
      }
    }
    return { blobsRemoved, bytesRemoved };
  }
}

function hexOf(digest: string): string {
  return digest.startsWith('sha256:') ? digest.slice('sha256:'.length) : digest;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function badBatch(why: string): SlipwayError {
  return new SlipwayError('E_BAD_REQUEST', `the blob batch is malformed: ${why}; nothing of it was kept`);
}

function overLimit(what: string, details: Record<string, unknown>): SlipwayError {
  return new SlipwayError('E_ARTEFACT_INVALID', `the blob batch holds ${what}; nothing of it was kept (the server's artefact limits apply to blobs too)`, details);
}
