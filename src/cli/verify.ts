/** `duplex verify --url ws[s]://host[:port] --secret S [--insecure]` for src/cli.ts. */
import { duplexError } from "../core/errors.ts";
import { type CommandDoc, flag, flags, type Values } from "./flags.ts";
import type { Rendered } from "./deploy/render.ts";
import { load } from "../runtime/load.ts";
import { table, targetOf, verify } from "../ops/verify.ts";

export const VERIFY_FLAGS = flags(
  flag({
    name: "url", arg: "U", required: true, values: "a ws:// or wss:// URL",
    doc: "the deployment's WebSocket endpoint (nginx, a node, a compose stack)",
  }),
  flag({ name: "secret", arg: "S", default: "DUPLEX_JWT_SECRET", doc: "the HS256 secret its nodes verify tokens with" }),
  flag({
    name: "insecure",
    doc: "accept any TLS certificate (self-signed test stacks; on Deno run with --unsafely-ignore-certificate-errors instead)",
  }),
);

export const VERIFY_COMMAND: CommandDoc = {
  usage: "duplex verify --url ws[s]://host[:port][/ws] [--secret S] [--insecure]",
  summary: "run the protocol scenarios against a deployment (ws:// or wss://)",
  flags: VERIFY_FLAGS,
  notes: ["Prints a pass/fail table with timings; exits 1 when a scenario fails."],
};

export async function runVerify(v: Values<typeof VERIFY_FLAGS>, env: Record<string, string | undefined>): Promise<Rendered> {
  if (v.url === undefined) throw duplexError("bad_request", "--url is required, e.g. --url ws://127.0.0.1:8080");
  const secret = v.secret ?? env.DUPLEX_JWT_SECRET;
  if (!secret) throw duplexError("bad_request", "--secret (or DUPLEX_JWT_SECRET) is required: verify mints tokens its target accepts");
  const runtime = await load();
  const outcomes = await verify(targetOf(v.url, secret, runtime.clientSocket({ insecure: v.insecure === true })));
  return { files: {}, stdout: table(outcomes), exitCode: outcomes.every((o) => o.ok) ? 0 : 1 };
}
