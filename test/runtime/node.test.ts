import { protocolScenarios } from "../scenarios.ts";

protocolScenarios("node");
