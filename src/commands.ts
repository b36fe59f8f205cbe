/**
 * The duplex CLI's commands (CONTRACT §5); src/cli.ts runs them. On every runtime:
 *   bun run src/cli.ts <command> · deno run -A src/cli.ts <command> · npx tsx src/cli.ts <command>
 * Each command validates all of its input, then renders a template under templates/ to stdout
 * or to --out DIR. Bad input ends in one line on stderr naming the problem, and exit code 1.
 */
import process from "node:process";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { mintToken, parseTtl } from "./core/auth.ts";
import { SETTINGS } from "./core/config.ts";
import { duplexError } from "./core/errors.ts";
import { NGINX_HELP, NGINX_OPTIONS, type NginxFlags, nginxSite, renderNginx } from "./config/nginx.ts";
import { RABBITMQ_HELP, RABBITMQ_OPTIONS, type RabbitmqFlags, rabbitmqConf, renderRabbitmq } from "./config/rabbitmq.ts";
import { REDIS_HELP, REDIS_OPTIONS, type RedisFlags, redisConf, renderRedis } from "./config/redis.ts";
import { type Rendered, writeRendered } from "./config/render.ts";
import { VERIFY_HELP, VERIFY_OPTIONS, runVerify } from "./ops/verify-command.ts";
import { FRAMES_HELP, FRAMES_OPTIONS, runFrames } from "./tools/frames-command.ts";

type Env = Record<string, string | undefined>;
type Flags = Record<string, string | boolean | string[] | undefined>;

export interface Command {
  help: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  /** `flags` holds exactly the types `options` declares: parseArgs runs in strict mode. */
  run(flags: Flags, env: Env): Promise<Rendered>;
}

const TOKEN_HELP = `duplex token --user ID [--ttl 1h]
  --user ID    the token's subject (sub)
  --ttl T      lifetime: 90s, 15m, 1h, 7d or plain seconds (1h)
  signed with DUPLEX_JWT_SECRET, the secret the nodes verify tokens with`;

export const COMMANDS: Record<string, Command> = {
  nginx: { help: NGINX_HELP, options: NGINX_OPTIONS, run: async (v, env) => renderNginx(await nginxSite(v as NginxFlags, env)) },
  "redis-conf": { help: REDIS_HELP, options: REDIS_OPTIONS, run: async (v, env) => renderRedis(redisConf(v as RedisFlags, env)) },
  rabbitmq: {
    help: RABBITMQ_HELP, options: RABBITMQ_OPTIONS, run: async (v, env) => renderRabbitmq(rabbitmqConf(v as RabbitmqFlags, env)),
  },
  verify: { help: VERIFY_HELP, options: VERIFY_OPTIONS, run: runVerify },
  frames: { help: FRAMES_HELP, options: FRAMES_OPTIONS, run: runFrames },
  token: {
    help: TOKEN_HELP,
    options: { user: { type: "string" }, ttl: { type: "string" } },
    run: async (v, env) => {
      const secret = SETTINGS.jwtSecret.parse(env[SETTINGS.jwtSecret.env]);
      if (!secret) throw duplexError("bad_request", "DUPLEX_JWT_SECRET is not set: tokens must be signed with the secret the nodes verify");
      if (typeof v.user !== "string") throw duplexError("bad_request", "--user is required");
      const token = await mintToken(v.user, secret, parseTtl(typeof v.ttl === "string" ? v.ttl : "1h"));
      return { files: {}, stdout: `${token}\n` };
    },
  },
};

export const USAGE = `usage: duplex <command> [options]   (--help after a command lists its options)
  nginx        nginx site and nginx.conf (ws, or wss with --tls) for a domain
  redis-conf   redis.conf for duplex
  rabbitmq     rabbitmq.conf and definitions.json for a namespace
  token        an access token signed with DUPLEX_JWT_SECRET
  verify       run the protocol scenarios against a deployment (ws:// or wss://)
  frames       explain captured WebSocket frames byte by byte`;

/** Runs one command line; resolves with the exit code. */
export async function main(argv: string[], env: Env): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "--help" || name === "help") {
    (name ? process.stdout : process.stderr).write(`${USAGE}\n`);
    return name ? 0 : 1;
  }
  const command = COMMANDS[name];
  if (!command) return fail("duplex", `unknown command "${name}"; expected one of ${Object.keys(COMMANDS).join(", ")}`);
  try {
    const { values } = parseArgs({ args, options: { ...command.options, help: { type: "boolean" } }, strict: true }) as { values: Flags };
    if (values.help) {
      process.stdout.write(`${command.help}\n`);
      return 0;
    }
    const rendered = await command.run(values, env);
    if (typeof values.out !== "string") {
      process.stdout.write(rendered.stdout);
      return rendered.exitCode ?? 0;
    }
    for (const path of await writeRendered(values.out, rendered)) process.stdout.write(`wrote ${path}\n`);
    return 0;
  } catch (err) {
    // parseArgs, fs and DuplexError messages all name what is wrong; a stack trace adds nothing.
    return fail(`duplex ${name}`, err instanceof Error ? err.message : String(err));
  }
}

function fail(prefix: string, message: string): number {
  process.stderr.write(`${prefix}: ${message.split("\n")[0]}\n`);
  return 1;
}

