import { MemoryMessageStore, MemorySessionStore } from "../../src/store/memory.ts";
import { messageStoreSuite } from "./message-store.suite.ts";
import { sessionStoreSuite } from "./session-store.suite.ts";

sessionStoreSuite("memory", async () => {
  let now = Date.now();
  return {
    store: new MemorySessionStore(() => now),
    elapse: async (ms) => { now += ms; },
    close: async () => {},
  };
});

messageStoreSuite("memory", async (historyLimit) => {
  const store = new MemoryMessageStore({ historyLimit });
  return { stores: [store, store], close: async () => {} };
});
