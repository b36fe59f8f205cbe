/**
 * Traffic through a stack's published port while something in it fails: two senders that
 * resend under the same id until acked (reconnecting through nginx when their node dies),
 * listening devices of both members, and the checks that nothing acked is lost and that
 * every device ends with the whole conversation.
 */
import { expect } from "bun:test";
import type { ServerFrame } from "../../src/core/protocol.ts";
import type { Probe } from "../../src/ops/probe.ts";
import { context, targetOf, type VerifyContext } from "../../src/ops/verify.ts";
import { sleep, until } from "./stack.ts";

type Msg = Extract<ServerFrame, { type: "msg" }>;
const OPEN = 1;

/** A device that reconnects (same user and device id) when its socket closes. */
class Device {
  probe!: Probe;
  /** Every msg of the conversation it saw, over all its connections (by seq). */
  readonly seen = new Map<number, string>();
  reconnects = 0;
  private read = 0;

  constructor(private readonly ctx: VerifyContext, readonly user: string, readonly name: string, private readonly conv: string) {}

  async open(): Promise<void> {
    this.probe = await this.ctx.connect(this.user, this.name);
    this.read = 0;
  }

  /** Takes in the frames that arrived since the last call. */
  drain(): ServerFrame[] {
    const fresh = this.probe.frames.slice(this.read);
    this.read = this.probe.frames.length;
    for (const f of fresh) if (f.type === "msg" && f.conv === this.conv) this.seen.set(f.seq, f.id);
    return fresh;
  }

  /** A socket that is open, reopened through nginx if it closed (its node died). */
  async live(deadline: number): Promise<void> {
    while (this.probe.ws.readyState !== OPEN) {
      this.drain();
      try {
        await this.open();
        this.reconnects++;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(250);
      }
    }
  }

  /** Replays what it missed: `sync` after its highest seq without a gap. */
  async catchUp(deadline: number): Promise<void> {
    await this.live(deadline);
    this.drain();
    let after = 0;
    while (this.seen.has(after + 1)) after++;
    this.probe.send({ type: "sync", conv: this.conv, after });
    await this.probe.next("synced", (f) => f.conv === this.conv, 30_000);
    this.drain();
  }
}

export interface Traffic {
  conv: string;
  /** How many messages the senders send in all. */
  total: number;
  /** Resolves once every message is acked; the map is id → seq. */
  done: Promise<Map<string, number>>;
  acked(): number;
  /** Every ack is in history at its seq and every device ends with the whole conversation. */
  check(): Promise<void>;
}

/**
 * Starts `perSender` messages from each of two senders (one every `everyMs`), with two
 * listening devices per member, through the stack's public URL.
 */
export async function startTraffic({ url, secret }: { url: string; secret: string }, perSender: number, everyMs = 15): Promise<Traffic> {
  const ctx = context(targetOf(url, secret, (u) => new WebSocket(u)));
  const [alice, bob] = [ctx.user("alice"), ctx.user("bob")];
  const conv = await ctx.conversation(alice, bob);
  const devices = [alice, bob].flatMap((u) => ["send", "listen-1", "listen-2"].map((d) => new Device(ctx, u, d, conv)));
  for (const d of devices) await d.open();
  const acks = new Map<string, number>();
  const deadline = Date.now() + 120_000;

  const send = async (d: Device, id: string) => {
    let last = "nothing";
    for (;;) {
      if (Date.now() > deadline) throw new Error(`${id}: no ack within the deadline; the last answer was ${last}`);
      await d.live(deadline);
      d.probe.send({ type: "send", id, conv, body: { id } });
      const until = Date.now() + 10_000;
      for (;;) {
        const answer = d.drain().find((f) => (f.type === "ack" || f.type === "error") && f.id === id);
        if (answer?.type === "ack") return acks.set(id, answer.seq);
        if (answer) last = JSON.stringify(answer);
        // An error (the node could not take it now) or a dead socket: resend the same id.
        if (answer || d.probe.ws.readyState !== OPEN || Date.now() > until) break;
        await sleep(5);
      }
      await sleep(200);
    }
  };
  const stream = async (d: Device, prefix: string) => {
    for (let i = 0; i < perSender; i++) {
      await send(d, `${prefix}-${i}`);
      await sleep(everyMs);
    }
  };
  const [aliceSender, bobSender] = [devices[0], devices[3]];
  const done = Promise.all([stream(aliceSender, "a"), stream(bobSender, "b")]).then(() => acks);

  return {
    conv,
    total: 2 * perSender,
    done,
    acked: () => acks.size,
    async check() {
      await done;
      // Right after a fault the node nginx picks may still be reconnecting: ask until one answers.
      let history: Msg[] = [];
      await until("the history through nginx", async () => {
        const page = await ctx.http(alice, `/api/conversations/${conv}/messages?limit=1000`).catch(() => null);
        history = page?.status === 200 ? page.body.messages : [];
        return page?.status === 200;
      }, 60_000);
      expect(history.map((m) => m.seq)).toEqual(Array.from({ length: 2 * perSender }, (_, i) => i + 1));
      const idOf = new Map(history.map((m) => [m.seq, m.id]));
      expect([...acks].filter(([id, seq]) => idOf.get(seq) !== id)).toEqual([]);
      for (const d of devices) {
        // A sender does not get its own messages back: it has their acks.
        const own = d === aliceSender ? "a-" : d === bobSender ? "b-" : null;
        const expected = history.filter((m) => !own || !m.id.startsWith(own)).map((m) => m.seq);
        await until(`${d.user}/${d.name} to converge`, async () => {
          await d.catchUp(deadline);
          return expected.every((s) => d.seen.has(s));
        }, 30_000);
        expect([...d.seen].filter(([seq, id]) => idOf.get(seq) !== id)).toEqual([]);
      }
      console.log(`traffic: ${acks.size} acked and in history in order; ${devices.length} devices converged ` +
        `(${devices.reduce((n, d) => n + d.reconnects, 0)} reconnects through nginx)`);
      for (const d of devices) d.probe.close();
    },
  };
}
