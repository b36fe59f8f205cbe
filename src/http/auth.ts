/**
 * Access tokens (CONTRACT §3): standard HS256 JWTs whose `sub` is the user id. Hono's JWT
 * implementation does the cryptography and rejects other algorithms, `alg: none` included.
 */
import { sign, verify } from "hono/jwt";
import { duplexError } from "../core/errors.ts";
import { BoundedMap } from "../core/lru.ts";
import { ID_RULE, isId } from "../core/protocol.ts";

export async function mintToken(user: string, secret: string, ttlSeconds = 3600): Promise<string> {
  // The same rule as a conversation's members (CONTRACT §2): any member can hold a token.
  if (!isId(user)) throw duplexError("bad_request", `user must be ${ID_RULE}`);
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) throw duplexError("bad_request", "ttl must be a positive number of seconds");
  const now = Math.floor(Date.now() / 1000);
  return sign({ sub: user, iat: now, exp: now + Math.floor(ttlSeconds) }, secret, "HS256");
}

/**
 * The user id the token names; DuplexError("unauthorized") for anything else, including a
 * token without `exp` or one still valid for more than `maxTtlSeconds` (DUPLEX_MAX_TOKEN_TTL).
 * The bound is on exp minus now, not exp minus iat: whoever sets exp sets iat too.
 */
export async function verifyToken(token: string | undefined | null, secret: string, maxTtlSeconds: number): Promise<string> {
  if (!token) throw duplexError("unauthorized", "an access token is required");
  let payload: Record<string, unknown>;
  try {
    payload = await verify(token, await verifyKey(secret), "HS256");
  } catch (err) {
    const expired = err instanceof Error && err.name === "JwtTokenExpired";
    throw duplexError("unauthorized", expired ? "the access token has expired" : "the access token is invalid");
  }
  if (typeof payload.exp !== "number") throw duplexError("unauthorized", "the access token has no expiry (exp): tokens must expire");
  if (payload.exp - Date.now() / 1000 > maxTtlSeconds) {
    throw duplexError("unauthorized", `the access token expires (exp) more than ${maxTtlSeconds} s from now, later than this node accepts (DUPLEX_MAX_TOKEN_TTL)`);
  }
  const sub = payload.sub;
  if (!isId(sub)) throw duplexError("unauthorized", `the access token's user (sub) must be ${ID_RULE}`);
  return sub;
}

/**
 * The secret as a key, imported once: given the string, hono imports it anew for every
 * token, and every connection's handshake would pay for that and leave it to the GC.
 */
const keys = new BoundedMap<string, Promise<CryptoKey>>(16);
function verifyKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    keys.set(secret, key);
  }
  return key;
}

/** Reads "Bearer <token>" from an Authorization header. */
export function bearer(header: string | undefined | null): string | null {
  const m = header?.match(/^Bearer\s+(\S+)$/i);
  return m ? m[1] : null;
}

