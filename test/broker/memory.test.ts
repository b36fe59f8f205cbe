import { MemoryBroker } from "../../src/broker/memory.ts";
import { brokerSuite } from "./broker.suite.ts";

// One process is the whole cluster: a single instance, whatever the suite asks for.
brokerSuite("memory", async () => {
  const broker = new MemoryBroker({ shards: 4 });
  return { brokers: [broker], close: () => broker.close() };
});
