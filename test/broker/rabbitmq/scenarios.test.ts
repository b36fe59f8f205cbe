/** The protocol scenarios of CONTRACT §2–§4 on a node whose broker is RabbitMQ (and store Redis). */
import { afterAll } from "bun:test";
import { dropNamespace } from "../../cleanup.ts";
import { protocolScenarios } from "../../scenarios.ts";
import { amqpUrl, redisUrl } from "../../services.ts";
import { testNamespace } from "./fixture.ts";

const namespace = testNamespace();
const env = { REDIS_URL: await redisUrl(), AMQP_URL: await amqpUrl(), DUPLEX_NAMESPACE: namespace };
afterAll(() => dropNamespace(namespace));

protocolScenarios("bun", () => env);
