import { protocolScenarios } from "../scenarios.ts";

protocolScenarios("bun");
