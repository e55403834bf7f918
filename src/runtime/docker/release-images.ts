// The images releases run. Built from the Dockerfile inside the artefact (the
// artefact's .tar.gz is the build context as it is), or an image reference
// resolved once, at deploy time, to an image id. Either way the id is what the
// release records and what its containers run, and the image is tagged
// slipway/<service>:<...> so that `docker image prune` leaves it alone: a rollback
// never pulls, so the image it needs must still be here.
//
// Each server also tags the images its releases run with a tag of its own
// (`kept-<data dir id>-<image id>`): two servers on one engine that deployed the
// same artefact share one image, and retention removes an image only once no
// other server's tag is on it (removeReleaseImage).

import { createReadStream } from 'node:fs';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { Pack, Parser, type ReadEntry } from 'tar';
import { SlipwayError } from '../../core/errors.ts';
import type { ImageRequest } from '../../core/ports/runtime.ts';
import { engineMessage, isNotFound, isUnreachable, translateEngineError } from './engine-errors.ts';

export const LABEL_ARTEFACT = 'slipway.artefact';
export const LABEL_DOCKERFILE = 'slipway.dockerfile';

export interface BuildEvent {
  stream?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

function followProgress(docker: Docker, stream: NodeJS.ReadableStream): Promise<BuildEvent[]> {
  return new Promise((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null, out: BuildEvent[]) => (err ? reject(err) : resolve(out))));
}

async function imageIdOf(docker: Docker, ref: string): Promise<{ id: string; labels: Record<string, string> } | null> {
  try {
    const info = await docker.getImage(ref).inspect();
    return { id: info.Id, labels: info.Config?.Labels ?? {} };
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

/** Builds (or finds the build of) the image of an artefact; returns its id. */
async function buildFromArtefact(docker: Docker, req: ImageRequest & { image: { dockerfile: string } }): Promise<string> {
  const tag = `slipway/${req.service}:${req.artefactDigest.slice(7, 23)}`;
  const existing = await imageIdOf(docker, tag);
  // Same artefact, same Dockerfile: the same image. No rebuild, no new id.
  if (existing && existing.labels[LABEL_ARTEFACT] === req.artefactDigest && existing.labels[LABEL_DOCKERFILE] === req.image.dockerfile) return existing.id;
  const buildFailed = (said: string, tail = '') => {
    const hint = /dockerfile/i.test(said) && /cannot locate|no such file|not found/i.test(said)
      ? `; the artefact has no ${req.image.dockerfile}: add one, or set image.ref in slipway.yaml`
      : '';
    return new SlipwayError('E_DEPLOY_FAILED', `building the image of ${req.service} from ${req.image.dockerfile} failed: ${said}${hint}${tail ? `\n    ${tail}` : ''}`, { service: req.service });
  };
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.buildImage(contextAt(req.artefactPath, new Date()) as unknown as NodeJS.ReadableStream, {
      t: tag,
      dockerfile: req.image.dockerfile,
      labels: { [LABEL_ARTEFACT]: req.artefactDigest, [LABEL_DOCKERFILE]: req.image.dockerfile, 'slipway.service': req.service },
      rm: true,
      forcerm: true,
    });
  } catch (e) {
    // The engine refuses some builds before it streams anything (no Dockerfile, say).
    if (isUnreachable(e)) throw e;
    throw buildFailed(engineMessage(e));
  }
  const events = await followProgress(docker, stream);
  const failed = events.find((ev) => ev.error || ev.errorDetail);
  if (failed) {
    const tail = failedStepOutput(events).join('\n    ');
    await removeBuildLeftovers(docker, events);
    throw buildFailed(failed.errorDetail?.message ?? failed.error ?? 'unknown error', tail);
  }
  const built = await imageIdOf(docker, tag);
  if (!built) throw new SlipwayError('E_DEPLOY_FAILED', `the Docker engine built the image of ${req.service} but ${tag} is not there`, { service: req.service });
  return built.id;
}

/** How many lines of a failed step's own output a failed deploy shows (a failing `npm ci` says why near its end). */
const FAILED_STEP_LINES = 20;
/**
 * Terminal control sequences in a build's output: the builder's colour codes (it
 * wraps a step's stderr in red) and whatever the step itself wrote (a title, a
 * screen clear): an error message is read, not replayed on a terminal. OSC first
 * (to its BEL or ST), then CSI, then a lone ESC or BEL.
 */
const COLOUR_CODE = /\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]?|\x07/g;
const BUILDER_CHATTER = /^ ---> |^Removing intermediate container /;

/**
 * What the failed build step printed, for the deploy's error: its `Step N/M : …`
 * line, then the last lines of its own output, without the builder's colour codes
 * and bookkeeping (which once took most of the lines shown, leaving one of the
 * step's own).
 */
export function failedStepOutput(events: BuildEvent[]): string[] {
  const lines = events.map((ev) => ev.stream ?? '').join('').replace(COLOUR_CODE, '').split('\n').map((l) => l.trimEnd()).filter((l) => l.trim() && !BUILDER_CHATTER.test(l));
  let stepAt = -1;
  for (let i = lines.length - 1; i >= 0 && stepAt < 0; i--) if (/^Step \d+\/\d+ : /.test(lines[i]!)) stepAt = i;
  const step = stepAt < 0 ? [] : [lines[stepAt]!];
  const said = lines.slice(stepAt + 1);
  const dropped = said.length - FAILED_STEP_LINES;
  return [...step, ...(dropped > 0 ? [`… (${dropped} earlier line${dropped === 1 ? '' : 's'})`] : []), ...said.slice(-FAILED_STEP_LINES)];
}

/**
 * The artefact as a build context whose files carry `mtime` instead of the
 * artefact's fixed 1980 (deterministic-tar.ts), so COPY gives the image's files
 * the time of its build, as a release tree's files get the time of its unpack:
 * static-file servers derive Last-Modified and ETags from mtime and size, and with
 * every image at 1980 a browser holding the old page was told 304 after a deploy.
 * Entries are re-written one by one (node-tar's Pack takes a parsed entry as it
 * is, with the time given), never held whole.
 */
function contextAt(artefactPath: string, mtime: Date): NodeJS.ReadableStream {
  const out = new PassThrough();
  const pack = new Pack({ mtime, gzip: false });
  const parse = new Parser();
  const fail = (e: unknown) => out.destroy(e instanceof Error ? e : new Error(String(e)));
  parse.on('entry', (entry: ReadEntry) => pack.add(entry));
  parse.on('error', fail);
  parse.on('end', () => pack.end());
  pack.on('error', fail);
  pack.pipe(out);
  createReadStream(artefactPath).on('error', fail).pipe(parse);
  return out;
}

/** An image given by reference: used if the engine has it, pulled now if not (a deploy, never a rollback). */
async function resolveReference(docker: Docker, req: ImageRequest & { image: { ref: string } }): Promise<string> {
  let found = await imageIdOf(docker, req.image.ref);
  if (!found) {
    try {
      await followProgress(docker, await docker.pull(req.image.ref));
    } catch (e) {
      throw new SlipwayError('E_IMAGE_MISSING', `the image ${req.image.ref} is not on the Docker engine and pulling it failed: ${engineMessage(e)}; pull or load it (docker pull / docker load), then deploy again`, { image: req.image.ref }, { cause: e });
    }
    found = await imageIdOf(docker, req.image.ref);
    if (!found) throw new SlipwayError('E_IMAGE_MISSING', `the image ${req.image.ref} is still not on the Docker engine after a pull`, { image: req.image.ref });
  }
  // Kept under our own tag: the reference may move on, the release's image must stay.
  await docker.getImage(found.id).tag({ repo: `slipway/${req.service}`, tag: `image-${found.id.replace(/^sha256:/, '').slice(0, 16)}` });
  return found.id;
}

/**
 * A failed build leaves the images of the steps that did succeed (each step of the
 * classic builder is committed as an image): untagged, used by nothing, and as large
 * as the layers they hold. Their ids are the build's ` ---> <id>` lines. Only
 * untagged ones are removed, without force: the base image (the FROM step prints
 * its id too) and a step a kept image was built on (the engine refuses: it has
 * children) stay.
 */
async function removeBuildLeftovers(docker: Docker, events: BuildEvent[]): Promise<void> {
  const ids = events.flatMap((ev) => [...(ev.stream ?? '').matchAll(/^ ---> ([0-9a-f]{12,64})\s*$/gm)].map((m) => m[1]!));
  for (const id of [...new Set(ids)].reverse()) {
    try {
      const info = await docker.getImage(id).inspect();
      if ((info.RepoTags ?? []).some((t) => t !== '<none>:<none>')) continue;
      await docker.getImage(id).remove();
    } catch {
      // gone already, or still a parent of something: not ours to force
    }
  }
}

/** The tag a server puts on each image its releases run: `kept-<data dir id>-<image id>`. */
export function ownerTag(service: string, dataDirId: string, imageId: string): { repo: string; tag: string } {
  return { repo: `slipway/${service}`, tag: `kept-${dataDirId.slice(0, 12)}-${imageId.replace(/^sha256:/, '').slice(0, 16)}` };
}

export async function prepareReleaseImage(docker: Docker, req: ImageRequest & { dataDirId: string }): Promise<string> {
  try {
    const id = req.image.ref !== null ? await resolveReference(docker, { ...req, image: req.image }) : await buildFromArtefact(docker, { ...req, image: req.image });
    await docker.getImage(id).tag(ownerTag(req.service, req.dataDirId, id));
    return id;
  } catch (e) {
    throw translateEngineError(e, `ready the image of ${req.service} for ${req.env}`, { service: req.service, env: req.env });
  }
}

export interface ImageRemoval {
  /** The engine deleted the image (not only a tag of it). */
  deleted: boolean;
  /**
   * What the engine's layers shrank by (`docker system df`), when it was deleted; 0
   * otherwise. Not the image's size, which counts the base layers it shares.
   */
  bytes: number;
  /** Why it stays, when it does (another server keeps it, a container or another tag uses it). */
  keptBecause: string | null;
}

/**
 * Removes what this server holds of a release's image: its own `kept-` tag, then,
 * unless another server's `kept-` tag is on it, slipway's other tags (the build
 * tag, a referenced image's `image-` tag). The engine deletes the image with its
 * last tag; a tag that is not slipway's (the `nginx:1.27` an image.ref named) is
 * never touched, and nothing is forced, so an image a container uses stays.
 */
export async function removeReleaseImage(docker: Docker, o: { imageId: string; dataDirId: string }): Promise<ImageRemoval> {
  let info: Docker.ImageInspectInfo;
  try {
    info = await docker.getImage(o.imageId).inspect();
  } catch (e) {
    if (isNotFound(e)) return { deleted: false, bytes: 0, keptBecause: null };
    throw translateEngineError(e, `look for image ${o.imageId}`);
  }
  const tags = (info.RepoTags ?? []).filter((t) => t.startsWith('slipway/'));
  const mine = `:kept-${o.dataDirId.slice(0, 12)}-`;
  const others = tags.filter((t) => t.includes(':kept-') && !t.includes(mine));
  const ours = others.length > 0 ? tags.filter((t) => t.includes(mine)) : tags;
  let deleted = false;
  const layersBefore = await layersSize(docker);
  try {
    for (const tag of ours) {
      const answer = (await docker.getImage(tag).remove()) as { Deleted?: string }[] | undefined;
      if ((answer ?? []).some((a) => a.Deleted)) deleted = true;
    }
    // Untagged already (by hand, or a crash between two tags): the image itself.
    if (tags.length === 0 && (info.RepoTags ?? []).filter((t) => t !== '<none>:<none>').length === 0) {
      const answer = (await docker.getImage(o.imageId).remove()) as { Deleted?: string }[] | undefined;
      deleted = (answer ?? []).some((a) => a.Deleted);
    }
  } catch (e) {
    if (isNotFound(e)) return { deleted, bytes: deleted ? Math.max(0, layersBefore - (await layersSize(docker))) : 0, keptBecause: null };
    if ((e as { statusCode?: number }).statusCode === 409) return { deleted: false, bytes: 0, keptBecause: engineMessage(e) };
    throw translateEngineError(e, `remove image ${o.imageId}`);
  }
  if (deleted) return { deleted, bytes: Math.max(0, layersBefore - (await layersSize(docker))), keptBecause: null };
  return { deleted: false, bytes: 0, keptBecause: others.length > 0 ? `another slipway server keeps it (${others[0]})` : 'a tag that is not slipway\'s is on it' };
}

export async function hasReleaseImage(docker: Docker, imageId: string): Promise<boolean> {
  try {
    return (await imageIdOf(docker, imageId)) !== null;
  } catch (e) {
    throw translateEngineError(e, `look for image ${imageId}`);
  }
}

/** Bytes of every image layer the engine holds; 0 when it will not say. */
async function layersSize(docker: Docker): Promise<number> {
  try {
    const df = (await docker.df()) as { LayersSize?: number };
    return df.LayersSize ?? 0;
  } catch {
    return 0;
  }
}
