import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { BlobStore, blobFrameHeader } from './blob-store.ts';

const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const LIMITS = { maxBatchBytes: 1024 * 1024, maxBlobBytes: 64 * 1024, maxBlobs: 10 };
const batchOf = (...blobs: { name?: string; bytes: Buffer }[]) =>
  Readable.from([Buffer.concat(blobs.flatMap((b) => [Buffer.from(blobFrameHeader(b.name ?? hex(b.bytes), b.bytes.length)), b.bytes]))]);
// One byte at a time: a header or a blob cut anywhere by the network must read the same.
const trickle = (r: Readable) => Readable.from((async function* () {
  for await (const chunk of r as AsyncIterable<Buffer>) for (const byte of chunk) yield Buffer.from([byte]);
})());

describe('BlobStore', () => {
  const dirs: string[] = [];
  const store = () => {
    const d = mkdtempSync(join(tmpdir(), 'slipway-blobs-'));
    dirs.push(d);
    return new BlobStore(d);
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('keeps every blob of a good batch under its hash, however the bytes arrive', async () => {
    const s = store();
    const a = Buffer.from('alpha\n');
    const empty = Buffer.alloc(0);
    expect(await s.receive(trickle(batchOf({ bytes: a }, { bytes: empty })), LIMITS)).toEqual({ received: 2, bytes: a.length });
    expect(s.has(hex(a))).toBe(true);
    expect(s.sizeOf(hex(empty))).toBe(0);
    expect(await s.hashOf(hex(a))).toBe(hex(a));
    expect(readdirSync(join(s.dir, 'incoming'))).toEqual([]);
  });

  it('streams a blob too big to gather in memory to disk, checked the same way', async () => {
    const s = store();
    const big = Buffer.alloc(1536 * 1024, 'b');
    const limits = { ...LIMITS, maxBatchBytes: 4 * 1024 * 1024, maxBlobBytes: 2 * 1024 * 1024 };
    await expect(s.receive(batchOf({ name: hex(Buffer.from('no')), bytes: big }), limits)).rejects.toMatchObject({ code: 'E_ARTEFACT_TAMPERED' });
    expect(s.has(hex(big))).toBe(false);
    expect(await s.receive(batchOf({ bytes: big }), limits)).toEqual({ received: 1, bytes: big.length });
    expect(await s.hashOf(hex(big))).toBe(hex(big));
    expect(readdirSync(join(s.dir, 'incoming'))).toEqual([]);
  });

  it('keeps nothing of a batch with one blob misnamed, cut short or over a limit', async () => {
    const s = store();
    const good = Buffer.from('good\n');
    await expect(s.receive(batchOf({ bytes: good }, { name: hex(Buffer.from('other')), bytes: Buffer.from('liar') }), LIMITS)).rejects.toMatchObject({ code: 'E_ARTEFACT_TAMPERED' });
    await expect(s.receive(Readable.from([Buffer.from(`${hex(good)} 99\n`), good]), LIMITS)).rejects.toMatchObject({ code: 'E_BAD_REQUEST' });
    await expect(s.receive(batchOf({ bytes: good }, { bytes: Buffer.alloc(65 * 1024) }), LIMITS)).rejects.toMatchObject({ code: 'E_ARTEFACT_INVALID' });
    await expect(s.receive(Readable.from([Buffer.from('../../etc/passwd 4\nroot')]), LIMITS)).rejects.toMatchObject({ code: 'E_BAD_REQUEST' });
    expect(s.has(hex(good))).toBe(false);
    expect(readdirSync(join(s.dir, 'incoming'))).toEqual([]);
  });

  it('sweeps blobs no kept artefact was made of, once past the grace period', async () => {
    const s = store();
    const [kept, dropped, fresh] = ['kept', 'dropped', 'fresh'].map((t) => Buffer.from(t));
    await s.receive(batchOf({ bytes: kept! }, { bytes: dropped! }, { bytes: fresh! }), LIMITS);
    const old = new Date(Date.now() - 2 * 3600_000);
    for (const b of [kept!, dropped!]) utimesSync(s.pathOf(hex(b)), old, old);
    const keptArtefact = `sha256:${'a'.repeat(64)}`;
    const goneArtefact = `sha256:${'b'.repeat(64)}`;
    s.writeRefs({ artefact: keptArtefact, manifest: `sha256:${'c'.repeat(64)}`, blobs: [hex(kept!)] });
    s.writeRefs({ artefact: goneArtefact, manifest: `sha256:${'d'.repeat(64)}`, blobs: [hex(dropped!)] });
    expect(s.artefactOfManifest(`sha256:${'d'.repeat(64)}`)).toBe(goneArtefact);

    const removed = s.sweep({ isKept: (d) => d === keptArtefact, nowMs: Date.now(), graceMs: 3600_000 });
    expect(removed).toEqual({ blobsRemoved: 1, bytesRemoved: dropped!.length });
    expect(s.has(hex(kept!))).toBe(true);
    expect(s.has(hex(dropped!))).toBe(false);
    expect(s.has(hex(fresh!))).toBe(true); // young: a deploy may be about to assemble it
    expect(s.artefactOfManifest(`sha256:${'d'.repeat(64)}`)).toBeNull();
    expect(existsSync(join(s.dir, 'refs', `${'b'.repeat(64)}.json`))).toBe(false);
  });
});
