// `slipway render <env> --runtime kubernetes`: the manifests of a release, printed
// for review or for a GitOps repository. It reads slipway.yaml here and asks no
// server and no cluster, so it works in CI before anything is deployed.

import { resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { CONFIG_FILE_NAME, loadConfigFile } from '../config/index.ts';

interface RenderFlags {
  runtime: 'kubernetes';
  release: number;
  artefact?: string;
  file: string;
}

function releaseNumber(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a release number of at least 1');
  return n;
}

function artefactDigest(v: string): string {
  if (!/^sha256:[0-9a-f]{64}$/.test(v)) throw new InvalidArgumentError('expected an artefact digest sha256:<64 lowercase hex digits>');
  return v;
}

export function registerRenderCommand(program: Command, ctx: { isJson(cmd: Command): boolean }): void {
  program
    .command('render')
    .description('print the manifests of a release of <env> for a cluster (YAML), from slipway.yaml alone; no server needed')
    .argument('<env>', 'environment name from slipway.yaml; it needs a kubernetes: section')
    .addOption(new Option('--runtime <runtime>', 'what to render for').choices(['kubernetes']).default('kubernetes'))
    .option('--release <number>', 'the release number the objects are named after and {release} in the image', releaseNumber, 1)
    .option('--artefact <digest>', 'the artefact digest, for {artefact} in the image', artefactDigest)
    .option('-f, --file <path>', 'config file', CONFIG_FILE_NAME)
    .addHelpText('after', '\nSecrets are referred to by name (a Secret per release) and never printed.\nSee docs/kubernetes.md.')
    .action(async (env: string, o: RenderFlags, cmd: Command) => {
      const config = loadConfigFile(resolve(o.file));
      // Loaded only here: the schemas behind it are large, and no other command needs them.
      const { formatRenderedYaml, renderRelease } = await import('../runtime/kubernetes/render.ts');
      const rendered = renderRelease(config, { env, release: o.release, artefactDigest: o.artefact ?? null });
      if (ctx.isJson(cmd)) process.stdout.write(`${JSON.stringify({ kind: 'List', apiVersion: 'v1', items: rendered.objects, requiredSecrets: rendered.requiredSecrets }, null, 2)}\n`);
      else process.stdout.write(formatRenderedYaml(rendered));
    });
}
