/**
 * What the hub reports as it works. The hub calls these on its hot path, so an
 * implementation must only bump counters (src/ops/metrics.ts keeps the per-frame counters and
 * the per-message histograms as plain tallies that prom-client renders when /metrics is read).
 */
import type { ErrorCode } from "./errors.ts";
import type { Stage } from "./stages.ts";

export interface HubMetrics {
  connected(): void;
  disconnected(code: number): void;
  frameIn(type: string): void;
  frameOut(type: string, count?: number): void;
  refused(code: ErrorCode): void;
  /** Messages the broker stored on this node (counted where src/main.ts hands it the store). */
  sequenced(count: number): void;
  /** `send` received → `ack` written, in ms. */
  ack(ms: number): void;
  /** Sequenced → written to a local socket, in ms. */
  delivered(ms: number): void;
  /** One message's time in one stage of the cluster pipeline, in ms (src/core/stages.ts). */
  stage(stage: Stage, ms: number): void;
  slowClosed(): void;
  /** A frame or stored message that could not be encoded was skipped. */
  unencodable(): void;
  /** A message was refused for good and set aside (RabbitMQ: its dead-letter queue). */
  deadLettered(): void;
}

const nothing = () => {};
export const NO_METRICS: HubMetrics = {
  connected: nothing, disconnected: nothing, frameIn: nothing, frameOut: nothing, refused: nothing,
  sequenced: nothing, ack: nothing, delivered: nothing, stage: nothing, slowClosed: nothing, unencodable: nothing, deadLettered: nothing,
};
