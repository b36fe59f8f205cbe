/**
 * What the Redis tests share: the Redis that test/services.ts finds (the machine's, never
 * flushed: every run writes under a namespace of its own) and the cleanup of a namespace.
 */
import { createClient } from "redis";
import { redisUrl } from "../../services.ts";

export const REDIS_URL = await redisUrl();

const newClient = () => createClient({ url: REDIS_URL });
type Client = ReturnType<typeof newClient>;

export { testNamespace } from "../../harness.ts";

/** Calls `each` with every page of keys matching `pattern` (SCAN). */
async function scan(pattern: string, each: (client: Client, keys: string[]) => Promise<void>): Promise<void> {
  const client = newClient();
  client.on("error", () => {});
  await client.connect();
  try {
    for await (const keys of client.scanIterator({ MATCH: pattern, COUNT: 500 })) {
      if (keys.length > 0) await each(client, keys);
    }
  } finally {
    client.destroy();
  }
}

export async function listKeys(pattern: string): Promise<string[]> {
  const found: string[] = [];
  await scan(pattern, async (_, keys) => { found.push(...keys); });
  return found.sort();
}

/** Deletes every key matching `pattern` (SCAN + DEL). */
export async function dropKeys(pattern: string): Promise<void> {
  await scan(pattern, async (client, keys) => { await client.del(keys); });
}

/** The fields of one hash ({} when the key does not exist). */
export async function readHash(key: string): Promise<Record<string, string>> {
  const client = newClient();
  client.on("error", () => {});
  await client.connect();
  try {
    return await client.hGetAll(key);
  } finally {
    client.destroy();
  }
}
