/**
 * `duplex dead-letters`: what waits in a namespace's dead-letter queue (poison messages,
 * src/broker/poison.ts), and with --replay, every send request among them put back on the
 * shard it died on. Bodies are never printed: they are users' messages.
 */
import { type ConfirmChannel, connect, type GetMessage } from "amqplib";
import { AmqpUrls } from "../broker/rabbitmq/urls.ts";
import { names } from "../broker/rabbitmq/topology.ts";
import { parseRequest } from "../broker/rabbitmq/wire.ts";
import { SETTINGS } from "../core/config.ts";
import { duplexError } from "../core/errors.ts";
import { errorFields } from "../core/log.ts";
import { type CommandDoc, flag, flags, intFlag, settingFlag, type Values } from "./flags.ts";
import type { Rendered } from "./deploy/render.ts";

export const DEAD_LETTERS_FLAGS = flags(
  settingFlag("namespace", "NAME", SETTINGS.namespace, { doc: "whose dead-letter queue: NAME.dead-letter" }),
  intFlag("limit", "N", 1, 1_000_000, 1000, { doc: "most messages looked at in one run, oldest first" }),
  flag({
    name: "replay",
    doc: "put each send request looked at back on its shard (through NAME.ingress) and take it off the dead-letter queue; " +
      "anything that is no send request stays",
  }),
);

export const DEAD_LETTERS_COMMAND: CommandDoc = {
  usage: "duplex dead-letters [--namespace NAME] [--limit N] [--replay]",
  summary: "list a namespace's dead-lettered messages, or replay them onto their shards",
  flags: DEAD_LETTERS_FLAGS,
  env: [{ env: SETTINGS.amqpUrl.env, values: SETTINGS.amqpUrl.values, doc: "the RabbitMQ the nodes use; the first broker listed" }],
  notes: [
    "Prints one JSON line per message (its shard, why and how often it was dead-lettered, conversation, id, user and size; " +
    "never the body), then a line of totals. Messages not replayed stay where they were, in order.",
  ],
};

interface Letter {
  shard: number | null;
  reason: string | null;
  deaths: number;
  bytes: number;
  request: boolean;
  conv?: string;
  id?: string;
  user?: string;
}

export async function runDeadLetters(v: Values<typeof DEAD_LETTERS_FLAGS>, env: Record<string, string | undefined>): Promise<Rendered> {
  const namespace = DEAD_LETTERS_FLAGS.namespace.parse(v.namespace, env);
  const limit = DEAD_LETTERS_FLAGS.limit.parse(v.limit);
  const url = env[SETTINGS.amqpUrl.env];
  if (!url) throw duplexError("bad_request", `${SETTINGS.amqpUrl.env} is not set: name the RabbitMQ the nodes use`);
  const brokers = new AmqpUrls(url, 5);
  const conn = await connect(brokers.target()).catch((err) => {
    throw duplexError("unavailable", `cannot connect to ${brokers.current}: ${errorFields(err).err}`);
  });
  conn.on("error", () => {});
  const n = names(namespace);
  const lines: string[] = [];
  let replayed = 0;
  try {
    const ch = await conn.createConfirmChannel();
    ch.on("error", () => {});
    await ch.checkQueue(n.deadLetter).catch(() => {
      throw duplexError("not_found", `no queue ${n.deadLetter}: no node of namespace "${namespace}" has declared its topology yet`);
    });
    for (let looked = 0; looked < limit; looked++) {
      const m = await ch.get(n.deadLetter, { noAck: false });
      if (!m) break;
      const letter = describe(m, n.shard);
      lines.push(JSON.stringify(letter));
      if (v.replay && letter.request && letter.shard !== null) {
        await replay(ch, n.ingress, letter.shard, m);
        replayed++;
      }
    }
    // Closing the channel returns every message looked at and not replayed, in its place.
    await ch.close();
  } finally {
    await conn.close().catch(() => {});
  }
  lines.push(JSON.stringify({ listed: lines.length, replayed, kept: lines.length - replayed }));
  return { files: {}, stdout: `${lines.join("\n")}\n` };
}

/** The shard it died on (from x-death, else its routing key), why, and whose send it was. */
function describe(m: GetMessage, shardQueue: (i: number) => string): Letter {
  const deaths = (m.properties.headers?.["x-death"] ?? []) as { queue?: string; reason?: string; count?: number }[];
  const last = deaths[0];
  const prefix = shardQueue(0).slice(0, -1);
  const fromQueue = last?.queue?.startsWith(prefix) ? last.queue.slice(prefix.length) : m.fields.routingKey;
  const shard = /^\d+$/.test(fromQueue) ? Number(fromQueue) : null;
  const request = parseRequest(m.content);
  const letter: Letter = {
    shard, reason: last?.reason ?? null, deaths: deaths.reduce((sum, d) => sum + Number(d.count ?? 1), 0), bytes: m.content.length, request: request !== null,
  };
  if (request) Object.assign(letter, { conv: request.message.conv, id: request.message.id, user: request.message.from.user });
  return letter;
}

/**
 * Published as the nodes publish a send, confirmed, and only then taken off the dead-letter
 * queue. RabbitMQ returns an unroutable mandatory message before it confirms it.
 */
async function replay(ch: ConfirmChannel, ingress: string, shard: number, m: GetMessage): Promise<void> {
  const { type, contentType, headers } = m.properties;
  let returned = false;
  const onReturn = () => { returned = true; };
  ch.on("return", onReturn);
  try {
    ch.publish(ingress, String(shard), m.content, { persistent: true, mandatory: true, type: type ?? "send", contentType, headers });
    await ch.waitForConfirms();
  } finally {
    ch.off("return", onReturn);
  }
  if (returned) throw duplexError("not_found", `no queue is bound to ${ingress} for shard ${shard}; the message stays dead-lettered`);
  ch.ack(m);
}
