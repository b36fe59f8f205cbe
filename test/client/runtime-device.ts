/**
 * Run by runtimes.test.ts on Bun, Deno and Node: two devices of one user through the
 * client, one sends, the other receives. Node 20 has no global WebSocket: it gets ws's.
 * Prints one JSON line: {"ack":<seq>,"got":<body>}.
 */
import { type ClientOptions, DuplexClient } from "../../src/client/index.ts";

const [url, token, conv] = [process.env.DUPLEX_URL!, process.env.TOKEN!, process.env.CONV!];
const WebSocket = (globalThis as { WebSocket?: unknown }).WebSocket ?? (await import("ws")).WebSocket;
const options = (device: string): ClientOptions => ({ url, token, device, WebSocket: WebSocket as ClientOptions["WebSocket"] });

const receiver = new DuplexClient(options("receiver"));
const got = new Promise<unknown>((done) => receiver.on("msg", (m) => done(m.body)));
const opened = new Promise<void>((done) => receiver.on("state", (s) => s.state === "open" && done()));
receiver.connect();
await opened;
const sender = new DuplexClient(options("sender"));
sender.connect();
const ack = await sender.send(conv, { text: "across runtimes" });
console.log(JSON.stringify({ ack: ack.seq, got: await got }));
sender.close();
receiver.close();
