/**
 * Every Redis key duplex writes, in one place. All start with the namespace; the part in
 * braces is the Redis Cluster hash tag, so every key one Lua script touches lives in one
 * slot (a script never crosses slots):
 *
 *   tag         key                                  holds
 *   {u:<user>}  ns:session:{u:<user>}:<device>       hash per session, PEXPIREd with its TTL
 *               ns:user:{u:<user>}                   set of the user's devices (per-user index)
 *               ns:user:{u:<user>}:convs             zset conv id → created at, ms (the user's conversations)
 *   {n:<node>}  ns:node:{n:<node>}:sessions          zset [user, device, session] → expiry (per-node index)
 *               ns:node:{n:<node>}:alive             the node's liveness key, PX = what it last vouched for
 *   (none)      ns:nodes                             set of node ids that may own sessions (what sweep visits)
 *   {c:<conv>}  ns:conv:{c:<conv>}                   hash: members (JSON array), seq (last seq)
 *               ns:conv:{c:<conv>}:log               list of the retained messages, oldest first
 *               ns:conv:{c:<conv>}:ids               zset JSON [user, client id] → seq (idempotency)
 *               ns:conv:{c:<conv>}:read              hash user → read mark
 *   {d:<ref>}   ns:deliveries:{d:<ref>}              deliveries counted of a queued submit (classic shard queues)
 *
 * Ids come from clients and may hold any character. Inside the braces "%" and "}" are
 * escaped (%25, %7D), so the tag is always the whole id and ends where the id does: two
 * different ids, or a user id and the device after it, can never run together into one
 * key. The namespace cannot hold a brace (config.ts), so the first "{" is always ours,
 * and the one-letter kind keeps a tag from ever being empty (an empty tag would hash the
 * whole key).
 */
export type RedisKeys = ReturnType<typeof redisKeys>;

export function redisKeys(ns: string) {
  return {
    session: (user: string, device: string) => `${ns}:session:{u:${esc(user)}}:${device}`,
    user: (user: string) => `${ns}:user:{u:${esc(user)}}`,
    userConvs: (user: string) => `${ns}:user:{u:${esc(user)}}:convs`,
    nodeSessions: (node: string) => `${ns}:node:{n:${esc(node)}}:sessions`,
    nodeAlive: (node: string) => `${ns}:node:{n:${esc(node)}}:alive`,
    nodes: `${ns}:nodes`,
    conv: (conv: string) => `${ns}:conv:{c:${esc(conv)}}`,
    log: (conv: string) => `${ns}:conv:{c:${esc(conv)}}:log`,
    ids: (conv: string) => `${ns}:conv:{c:${esc(conv)}}:ids`,
    reads: (conv: string) => `${ns}:conv:{c:${esc(conv)}}:read`,
    deliveries: (ref: string) => `${ns}:deliveries:{d:${esc(ref)}}`,
  };
}

const esc = (id: string) => id.replace(/[%}]/g, (c) => (c === "%" ? "%25" : "%7D"));
