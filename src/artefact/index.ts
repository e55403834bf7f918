// artefact/: turning a service directory into an immutable, content-addressed
// .tar.gz (the CLI side) and turning one back into a release directory (the server
// side), with the path-safety rules both sides share.
//
// It must not: know about releases, environments or the store (callers decide where
// files go and record digests); follow a link or write a path it has not checked;
// trust an artefact because we probably made it: the unpacker assumes a hostile one.

export { packDirectory, packScanned, scanDirectory, DEFAULT_MAX_ARTEFACT_BYTES } from './pack-directory.ts';
export type { PackDirectoryOptions, PackedArtefact, ScannedTree } from './pack-directory.ts';
export { knownDigest, rememberPack } from './pack-cache.ts';
export type { KnownDigest } from './pack-cache.ts';
export { unpackArtefact, STAGING_MARKER } from './unpack-artefact.ts';
export type { UnpackArtefactOptions, UnpackedArtefact } from './unpack-artefact.ts';
export { sha256File, isDigest, DIGEST_PREFIX } from './digest.ts';
export { readPackedFile } from './read-packed-file.ts';
export { parseIgnoreRules, IGNORE_FILE_NAME, ALWAYS_EXCLUDED_NAMES } from './ignore-rules.ts';
export type { IgnoreRules } from './ignore-rules.ts';
export { artefactLimitsFrom, overLimit, DEFAULT_ARTEFACT_LIMITS } from './artefact-limits.ts';
export type { ArtefactLimits } from './artefact-limits.ts';
