/** A DuplexClient against real nodes, with what it emitted recorded and a way to wait for it. */
import { type ClientOptions, DuplexClient, type StateChange, type StoredMessage } from "../../src/client/index.ts";
import type { DuplexError } from "../../src/core/errors.ts";
import { mintToken } from "../harness.ts";

export interface Device {
  client: DuplexClient;
  msgs: StoredMessage[];
  states: (StateChange & { at: number })[];
  errors: DuplexError[];
  /** Resolves once cond() holds (checked every 25 ms); rejects after timeoutMs, naming what it waited for. */
  until(what: string, cond: () => boolean, timeoutMs?: number): Promise<void>;
}

const live = new Set<DuplexClient>();

/** Closes every device opened by this file. */
export function closeDevices(): void {
  for (const c of live) c.close();
  live.clear();
}

export async function device(
  node: { url: string; secret: string },
  user: string,
  deviceId: string,
  options: Partial<ClientOptions> = {},
): Promise<Device> {
  const client = new DuplexClient({
    url: node.url,
    token: options.token ?? await mintToken(user, node.secret),
    device: deviceId,
    backoff: { baseMs: 50, capMs: 500 },
    ...options,
  });
  live.add(client);
  const d: Device = {
    client,
    msgs: [],
    states: [],
    errors: [],
    until: (what, cond, timeoutMs = 20_000) =>
      new Promise<void>((ok, fail) => {
        const check = () => {
          if (!cond()) return;
          clearInterval(timer);
          clearTimeout(limit);
          ok();
        };
        const timer = setInterval(check, 25);
        const limit = setTimeout(() => {
          clearInterval(timer);
          fail(new Error(`${user}/${deviceId}: no ${what} within ${timeoutMs} ms; state ${client.state}, ${d.msgs.length} msgs, errors ${d.errors.map((e) => e.message).join("; ")}`));
        }, timeoutMs);
        check();
      }),
  };
  client.on("msg", (m) => d.msgs.push(m));
  client.on("state", (s) => d.states.push({ ...s, at: Date.now() }));
  client.on("error", (e) => d.errors.push(e));
  return d;
}

/** Connects and waits for the welcome. */
export async function online(d: Device): Promise<Device> {
  d.client.connect();
  await d.until("welcome", () => d.client.state === "open");
  return d;
}
