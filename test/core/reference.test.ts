import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { SETTINGS } from "../../src/core/config.ts";
import { configTable, withConfigTable } from "../../src/core/reference.ts";
import { ROOT } from "../harness.ts";

const DOC = "docs/12-reference.md";

test("docs/12-reference.md shows exactly the configuration table that SETTINGS renders", () => {
  const doc = readFileSync(resolve(ROOT, DOC), "utf8");
  const fresh = withConfigTable(doc);
  if (fresh !== doc) {
    throw new Error(`${DOC} is out of date with src/core/config.ts; regenerate it with:\n` +
      `node_modules/.bin/bun -e 'import { withConfigTable } from "./src/core/reference.ts"; ` +
      `const f = Bun.file("${DOC}"); await Bun.write(f, withConfigTable(await f.text()))'`);
  }
});

test("the table has one row per setting, naming its variable, default and meaning", () => {
  const rows = configTable().split("\n").slice(2);
  expect(rows.length).toBe(Object.keys(SETTINGS).length);
  expect(rows).toContain("| `PORT` | `8080` | HTTP/WebSocket port (0 picks a free one) |");
  expect(rows.find((r) => r.startsWith("| `REDIS_URL` |"))).toStartWith("| `REDIS_URL` | unset |");
});

test("escapes a pipe inside a cell so the table keeps its columns", () => {
  const table = configTable({ x: { env: "X", default: "a|b", doc: "one | two" } });
  expect(table.split("\n")[2]).toBe("| `X` | `a\\|b` | one \\| two |");
});

test("refuses a document without the generated-section markers", () => {
  expect(() => withConfigTable("# Reference\n")).toThrow("BEGIN config table");
  expect(() => withConfigTable("<!-- END config table --> <!-- BEGIN config table: generated from src/core/config.ts by src/core/reference.ts -->")).toThrow("BEGIN config table");
});

test("replaces only the generated section", () => {
  const doc = "intro\n<!-- BEGIN config table: generated from src/core/config.ts by src/core/reference.ts -->\nstale\n<!-- END config table -->\noutro\n";
  const out = withConfigTable(doc, { x: { env: "X", default: undefined, doc: "d" } });
  expect(out).toBe("intro\n<!-- BEGIN config table: generated from src/core/config.ts by src/core/reference.ts -->\n| variable | default | meaning |\n| --- | --- | --- |\n| `X` | unset | d |\n<!-- END config table -->\noutro\n");
});
