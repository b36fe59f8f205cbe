/**
 * Which shard a conversation belongs to. Every broker that sequences per shard (memory.ts,
 * rabbitmq/) uses this one function, so a conversation maps to the same shard everywhere.
 */

/** FNV-1a (32 bit): stable across runtimes and processes. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The shard of a conversation: FNV-1a of its id. */
export function shardOf(conv: string, shards: number): number {
  return fnv1a(conv) % shards;
}
