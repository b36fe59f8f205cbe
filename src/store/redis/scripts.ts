/**
 * The Lua scripts behind every multi-key change. node-redis sends each as EVALSHA and falls
 * back to EVAL (which caches it again) on NOSCRIPT, e.g. after a Redis restart. Each script
 * takes only keys of one hash tag (keys.ts), so it runs unchanged on Redis Cluster.
 *
 * Session expiry uses Redis's clock (TIME, PEXPIRE), never a node's: nodes with skewed
 * clocks still agree on which session and which node has lapsed.
 */
import { type CommandParser, defineScript } from "redis";
import type { SessionRecord } from "../../core/ports/store.ts";

/** Shared by every script: Redis's time in ms, and "extend a key's TTL, never shorten it". */
const PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function extend(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
`;

/** `reply` shapes the raw reply; objects, as node-redis's reply typing flattens tuples. */
function script<Raw, Reply>(keys: number, body: string, reply: (raw: Raw) => Reply) {
  return defineScript({
    SCRIPT: PRELUDE + body,
    NUMBER_OF_KEYS: keys,
    parseCommand(parser: CommandParser, keyNames: readonly string[], args: readonly (string | number)[]) {
      for (const k of keyNames) parser.pushKey(k);
      for (const a of args) parser.push(String(a));
    },
    transformReply: (raw: unknown) => reply(raw as Raw),
  });
}

/** The fields of a session hash, in the order HMGET reads them. */
export const SESSION_FIELDS = ["session", "user", "device", "node", "connectedAt", "lastSeen"];

/** A record from its SESSION_FIELDS values; null when the hash is gone (expired). */
export function sessionFrom(fields: readonly (string | null)[] | null): SessionRecord | null {
  if (!fields || fields[0] === null) return null;
  const [session, user, device, node, connectedAt, lastSeen] = fields as string[];
  return { session, user, device, node, connectedAt: Number(connectedAt), lastSeen: Number(lastSeen) };
}

const same = <T>(raw: T) => raw;

export const SCRIPTS = {
  /**
   * KEYS session, user · ARGV session, user, device, node, connectedAt, lastSeen, ttl.
   * Writes the record and indexes the device; returns the record it replaced, if another.
   */
  registerSession: script(2, `
local old = redis.call('HMGET', KEYS[1], ${SESSION_FIELDS.map((f) => `'${f}'`).join(", ")})
local ttl = tonumber(ARGV[7])
redis.call('HSET', KEYS[1], 'session', ARGV[1], 'user', ARGV[2], 'device', ARGV[3],
  'node', ARGV[4], 'connectedAt', ARGV[5], 'lastSeen', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('SADD', KEYS[2], ARGV[3])
extend(KEYS[2], ttl)
if old[1] and old[1] ~= ARGV[1] then return old end
return false`, sessionFrom),

  /** KEYS session, user · ARGV session, device. Removes it if current; returns its node. */
  removeSession: script(2, `
if redis.call('HGET', KEYS[1], 'session') ~= ARGV[1] then return false end
local node = redis.call('HGET', KEYS[1], 'node')
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return node`, same<string | null>),

  /**
   * KEYS session, user · ARGV session, ttl, user, device, node, connectedAt → 1 extended,
   * 2 written again (its record had expired or been swept while its socket lived on, e.g.
   * through a Redis outage), 0 untouched (another session has taken the device).
   */
  refreshSession: script(2, `
local current = redis.call('HGET', KEYS[1], 'session')
if current and current ~= ARGV[1] then return 0 end
local ttl = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'session', ARGV[1], 'user', ARGV[3], 'device', ARGV[4],
  'node', ARGV[5], 'connectedAt', ARGV[6], 'lastSeen', now_ms())
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('SADD', KEYS[2], ARGV[4])
extend(KEYS[2], ttl)
if current then return 1 end
return 2`, same<number>),

  /** KEYS session, user · ARGV device. The live record, or nil (and the index forgets it). */
  readSession: script(2, `
local r = redis.call('HMGET', KEYS[1], ${SESSION_FIELDS.map((f) => `'${f}'`).join(", ")})
if r[1] then return r end
redis.call('SREM', KEYS[2], ARGV[1])
return false`, sessionFrom),

  /**
   * KEYS node sessions, node alive · ARGV ttl, mode, member… Scores the members with their
   * expiry and renews the node's liveness. mode "add" (register): adds the members, and
   * liveness only grows. mode "renew" (refresh): only members still indexed, and liveness
   * is set to what the node vouches for now. The index outlives its newest entry by a
   * minute, so a sweep still finds (and counts) what expired, yet vanishes by itself when
   * no node is left to sweep.
   */
  indexNode: script(2, `
local ttl = tonumber(ARGV[1])
local now = now_ms()
local add = ARGV[2] == 'add'
for i = 3, #ARGV do
  if add then redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
  else redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[i]) end
end
extend(KEYS[1], ttl + 60000)
if not add or redis.call('PTTL', KEYS[2]) < ttl then
  redis.call('SET', KEYS[2], now + ttl, 'PX', ttl)
end
return 1`, same<number>),

  /**
   * KEYS node sessions, node alive → [alive, members]: a live node's expired entries, or
   * every entry of a node whose liveness key has lapsed.
   */
  nodeEntries: script(2, `
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {1, redis.call('ZRANGE', KEYS[1], '-inf', now_ms(), 'BYSCORE')}
end
return {0, redis.call('ZRANGE', KEYS[1], 0, -1)}`, ([alive, members]: [number, string[]]) => ({ alive: alive === 1, members })),

  /**
   * KEYS session, user · ARGV session, device, force → 1 when the session is gone now
   * (deleted here, as its node is dead: force = 1; or already expired), 0 when it is
   * still live and must stay indexed.
   */
  reapSession: script(2, `
local current = redis.call('HGET', KEYS[1], 'session')
if current == ARGV[1] then
  if ARGV[3] ~= '1' then return 0 end
  redis.call('DEL', KEYS[1])
  current = false
end
if not current then redis.call('SREM', KEYS[2], ARGV[2]) end
return 1`, (gone: number) => gone === 1),

  /**
   * KEYS conv, log, ids · ARGV historyLimit, ts, (idempotency key, payload)… → per message
   * [duplicate (0/1), stored entry], or nil when the conversation does not exist. A stored
   * entry is the JSON text [seq, ts, payload]; seq s sits at list index s - last - 1.
   */
  append: script(3, `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local limit = tonumber(ARGV[1])
local out = {}
for i = 3, #ARGV, 2 do
  local seq = redis.call('ZSCORE', KEYS[3], ARGV[i])
  if seq then
    local last = tonumber(redis.call('HGET', KEYS[1], 'seq'))
    out[#out + 1] = {1, redis.call('LINDEX', KEYS[2], tonumber(seq) - last - 1)}
  else
    seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
    local entry = '[' .. seq .. ',' .. ARGV[2] .. ',' .. ARGV[i + 1] .. ']'
    redis.call('RPUSH', KEYS[2], entry)
    redis.call('ZADD', KEYS[3], seq, ARGV[i])
    if seq > limit then
      redis.call('LTRIM', KEYS[2], -limit, -1)
      redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', seq - limit)
    end
    out[#out + 1] = {0, entry}
  end
end
return out`, (raw: [number, string][] | null) => raw && raw.map(([duplicate, entry]) => ({ duplicate: duplicate === 1, entry }))),

  /** KEYS conv, log · ARGV after, limit → retained entries with seq > after, oldest first. */
  range: script(2, `
local last = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
local from = math.max(tonumber(ARGV[1]), last - redis.call('LLEN', KEYS[2]))
local count = math.min(last - from, tonumber(ARGV[2]))
if count <= 0 then return {} end
return redis.call('LRANGE', KEYS[2], from - last, from - last + count - 1)`, same<string[]>),

  /** KEYS conv, reads · ARGV user, seq → the mark now stored, or nil for no conversation. */
  markRead: script(2, `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local mark = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local seq = tonumber(ARGV[2])
if seq > mark then
  redis.call('HSET', KEYS[2], ARGV[1], seq)
  mark = seq
end
return mark`, same<number | null>),
};
