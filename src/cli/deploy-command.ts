// `slipway deploy <env>`: validate locally, pack, upload, start the rollout, follow it.

import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { packDirectory } from '../artefact/index.ts';
import { envKey, splitEnvKey } from '../core/env-key.ts';
import { SlipwayError } from '../core/errors.ts';
import { parseConfigText } from '../config/index.ts';
import { followRollout, type ApiClient } from './api-client.ts';
import { formatEvent, formatRolloutLine } from './output.ts';

export interface DeployOptions {
  /** Asked for only after the local checks pass, so a bad config is reported before a missing server. */
  client: ApiClient | (() => ApiClient);
  env: string;
  dir: string;
  file: string;
  detach: boolean;
  force: boolean;
  json: boolean;
}

/** Returns the exit code: 0 when the rollout succeeded (or nothing changed), 1 otherwise. */
export async function runDeploy(o: DeployOptions): Promise<number> {
  const dir = resolve(o.dir);
  const configPath = resolve(dir, o.file);
  if (!existsSync(configPath)) throw new SlipwayError('E_CONFIG_NOT_FOUND', `${configPath} not found; create one with \`slipway init\``);
  const text = readFileSync(configPath, 'utf8');
  const config = parseConfigText(text, o.file); // fail here, before packing, with file:line:col
  const named = splitEnvKey(o.env);
  if (named.service !== null && named.service !== config.service) {
    throw new SlipwayError('E_SERVICE_MISMATCH', `${o.env} is an environment of service "${named.service}", and ${o.file} is service "${config.service}"; a deploy never touches another service's environment (deploy from ${named.service}'s directory, or name ${envKey(config.service, named.environment)})`);
  }
  if (!config.environments[named.environment]) {
    throw new SlipwayError('E_ENV_UNKNOWN', `${o.file} has no environment "${named.environment}"; it has: ${Object.keys(config.environments).join(', ')}`);
  }
  // The key is made from this slipway.yaml's service: the deploy cannot land in another's.
  const key = envKey(config.service, named.environment);
  const say = (s: string) => !o.json && process.stdout.write(`${s}\n`);
  const client = typeof o.client === 'function' ? o.client() : o.client;
  const outFile = join(tmpdir(), `slipway-artefact-${process.pid}-${Date.now()}.tar.gz`);
  try {
    const packed = await packDirectory({ dir, outFile });
    say(`packed ${packed.fileCount} files (${(packed.bytes / 1024).toFixed(1)} KiB) as ${packed.digest.slice(0, 19)}…`);
    await client.uploadArtefact(packed.file, packed.digest, config.service);
    const answer = await client.deploy(key, { artefact: packed.digest, config: { text, file: o.file }, force: o.force });
    if (answer.unchanged || !answer.rollout) {
      say(`${o.env} already runs this artefact and config as #${answer.release.number}; nothing to do (use --force to redeploy)`);
      if (o.json) process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
      return 0;
    }
    say(`release ${o.env}#${answer.release.number}: rollout #${answer.rollout.id} (${answer.rollout.steps.length} steps)`);
    if (o.detach) {
      if (o.json) process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
      return 0;
    }
    const final = await followRollout(client, answer.rollout.id, (e) => say(formatEvent(e)));
    if (o.json) process.stdout.write(`${JSON.stringify({ release: answer.release, rollout: final }, null, 2)}\n`);
    else say(formatRolloutLine(final));
    return final.phase === 'succeeded' ? 0 : 1;
  } finally {
    rmSync(outFile, { force: true });
  }
}
