// The process driver keeps the runtime contract, with real processes and the real log relay.

import { runtimeContract } from '../../../test/support/runtime-contract.ts';
import { logRelayCommand } from '../../observe/log-relay.ts';
import { ProcessRuntime } from './process-runtime.ts';

runtimeContract('process', async () => ({
  runtime: new ProcessRuntime({ logRelay: logRelayCommand() }),
  argv: (script) => [process.execPath, '-e', script],
  extra: { env: { LISTEN_HOST: '127.0.0.1', PATH: process.env.PATH ?? '/usr/bin:/bin' } },
}));
