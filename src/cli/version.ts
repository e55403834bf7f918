// The version `slipway --version` prints: the package's own, read from the
// package.json installed beside the sources (a checkout, or an npm install of it).

import { readFileSync } from 'node:fs';

export function slipwayVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
