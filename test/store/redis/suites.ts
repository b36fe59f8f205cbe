/**
 * The store contract suites (session-store.suite.ts, message-store.suite.ts) run against
 * the Redis at `url()`, read when a fixture opens so a server a test file starts in
 * beforeAll can be used. Every fixture gets a namespace of its own under `base`, so no
 * test sees another's nodes or sessions.
 */
import { redisStores } from "../../../src/store/redis/stores.ts";
import { messageStoreSuite } from "../message-store.suite.ts";
import { sessionStoreSuite } from "../session-store.suite.ts";

export function redisStoreSuites(name: string, url: () => string, base: string): void {
  let fixtures = 0;
  const namespace = () => `${base}-${++fixtures}`;

  sessionStoreSuite(name, async () => {
    const stores = await redisStores(url(), { namespace: namespace(), historyLimit: 1000 });
    return {
      store: stores.sessions,
      elapse: (ms) => new Promise((r) => setTimeout(r, ms)),
      close: () => stores.close(),
    };
  });

  // Two connections on one namespace: concurrent writers are real.
  messageStoreSuite(name, async (historyLimit) => {
    const ns = namespace();
    const [a, b] = await Promise.all([
      redisStores(url(), { namespace: ns, historyLimit }),
      redisStores(url(), { namespace: ns, historyLimit }),
    ]);
    return { stores: [a.messages, b.messages], close: async () => { await Promise.all([a.close(), b.close()]); } };
  });
}
