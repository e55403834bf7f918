// Where everything lives under the data directory (.slipway/ by default).

import { join, resolve } from 'node:path';

export interface DataDirPaths {
  root: string;
  stateDb: string;
  artefacts: string;
  releases: string;
  logs: string;
  router: string;
  serverJson: string;
  serverLock: string;
  serverLog: string;
  tmp: string;
}

export function dataDirPaths(root: string): DataDirPaths {
  const r = resolve(root);
  return {
    root: r,
    stateDb: join(r, 'state.db'),
    artefacts: join(r, 'artefacts'),
    releases: join(r, 'releases'),
    logs: join(r, 'logs'),
    router: join(r, 'router'),
    serverJson: join(r, 'server.json'),
    serverLock: join(r, 'server.lock'),
    serverLog: join(r, 'server.log'),
    tmp: join(r, 'tmp'),
  };
}

export const DEFAULT_DATA_DIR = '.slipway';
