/** The protocol scenarios of CONTRACT §2–§4 on a node whose store and broker are Redis. */
import { afterAll } from "bun:test";
import { protocolScenarios } from "../../scenarios.ts";
import { dropKeys, REDIS_URL, testNamespace } from "./fixtures.ts";

const namespace = testNamespace();
afterAll(() => dropKeys(`${namespace}:*`));

protocolScenarios("bun", () => ({ REDIS_URL, DUPLEX_NAMESPACE: namespace }));
