// A deploy asked of the server the way `slipway deploy --detach` asks it (pack the
// directory, upload the artefact, POST the deploy with slipway.yaml's text), from the
// test process: for tests that ask for many deploys the server must refuse, where a
// CLI process per case (seconds of start-up each) was most of the file's time. Keep
// at least one case of each kind on the real CLI.

import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { packDirectory } from '../../src/artefact/index.ts';
import { ApiClient, type DeployAnswerJson } from '../../src/cli/api-client.ts';
import { parseConfigText } from '../../src/config/index.ts';
import { SlipwayError } from '../../src/core/errors.ts';
import { scratchDir } from './harness.ts';

export type ApiDeployResult =
  | { ok: true; answer: DeployAnswerJson }
  | { ok: false; error: { code: string; message: string; details: Record<string, unknown> } };

/** Deploys `dir` to `env` on the server at `url` with `token`; a refusal is a value, not a throw. */
export async function deployThroughApi(o: { url: string; token: string; dir: string; env: string }): Promise<ApiDeployResult> {
  const client = new ApiClient(o.url, o.token);
  const text = readFileSync(join(o.dir, 'slipway.yaml'), 'utf8');
  const config = parseConfigText(text, 'slipway.yaml');
  const scratch = scratchDir('slipway-api-deploy-');
  try {
    const packed = await packDirectory({ dir: o.dir, outFile: join(scratch, 'artefact.tar.gz') });
    await client.uploadArtefact(packed.file, packed.digest, config.service);
    return { ok: true, answer: await client.deploy(o.env, { artefact: packed.digest, config: { text, file: 'slipway.yaml' } }) };
  } catch (e) {
    if (!(e instanceof SlipwayError)) throw e;
    return { ok: false, error: { code: e.code, message: e.message, details: e.details } };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
