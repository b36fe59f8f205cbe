/**
 * `duplex systemd`: a systemd template unit that runs one node per instance (the instance is
 * the port), with the drain window and the stop timeout derived from the same numbers the
 * node uses, so systemd never kills a node that is still draining.
 */
import { SETTINGS, SHUTDOWN_GRACE_MS } from "../../core/config.ts";
import { choiceFlag, type CommandDoc, flag, flags, intFlag, settingFlag, type Values } from "../flags.ts";
import { bad, render, type Rendered, safePath } from "./render.ts";

const RUNTIMES = ["bun", "deno", "node"] as const;
/** How long systemd waits past the node's own bound before SIGKILL. */
const STOP_MARGIN_S = 5;

export const SYSTEMD_FLAGS = flags(
  choiceFlag("runtime", RUNTIMES, "bun", { doc: "the runtime that runs src/main.ts" }),
  flag({
    name: "workdir", arg: "DIR", default: "/opt/duplex", values: "an absolute path without spaces or quotes",
    doc: "the checkout with its node_modules, where the node runs",
  }),
  flag({ name: "user", arg: "NAME", default: "duplex", values: "a system user name", doc: "the user (and group) the node runs as" }),
  flag({
    name: "env-file", arg: "FILE", default: "/etc/duplex/duplex.env", values: "an absolute path without spaces or quotes",
    doc: "EnvironmentFile with the secrets and addresses", guards: "secrets in a world-readable unit file",
  }),
  intFlag("nofile", "N", 1024, 1_048_576, 65536, {
    doc: "LimitNOFILE: file descriptors of one node",
    guards: "a node refusing connections with EMFILE: each WebSocket is one descriptor",
  }),
  settingFlag("drain-ms", "N", SETTINGS.drainMs, {
    doc: `the drain window the unit sets; TimeoutStopSec is it plus ${SHUTDOWN_GRACE_MS / 1000} s of shutdown plus ${STOP_MARGIN_S} s`,
  }),
  flag({ name: "out", arg: "DIR", doc: "write DIR/duplex@.service; without it, print it" }),
);

export const SYSTEMD_COMMAND: CommandDoc = {
  usage: "duplex systemd [--runtime bun|deno|node] [--workdir DIR] [options]",
  summary: "a systemd unit that runs duplex nodes, one per port (duplex@8080)",
  flags: SYSTEMD_FLAGS,
  notes: ["Check it with systemd-analyze verify duplex@.service."],
};

export type SystemdFlags = Values<typeof SYSTEMD_FLAGS>;

export const UNIT_FILE = "duplex@.service";

export interface SystemdUnit {
  runtime: (typeof RUNTIMES)[number];
  workdir: string;
  user: string;
  envFile: string;
  nofile: number;
  drainMs: number;
  graceS: number;
  timeoutStopS: number;
  execStart: string;
}

/** The command of CONTRACT §1 per runtime, through the binaries the checkout installs. */
const EXEC: Record<SystemdUnit["runtime"], (bin: string) => string> = {
  bun: (bin) => `${bin}/bun run src/main.ts`,
  deno: (bin) => `${bin}/deno run -A src/main.ts`,
  node: (bin) => `${bin}/tsx src/main.ts`,
};

export function systemdUnit(v: SystemdFlags, env: Record<string, string | undefined>): SystemdUnit {
  const runtime = SYSTEMD_FLAGS.runtime.parse(v.runtime);
  const workdir = safePath("--workdir", v.workdir ?? SYSTEMD_FLAGS.workdir.default);
  const user = v.user ?? SYSTEMD_FLAGS.user.default;
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user)) bad("--user", `must be a system user name (lower case letters, digits, '_', '-'), got "${user}"`);
  const drainMs = SYSTEMD_FLAGS["drain-ms"].parse(v["drain-ms"], env);
  return {
    runtime,
    workdir,
    user,
    envFile: safePath("--env-file", v["env-file"] ?? SYSTEMD_FLAGS["env-file"].default),
    nofile: SYSTEMD_FLAGS.nofile.parse(v.nofile),
    drainMs,
    graceS: SHUTDOWN_GRACE_MS / 1000,
    timeoutStopS: Math.ceil((drainMs + SHUTDOWN_GRACE_MS) / 1000) + STOP_MARGIN_S,
    execStart: EXEC[runtime](`${workdir}/node_modules/.bin`),
  };
}

export function renderSystemd(unit: SystemdUnit): Rendered {
  const text = render(`systemd/${UNIT_FILE}.eta`, unit);
  return { files: { [UNIT_FILE]: text }, stdout: text };
}
