/**
 * Which node sequences which shard. RabbitMQ 3.10 makes the first consumer that registers
 * on a single-active-consumer queue the active one, whatever its priority, so left alone
 * every shard ends up on the node that started first. Instead every node keeps a view of
 * the live nodes (they announce themselves) and picks each shard's owner by rendezvous
 * hashing: every node computes the same owner from the same view, and when a node joins
 * or leaves only the shards it wins or held change hands.
 */
import { fnv1a } from "../shard.ts";

/** murmur3's finaliser: spreads FNV-1a's weak low bits over the whole word. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The node with the highest score for this shard; ties go to the greater id. */
export function ownerOf(shard: number, nodes: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const node of nodes) {
    const score = mix(fnv1a(`${shard}/${node}`));
    if (score > bestScore || (score === bestScore && best !== undefined && node > best)) {
      best = node;
      bestScore = score;
    }
  }
  return best;
}

export function ownedBy(node: string, nodes: readonly string[], shards: number): number[] {
  const owned: number[] = [];
  for (let s = 0; s < shards; s++) if (ownerOf(s, nodes) === node) owned.push(s);
  return owned;
}

interface Member {
  node: string;
  /** Changes whenever the node (re)connects: its consumers registered anew. */
  incarnation: string;
  expiresAt: number;
}

/**
 * The live nodes as heard through their announcements. Each entry lives `ttlMs` after the
 * last one; this node's own entry never expires. Methods that change the view return true
 * so the caller knows to rebalance.
 */
export class Membership {
  readonly self: string;
  #members = new Map<string, Member>();
  #ttlMs: number;
  #now: () => number;

  constructor(self: string, ttlMs: number, now: () => number = Date.now) {
    this.self = self;
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  /** Records an announcement (this node's own included). */
  heard(node: string, incarnation: string): boolean {
    const known = this.#members.get(node);
    const expiresAt = node === this.self ? Infinity : this.#now() + this.#ttlMs;
    this.#members.set(node, { node, incarnation, expiresAt });
    return known?.incarnation !== incarnation;
  }

  /** A node said goodbye; an older incarnation's goodbye does not remove a newer one. */
  left(node: string, incarnation: string): boolean {
    if (node === this.self || this.#members.get(node)?.incarnation !== incarnation) return false;
    return this.#members.delete(node);
  }

  /** Drops every node not heard from within the TTL. */
  expire(): boolean {
    const now = this.#now();
    let changed = false;
    for (const [node, m] of this.#members) {
      if (m.expiresAt > now) continue;
      this.#members.delete(node);
      changed = true;
    }
    return changed;
  }

  nodes(): string[] {
    return [...this.#members.keys()].sort();
  }

  /**
   * The owner of a shard, and a key that also changes when the owner re-registered its
   * consumers (a new incarnation): either change means the others must step back.
   */
  owner(shard: number): { node: string; key: string } | undefined {
    const node = ownerOf(shard, this.nodes());
    return node === undefined ? undefined : { node, key: `${node} ${this.#members.get(node)!.incarnation}` };
  }
}
