// Where everything lives under the data directory (.slipway/ by default).

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface DataDirPaths {
  root: string;
  stateDb: string;
  artefacts: string;
  releases: string;
  logs: string;
  router: string;
  /** Holds master.key (mode 0600) when SLIPWAY_MASTER_KEY is not used. */
  keys: string;
  masterKey: string;
  /** The server's Ed25519 signing key (mode 0600): signs artefact manifests and audit checkpoints. */
  signingKey: string;
  /** The admin token made on first start (mode 0600): the local CLI's default credential. */
  adminToken: string;
  /** The signed checkpoint of the audit log's head. */
  auditHead: string;
  /** Programs the server prepares for the processes it starts (the log relay, bundled). */
  bin: string;
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
    keys: join(r, 'keys'),
    masterKey: join(r, 'keys', 'master.key'),
    signingKey: join(r, 'keys', 'signing.key'),
    adminToken: join(r, 'admin.token'),
    auditHead: join(r, 'audit-head.json'),
    bin: join(r, 'bin'),
    serverJson: join(r, 'server.json'),
    serverLock: join(r, 'server.lock'),
    serverLog: join(r, 'server.log'),
    tmp: join(r, 'tmp'),
  };
}

export const DEFAULT_DATA_DIR = '.slipway';

/** Makes the data directory and the directories the server writes into. */
export function prepareDataDir(paths: DataDirPaths): void {
  for (const d of [paths.root, paths.artefacts, paths.releases, paths.logs, paths.router, paths.tmp]) mkdirSync(d, { recursive: true });
}
