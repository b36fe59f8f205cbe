import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { SETTINGS } from "../../src/core/config.ts";
import { COMMANDS } from "../../src/commands.ts";
import { cliReference, configTable, type Section, withReference, withSection } from "../../src/tools/reference.ts";
import { ROOT } from "../harness.ts";

const DOC = "docs/12-reference.md";

test("docs/12-reference.md shows exactly the configuration table and CLI reference the code renders", () => {
  const doc = readFileSync(resolve(ROOT, DOC), "utf8");
  if (withReference(doc) !== doc) {
    throw new Error(`${DOC} is out of date with src/core/config.ts or src/commands.ts; regenerate it with:\n` +
      `node_modules/.bin/bun -e 'import { withReference } from "./src/tools/reference.ts"; ` +
      `const f = Bun.file("${DOC}"); await Bun.write(f, withReference(await f.text()))'`);
  }
});

test("the table has one row per setting, naming its variable, default and meaning", () => {
  const rows = configTable().split("\n").slice(2);
  expect(rows.length).toBe(Object.keys(SETTINGS).length);
  expect(rows).toContain("| `PORT` | `8080` | HTTP/WebSocket port (0 picks a free one) |");
  expect(rows.find((r) => r.startsWith("| `REDIS_URL` |"))).toStartWith("| `REDIS_URL` | unset |");
});

test("the CLI reference shows every command's help", () => {
  const text = cliReference();
  for (const [name, c] of Object.entries(COMMANDS)) {
    expect(text).toContain(`### \`${name}\``);
    expect(text).toContain(c.help);
  }
});

test("escapes a pipe inside a cell so the table keeps its columns", () => {
  const table = configTable({ x: { env: "X", default: "a|b", doc: "one | two" } });
  expect(table.split("\n")[2]).toBe("| `X` | `a\\|b` | one \\| two |");
});

const section: Section = { begin: "<!-- B -->", end: "<!-- E -->", render: () => "fresh" };

test("refuses a document without the section's markers, or with them reversed", () => {
  expect(() => withSection("# Reference\n", section)).toThrow("<!-- B -->");
  expect(() => withSection("<!-- E --> <!-- B -->", section)).toThrow("<!-- B -->");
});

test("replaces only the generated section", () => {
  expect(withSection("intro\n<!-- B -->\nstale\n<!-- E -->\noutro\n", section)).toBe("intro\n<!-- B -->\nfresh\n<!-- E -->\noutro\n");
});
