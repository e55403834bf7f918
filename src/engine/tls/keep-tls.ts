// Wires a TlsKeeper to an engine: the environments come from the store (the
// release that decides each one's listener), the certificates go into the route
// table, and TLS events onto the engine's bus (so metrics and webhooks get them).

import type { ExternalSecretSpec } from '../../core/service-config.ts';
import type { SecretCipher } from '../../security/secret-cipher.ts';
import type { Engine } from '../engine.ts';
import { routingRelease } from '../route-sync.ts';
import { encryptedMeta } from './encrypted-meta.ts';
import { TlsKeeper, type TlsKeeperDeps } from './tls-keeper.ts';

export function keepTls(o: {
  engine: Engine;
  readSecret: (at: { env: string; name: string }, spec: ExternalSecretSpec) => Promise<string>;
  cipher: SecretCipher;
  log: TlsKeeperDeps['log'];
  checkEveryMs?: number;
  retryAfterMs?: number;
}): TlsKeeper {
  const { engine } = o;
  const store = engine.store;
  const keeper = new TlsKeeper({
    environments: () => store.listEnvironmentNames().flatMap((env) => {
      const spec = routingRelease(store, env)?.config.environment;
      return spec?.tls ? [{ env, spec }] : [];
    }),
    readSecret: o.readSecret,
    vault: encryptedMeta(store, o.cipher),
    push: () => engine.routes.push(),
    publish: (e) => {
      o.log[e.level === 'error' ? 'error' : 'info']({ env: e.env, ...e.data }, e.message);
      engine.events.publish({ ...e, rolloutId: null });
    },
    log: o.log,
    now: () => Date.now(),
    ...(o.checkEveryMs !== undefined ? { checkEveryMs: o.checkEveryMs } : {}),
    ...(o.retryAfterMs !== undefined ? { retryAfterMs: o.retryAfterMs } : {}),
  });
  engine.routes.tlsRoutes = (env, spec) => keeper.routesFor(env, spec);
  engine.tls = keeper;
  return keeper;
}
