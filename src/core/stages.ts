/**
 * The stages of one message through the cluster pipeline, as duplex_pipeline_stage_seconds
 * labels them (docs/09-order.md draws them). Each is the time between two points a
 * message passes; the name says where the stage ends:
 *
 * - ingress_confirm  submitted on its origin → RabbitMQ confirmed the publish to its shard queue
 * - shard_queue      submitted on its origin → taken into a batch by its shard's owner
 * - sequence         taken into a batch → stored and numbered (the store's append returned)
 * - fanout_confirm   stored → RabbitMQ confirmed the fanout publish (its shard may ack it)
 * - fanout_delivery  stored → heard on a node's own queue (observed on every node)
 * - ack              heard back on its origin → the `ack` frame written to the sender
 *
 * ingress_confirm runs beside shard_queue: an owner may take a message before RabbitMQ has
 * confirmed it to its origin. shard_queue and fanout_delivery begin on one node and end on
 * another: they compare two nodes' clocks, which must agree (NTP) for them to mean anything.
 */
export const STAGES = ["ingress_confirm", "shard_queue", "sequence", "fanout_confirm", "fanout_delivery", "ack"] as const;
export type Stage = (typeof STAGES)[number];

/**
 * Wall-clock time in ms with sub-millisecond resolution: the process's start on the wall
 * clock plus the monotonic time since. A stamp taken on one node is read on another.
 */
export function stamp(): number {
  return performance.timeOrigin + performance.now();
}
