import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const scratch = mkdtempSync(join(tmpdir(), "duplex-bundle-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The command of `npm run build:client`, writing elsewhere. */
function build(outfile: string): string {
  const r = spawnSync(join(ROOT, "node_modules/.bin/bun"), ["build", "src/client/index.ts", "--target", "browser", "--format", "esm", "--outfile", outfile], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0) throw new Error(`bun build failed: ${r.stderr}`);
  return readFileSync(outfile, "utf8");
}

test("the committed browser bundle src/web/generated/client.js is a fresh build of src/client (else: npm run build:client)", () => {
  const fresh = build(join(scratch, "client.js"));
  expect(readFileSync(join(ROOT, "src/web/generated/client.js"), "utf8")).toBe(fresh);
});

test("the bundle is plain browser code: no runtime-specific imports", () => {
  const fresh = readFileSync(join(ROOT, "src/web/generated/client.js"), "utf8");
  expect(fresh).not.toMatch(/\bfrom\s+["'](node:|bun:|npm:|jsr:)/);
  expect(fresh).not.toMatch(/\brequire\(/);
  expect(fresh).toContain("DuplexClient");
});
