import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { COMMANDS } from "../../src/cli/commands.ts";
import type { Flag } from "../../src/cli/flags.ts";
import { SETTINGS } from "../../src/core/config.ts";
import { commandList, referenceTable, type Row, type Section, withReference, withSection } from "../../src/cli/reference.ts";
import { ROOT } from "../harness.ts";

const DOC = "docs/12-reference.md";

test("docs/12-reference.md shows exactly the reference table and command list the code renders", () => {
  const doc = readFileSync(resolve(ROOT, DOC), "utf8");
  if (withReference(doc) !== doc) {
    throw new Error(`${DOC} is out of date with src/core/config.ts or the commands' flags; regenerate it with npm run docs:reference`);
  }
});

const tableRows = () => referenceTable().split("\n").slice(2);
const rowOf = (name: string) => tableRows().find((r) => r.startsWith(`| \`${name}\` | `));

test("the table has one row per setting, per flag of every command and per variable a command reads", () => {
  const flagCount = Object.values(COMMANDS).reduce((n, c) => n + Object.keys(c.flags).length + (c.env?.length ?? 0), 0);
  expect(tableRows()).toHaveLength(Object.keys(SETTINGS).length + flagCount);
  expect(tableRows()).toContain("| `PORT` | node (env) | `8080` | 0 to 65535 | HTTP/WebSocket port (0 picks a free one) | — |");
  expect(rowOf("REDIS_URL")).toStartWith("| `REDIS_URL` | node (env) | unset |");
  expect(rowOf("REDIS_PASSWORD")).toStartWith("| `REDIS_PASSWORD` | `duplex redis-conf` (env) | unset |");
});

test("a setting's row states the bounds its parser enforces and the limit it guards", () => {
  const row = rowOf("DUPLEX_HEARTBEAT_MS")!;
  expect(row).toContain("| `25000` | 1000 to 600000 |");
  expect(() => SETTINGS.heartbeatMs.parse("999")).toThrow("from 1000 to 600000");
  expect(row).toContain("half-open TCP");
  expect(rowOf("DUPLEX_MAX_BUFFERED_BYTES")).toContain("slow readers");
});

test("a flag's row names its command, default, bounds and what it guards", () => {
  expect(rowOf("--http-port N")).toStartWith("| `--http-port N` | `duplex nginx` | `80` | 1 to 65535 | plain HTTP port | — |");
  expect(rowOf("--domain NAME")).toStartWith("| `--domain NAME` | `duplex nginx` | required |");
  expect(rowOf("--upstream HOST:PORT")).toContain("each once; repeatable |");
  expect(rowOf("--tls")).toContain("| a switch |");
});

test("a flag that overrides a setting takes the setting's variable, bounds and guard", () => {
  const row = rowOf("--heartbeat-ms N")!;
  expect(row).toContain("| `DUPLEX_HEARTBEAT_MS, else 25000` | 1000 to 600000 |");
  expect(row).toContain("proxy idle timeouts");
  expect(rowOf("--shards N")).toContain(`| ${SETTINGS.shards.values} |`);
});

test("every integer flag enforces exactly the range the table states", () => {
  const ranged = Object.values(COMMANDS).flatMap((c) => Object.values(c.flags))
    .filter((f) => /^\d+ to \d+$/.test(f.values ?? "") && "parse" in f) as (Flag & { values: string; parse(raw: string, env: object): number })[];
  expect(ranged.map((f) => f.name)).toEqual(expect.arrayContaining(["http-port", "limit-conn", "heartbeat-ms", "consumer-timeout-ms"]));
  for (const f of ranged) {
    const [min, max] = f.values.split(" to ").map(Number);
    expect(f.parse(String(min), {})).toBe(min);
    expect(f.parse(String(max), {})).toBe(max);
    expect(() => f.parse(String(min - 1), {})).toThrow(`--${f.name}`);
    expect(() => f.parse(String(max + 1), {})).toThrow(`--${f.name}`);
  }
});

test("every command is listed with its usage and summary", () => {
  const text = commandList();
  for (const [name, c] of Object.entries(COMMANDS)) {
    expect(text).toContain(`| \`${name}\` | \`${c.usage.replace(/\|/g, "\\|")}\` | ${c.summary}.`);
  }
});

test("escapes a pipe inside a cell so the table keeps its columns", () => {
  const row: Row = { name: "X", where: "node (env)", default: "a|b", values: "a|b", doc: "one | two", guards: undefined };
  expect(referenceTable([row]).split("\n")[2]).toBe("| `X` | node (env) | `a\\|b` | a\\|b | one \\| two | — |");
});

const section: Section = { begin: "<!-- B -->", end: "<!-- E -->", render: () => "fresh" };

test("refuses a document without the section's markers, or with them reversed", () => {
  expect(() => withSection("# Reference\n", section)).toThrow("<!-- B -->");
  expect(() => withSection("<!-- E --> <!-- B -->", section)).toThrow("<!-- B -->");
});

test("replaces only the generated section", () => {
  expect(withSection("intro\n<!-- B -->\nstale\n<!-- E -->\noutro\n", section)).toBe("intro\n<!-- B -->\nfresh\n<!-- E -->\noutro\n");
});
