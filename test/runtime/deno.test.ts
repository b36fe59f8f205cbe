import { protocolScenarios } from "../scenarios.ts";

protocolScenarios("deno");
