// `slipway init`: a commented slipway.yaml for the service directory, its command
// and health path guessed from the project's files (config/detect-project.ts)
// unless --command is given. Writes nothing when slipway.yaml exists (without
// --force) or the name or command cannot be used.

import { existsSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { SlipwayError } from '../core/errors.ts';
import { CONFIG_FILE_NAME, renderInitConfig } from '../config/index.ts';
import { detectProject, type ProjectKind } from '../config/detect-project.ts';
import { findOnPath } from '../config/program-check.ts';

export interface InitResult {
  file: string;
  service: string;
  kind: ProjectKind | 'given';
  command: string;
  healthPath: string;
  summary: string;
}

export function runInit(o: { dir: string; service?: string | undefined; command?: string | undefined; force: boolean }): InitResult {
  const file = join(o.dir, CONFIG_FILE_NAME);
  if (existsSync(file) && !o.force) throw new SlipwayError('E_BAD_REQUEST', `${CONFIG_FILE_NAME} already exists here; use --force to overwrite it`);
  const service = (o.service ?? basename(o.dir)).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^[^a-z]+/, '') || 'service';
  const pathEnv = process.env.PATH ?? '';
  const guess = detectProject(o.dir, { hasProgram: (name) => findOnPath(name, { serviceDir: o.dir, pathEnv }) !== null, nodeVersion: process.version });
  const given = o.command !== undefined;
  const command = given ? o.command! : guess.command;
  const healthPath = guess.healthPath;
  // Rendered before anything is written: a bad name or command leaves the directory as it was.
  const text = renderInitConfig({ service, command, commandNotes: given ? [] : guess.commandNotes, healthPath, healthNotes: guess.healthNotes });
  writeFileSync(file, text);
  return { file, service, kind: given ? 'given' : guess.kind, command, healthPath, summary: given ? `run.command ${command} (as given)` : guess.summary };
}
