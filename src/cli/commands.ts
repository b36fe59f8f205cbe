/**
 * The duplex CLI's commands (CONTRACT §5); src/cli.ts runs them. On every runtime:
 *   bun run src/cli.ts <command> · deno run -A src/cli.ts <command> · npx tsx src/cli.ts <command>
 * Each command validates all of its input, then renders a template under templates/ to stdout
 * or to --out DIR. Bad input ends in one line on stderr naming the problem, and exit code 1.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { mintToken } from "../http/auth.ts";
import { parseTtl, SETTINGS } from "../core/config.ts";
import { duplexError } from "../core/errors.ts";
import { type CommandDoc, flag, flags, helpText, joinValues, parseOptions, type Values } from "./flags.ts";
import { NGINX_COMMAND, type NginxFlags, nginxSite, renderNginx } from "./deploy/nginx.ts";
import { RABBITMQ_COMMAND, type RabbitmqFlags, rabbitmqConf, renderRabbitmq } from "./deploy/rabbitmq.ts";
import { PROMETHEUS_COMMAND, type PrometheusFlags, prometheusConf, renderPrometheus } from "./deploy/prometheus.ts";
import { REDIS_COMMAND, type RedisFlags, redisConf, renderRedis } from "./deploy/redis.ts";
import { type Rendered, writeRendered } from "./deploy/render.ts";
import { renderSystemd, SYSTEMD_COMMAND, type SystemdFlags, systemdUnit } from "./deploy/systemd.ts";
import { DEAD_LETTERS_COMMAND, runDeadLetters } from "./dead-letters.ts";
import { runVerify, VERIFY_COMMAND } from "./verify.ts";
import { FRAMES_COMMAND, runFrames } from "./frames.ts";

type Env = Record<string, string | undefined>;
type Flags = Record<string, string | boolean | string[] | undefined>;

export interface Command extends CommandDoc {
  /** `flags` holds exactly the types the command's flags declare: parseArgs runs in strict mode. */
  run(flags: Flags, env: Env): Promise<Rendered>;
}

const TOKEN_FLAGS = flags(
  flag({ name: "user", arg: "ID", required: true, values: "1-128 characters", doc: "the token's subject (sub)" }),
  flag({
    name: "ttl", arg: "T", default: "1h", values: "90s, 15m, 1h, 7d or plain seconds, above 0",
    doc: "lifetime", guards: "a leaked token being good for ever: exp is enforced",
  }),
);

export const COMMANDS: Record<string, Command> = {
  nginx: { ...NGINX_COMMAND, run: async (v, env) => renderNginx(await nginxSite(v as NginxFlags, env)) },
  "redis-conf": { ...REDIS_COMMAND, run: async (v, env) => renderRedis(redisConf(v as RedisFlags, env)) },
  rabbitmq: { ...RABBITMQ_COMMAND, run: async (v, env) => renderRabbitmq(rabbitmqConf(v as RabbitmqFlags, env)) },
  prometheus: { ...PROMETHEUS_COMMAND, run: async (v) => renderPrometheus(prometheusConf(v as PrometheusFlags)) },
  systemd: { ...SYSTEMD_COMMAND, run: async (v, env) => renderSystemd(systemdUnit(v as SystemdFlags, env)) },
  token: {
    usage: "duplex token --user ID [--ttl 1h]",
    summary: `an access token signed with ${SETTINGS.jwtSecret.env}, the secret the nodes verify tokens with`,
    flags: TOKEN_FLAGS,
    env: [{
      env: SETTINGS.maxTokenTtl.env, values: SETTINGS.maxTokenTtl.values,
      doc: `the longest --ttl accepted, the same bound the nodes enforce (unset: ${SETTINGS.maxTokenTtl.default})`,
      guards: "minting tokens that every node would refuse",
    }],
    run: async (flags, env) => {
      const v = flags as Values<typeof TOKEN_FLAGS>;
      const secret = SETTINGS.jwtSecret.parse(env[SETTINGS.jwtSecret.env]);
      if (!secret) throw duplexError("bad_request", "DUPLEX_JWT_SECRET is not set: tokens must be signed with the secret the nodes verify");
      if (v.user === undefined) throw duplexError("bad_request", "--user is required");
      const asked = v.ttl ?? TOKEN_FLAGS.ttl.default;
      const ttl = parseTtl(asked);
      const max = SETTINGS.maxTokenTtl.parse(env[SETTINGS.maxTokenTtl.env]);
      if (ttl > max) throw duplexError("bad_request", `--ttl ${asked} is longer than ${SETTINGS.maxTokenTtl.env} (${max} s): nodes would refuse the token`);
      return { files: {}, stdout: `${await mintToken(v.user, secret, ttl)}\n` };
    },
  },
  verify: { ...VERIFY_COMMAND, run: runVerify },
  frames: { ...FRAMES_COMMAND, run: runFrames },
  "dead-letters": { ...DEAD_LETTERS_COMMAND, run: runDeadLetters },
};

export const USAGE = [
  "usage: duplex <command> [options]   (--help after a command lists its options)",
  ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(13)}${c.summary}`),
].join("\n");

/** What `duplex <command> --help` prints. */
export const help = (c: CommandDoc): string => helpText(c.usage, Object.values(c.flags), c.env, c.notes);

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
    const list = Object.values(command.flags);
    const options = { ...parseOptions(list), help: { type: "boolean" as const } };
    const { values } = parseArgs({ args: joinValues(list, args), options, strict: true }) as { values: Flags };
    if (values.help) {
      process.stdout.write(`${help(command)}\n`);
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

