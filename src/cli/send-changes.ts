// What `slipway deploy` sends when the server does not hold the tree's artefact:
// the manifest first (every file's path, mode, size and sha256), then only the
// blobs the server lacks, then a request to assemble the artefact from them
// (docs/deploy.md#sending-only-what-changed). Gates are checked before a byte of
// a file is sent. A server from before blobs gets the whole tarball, as it did.

import { packScanned, rememberPack, type ScannedTree } from '../artefact/index.ts';
import type { DeployBody } from '../api/schemas.ts';
import { isSlipwayError } from '../core/errors.ts';
import type { ApiClient } from './api-client.ts';
import { sendMissingBlobs } from './blob-upload.ts';
import { buildFileManifest, type FileManifest } from './file-manifest.ts';


/** What a deploy sent, in `slipway deploy --json` as `upload`. */
export interface UploadCounts {
  /** remembered: the tree was the one sent last time, nothing read; blobs: manifest and missing blobs; tarball: a server from before blobs. */
  via: 'remembered' | 'blobs' | 'tarball';
  /** Files (and symlinks) of the tree. */
  files: number;
  /** Files whose bytes were sent. */
  sentFiles: number;
  alreadyOnServer: number;
  /** The sent files' own bytes (a tarball: its size). */
  sentBytes: number;
  /** Bytes over the wire (gzipped). */
  wireBytes: number;
  /** Files read to hash them (the others' sha256 was remembered by their stat). */
  hashedFiles: number;
}

export interface SendChangesOptions {
  client: ApiClient;
  key: string;
  body: DeployBody;
  tree: ScannedTree;
  /** Where a tarball for an older server is packed. */
  outFile: string;
  service: string;
  upload: UploadCounts;
  say: (line: string) => void;
}

/** Returns the digest of the tree's artefact, now on the server. */
export async function sendChangedFiles(o: SendChangesOptions): Promise<string> {
  const manifest = await buildFileManifest(o.tree);
  o.upload.hashedFiles = manifest.hashedFiles;
  let check;
  try {
    check = await o.client.checkBlobs({ service: o.service, entries: manifest.entries });
  } catch (e) {
    if (isSlipwayError(e) && e.code === 'E_NOT_FOUND' && e.message.startsWith('no route')) return sendTarball(o);
    throw e;
  }
  o.upload.via = 'blobs';
  if (check.artefact) {
    // This very tree was sent before (touched files, another clone): its artefact is there.
    rememberPack(o.tree, { file: '', digest: check.artefact, bytes: 0, fileCount: o.tree.fileCount });
    o.say('the server holds this artefact already: not uploading it');
    return check.artefact;
  }
  // The gates before any file is sent. The artefact does not exist yet; the
  // manifest's digest stands in for it: like the artefact, the server has never
  // seen it, so a gate that wants one proven in staging refuses it the same way.
  await o.client.plan(o.key, { ...o.body, artefact: check.manifest });
  const missing = new Set(check.missing);
  const sentFiles = manifest.entries.filter((e) => e.type === 'file' && missing.has(e.sha256)).length;
  Object.assign(o.upload, { sentFiles, alreadyOnServer: o.tree.fileCount - sentFiles, sentBytes: check.missingBytes });
  o.say(`sending ${count(sentFiles)} of ${count(o.tree.fileCount)} files (${formatBytes(check.missingBytes)}); ${count(o.tree.fileCount - sentFiles)} already on the server`);
  if (check.missing.length > 0) o.upload.wireBytes += (await sendMissingBlobs(o.client, o.service, check.missing, manifest.sources)).wireBytes;
  const assembled = await assemble(o, manifest);
  rememberPack(o.tree, { file: '', digest: assembled.digest, bytes: assembled.bytes, fileCount: o.tree.fileCount });
  o.say(`assembled on the server as ${assembled.digest.slice(0, 19)}… (${formatBytes(assembled.bytes)})`);
  return assembled.digest;
}

async function assemble(o: SendChangesOptions, manifest: FileManifest) {
  const ask = () => o.client.assembleArtefact({ service: o.service, entries: manifest.entries });
  try {
    return await ask();
  } catch (e) {
    if (!isSlipwayError(e) || e.code !== 'E_BLOB_MISSING') throw e;
    // Collected, or found damaged and removed, since the check: send those again, once.
    const again = await o.client.checkBlobs({ service: o.service, entries: manifest.entries });
    if (again.missing.length > 0) o.upload.wireBytes += (await sendMissingBlobs(o.client, o.service, again.missing, manifest.sources)).wireBytes;
    return ask();
  }
}

/** A server from before blobs: the whole tree, packed. */
async function sendTarball(o: SendChangesOptions): Promise<string> {
  o.upload.via = 'tarball';
  const packed = await packScanned(o.tree, o.outFile);
  rememberPack(o.tree, packed);
  o.say(`packed ${count(packed.fileCount)} files (${formatBytes(packed.bytes)}) as ${packed.digest.slice(0, 19)}…`);
  const plan = await o.client.plan(o.key, { ...o.body, artefact: packed.digest });
  if (plan.artefact.onServer === true) return packed.digest;
  await o.client.uploadArtefact(packed.file, packed.digest, o.service);
  Object.assign(o.upload, { sentFiles: o.tree.fileCount, alreadyOnServer: 0, sentBytes: packed.bytes, wireBytes: packed.bytes });
  return packed.digest;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

