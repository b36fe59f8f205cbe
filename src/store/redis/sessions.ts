/**
 * Sessions in Redis (key layout: keys.ts). The record of a session is a hash that
 * Redis expires by itself (PEXPIRE), so an expired session is never read back even if no
 * node ever sweeps, and a crashed cluster leaves nothing behind. Around it:
 * - the per-user set of devices, cleaned lazily when a read finds a record gone;
 * - the per-node index (a zset scored by expiry) and the node's liveness key, which sweep
 *   uses to find what to clean: expired entries, and every session of a node whose
 *   liveness key has lapsed;
 * - the set of nodes, so sweep knows which node indexes to visit.
 *
 * Every script touches one slot, so the user side and the node side of one change are two
 * script calls, sent together (one round trip) but not one transaction: if a node dies
 * between them the record still expires by its TTL, and sweep tolerates index entries
 * whose record is gone. Round trips: register 1 (2 when it replaces a
 * session), refresh 1 for the whole node (2 after an outage), remove 2, byUser and byNode
 * 2, sweep 4.
 */
import { checkDevice, checkIds } from "../ids.ts";
import type { SessionRecord, SessionStore } from "../../core/ports/store.ts";
import type { RedisLink } from "../../redis/connection.ts";
import type { RedisKeys } from "./keys.ts";
import { type SCRIPTS, SESSION_FIELDS, sessionFrom } from "./scripts.ts";

type Link = RedisLink<typeof SCRIPTS>;

/** An entry of a node's index: enough to find the record and tell it is the same session. */
type Entry = [user: string, device: string, session: string];
const entry = (r: Pick<SessionRecord, "user" | "device" | "session">) => JSON.stringify([r.user, r.device, r.session]);

export class RedisSessionStore implements SessionStore {
  #link: Link;
  #keys: RedisKeys;

  constructor(link: Link, keys: RedisKeys) {
    this.#link = link;
    this.#keys = keys;
  }

  async register(record: SessionRecord, ttlMs: number): Promise<SessionRecord | null> {
    checkDevice(record);
    const k = this.#keys;
    return this.#link.run(async (c) => {
      const [replaced] = await Promise.all([
        c.registerSession([k.session(record.user, record.device), k.user(record.user)], [
          record.session, record.user, record.device, record.node, record.connectedAt, record.lastSeen, ttlMs,
        ]),
        c.indexNode([k.nodeSessions(record.node), k.nodeAlive(record.node)], [ttlMs, "add", entry(record)]),
        c.sAdd(k.nodes, record.node),
      ]);
      if (replaced) await c.zRem(k.nodeSessions(replaced.node), entry(replaced));
      return replaced;
    });
  }

  async remove(record: Pick<SessionRecord, "session" | "user" | "device">): Promise<void> {
    checkDevice(record);
    const k = this.#keys;
    return this.#link.run(async (c) => {
      const node = await c.removeSession([k.session(record.user, record.device), k.user(record.user)], [record.session, record.device]);
      if (node !== null) await c.zRem(k.nodeSessions(node), entry(record));
    });
  }

  /** One round trip; a second one re-indexes sessions that had to be written again. */
  async refresh(node: string, sessions: readonly SessionRecord[], ttlMs: number): Promise<void> {
    sessions.forEach(checkDevice);
    const k = this.#keys;
    return this.#link.run(async (c) => {
      const [, , ...outcomes] = await Promise.all([
        c.sAdd(k.nodes, node),
        c.indexNode([k.nodeSessions(node), k.nodeAlive(node)], [ttlMs, "renew", ...sessions.map(entry)]),
        ...sessions.map((s) => c.refreshSession([k.session(s.user, s.device), k.user(s.user)], [
          s.session, ttlMs, s.user, s.device, node, s.connectedAt,
        ])),
      ]);
      const restored = sessions.filter((_, i) => outcomes[i] === 2).map(entry);
      if (restored.length > 0) await c.indexNode([k.nodeSessions(node), k.nodeAlive(node)], [ttlMs, "add", ...restored]);
    });
  }

  async byUser(user: string): Promise<SessionRecord[]> {
    checkIds("user", user);
    const k = this.#keys;
    return this.#link.run(async (c) => {
      const devices = await c.sMembers(k.user(user));
      const found = await Promise.all(devices.map((d) => c.readSession([k.session(user, d), k.user(user)], [d])));
      return found.filter((r) => r !== null);
    });
  }

  byNode(node: string): Promise<SessionRecord[]> {
    const k = this.#keys;
    return this.#link.run(async (c) => {
      const entries = (await c.zRange(k.nodeSessions(node), 0, -1)).map((e) => JSON.parse(e) as Entry);
      const found = await Promise.all(entries.map(([user, device]) => c.hmGet(k.session(user, device), SESSION_FIELDS)));
      return found.map(sessionFrom).filter((r, i) => r !== null && r.session === entries[i][2] && r.node === node) as SessionRecord[];
    });
  }

  /**
   * Visits every known node: a live node's expired index entries are dropped (Redis has
   * expired their records already); a node whose liveness key lapsed loses every session,
   * and is forgotten. Concurrent sweeps are safe: each step is idempotent, and a removal
   * counts only for the sweep whose ZREM took the entry out.
   */
  sweep(): Promise<number> {
    const k = this.#keys;
    return this.#link.run(async (c) => {
      const nodes = await c.sMembers(k.nodes);
      const plans = await Promise.all(nodes.map((n) => c.nodeEntries([k.nodeSessions(n), k.nodeAlive(n)], [])));
      const reaped = await Promise.all(plans.map(({ alive, members }) =>
        Promise.all(members.map((m) => {
          const [user, device, session] = JSON.parse(m) as Entry;
          return c.reapSession([k.session(user, device), k.user(user)], [session, device, alive ? 0 : 1]);
        }))
      ));
      const removed = await Promise.all(nodes.map((n, i) => {
        const { alive, members } = plans[i];
        const gone = members.filter((_, j) => reaped[i][j]);
        return Promise.all([gone.length > 0 ? c.zRem(k.nodeSessions(n), gone) : 0, alive ? 0 : c.sRem(k.nodes, n)]);
      }));
      return removed.reduce((sum, [count]) => sum + count, 0);
    });
  }

  async close(): Promise<void> {}
}
