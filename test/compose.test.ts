/**
 * The compose stacks: valid for docker-compose, every service health-checked and every
 * image pinned, and every generated file they mount equal to a fresh render by the CLI.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { COMPOSE, config, nginxConf, published, STACKS, verifyCommand } from "./compose-support.ts";
import { ROOT } from "./harness.ts";

describe("compose stacks", () => {
  for (const stack of STACKS) {
    test(`${stack}: docker-compose config -q accepts it`, () => {
      const r = spawnSync("docker-compose", ["-f", join(COMPOSE, `${stack}.yml`), "config", "-q"], { encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
    });

    test(`${stack}: every long-running service has a healthcheck and waits for what it needs`, () => {
      const { services } = config(stack);
      // One-shot services are waited for by completion, not health.
      const oneShots = new Set(Object.values(services).flatMap((s) =>
        Object.entries(s.depends_on ?? {}).flatMap(([name, d]) => (d as { condition?: string }).condition === "service_completed_successfully" ? [name] : [])));
      for (const [name, s] of Object.entries(services)) {
        if (oneShots.has(name)) continue;
        expect({ name, healthcheck: Array.isArray(s.healthcheck?.test) }).toEqual({ name, healthcheck: true });
        for (const [dep, d] of Object.entries(s.depends_on ?? {})) {
          expect({ name, dep, condition: (d as { condition: string }).condition })
            .toEqual({ name, dep, condition: oneShots.has(dep) ? "service_completed_successfully" : "service_healthy" });
        }
      }
    });

    test(`${stack}: every image is pinned to a version`, () => {
      for (const [name, s] of Object.entries(config(stack).services)) {
        expect({ name, image: s.image }).toEqual({ name, image: expect.stringMatching(/^[a-z0-9/._-]+:\d+\.\d+\.\d+[a-z0-9.-]*$/) });
      }
    });

    test(`${stack}: README.md and docs/11 give the verify command for its published port and secret`, () => {
      const command = verifyCommand(config(stack).services);
      const readme = readFileSync(join(ROOT, "README.md"), "utf8").split("\n");
      const up = readme.indexOf(`docker compose -f compose/${stack}.yml up -d`);
      expect({ stack, command: readme[up + 1] }).toEqual({ stack, command });
      const row = readFileSync(join(ROOT, "docs/11-running.md"), "utf8").split("\n")
        .find((l) => l.startsWith(`| \`compose/${stack}.yml\` | \`node_modules/.bin/bun`));
      expect({ stack, row }).toEqual({ stack, row: `| \`compose/${stack}.yml\` | \`${command}\` |` });
    });

    test(`${stack}: every mounted file or folder of the repo exists`, () => {
      for (const [name, s] of Object.entries(config(stack).services)) {
        for (const v of s.volumes ?? []) {
          const source = typeof v === "string" ? v.split(":")[0] : v.source;
          if (!source?.startsWith("/")) continue;
          expect({ name, source, exists: statSync(source, { throwIfNoEntry: false }) !== undefined }).toEqual({ name, source, exists: true });
        }
      }
    });
  }

  test("wss: http redirects to the https port the host publishes, where nginx listens", () => {
    const { services } = config("wss");
    const conf = nginxConf(services);
    const redirect = /return 308 https:\/\/localhost(?::(\d+))?\$request_uri;/.exec(conf)!;
    const listen = Number(/listen (\d+) ssl/.exec(conf)![1]);
    expect(published(services.nginx, listen)).toBe(Number(redirect[1] ?? 443));
  });
});

describe("generated configs", () => {
  const fresh = mkdtempSync(join(tmpdir(), "duplex-compose-"));
  afterAll(() => rmSync(fresh, { recursive: true, force: true }));

  const files = (dir: string): string[] => readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .filter((p) => !/(^|\/)(certs|logs|temp)\//.test(p))
    .sort();
  // A password hash is salted anew each time: compare everything else.
  const normal = (text: string) => text.replace(/"password_hash": "[^"]+"/g, '"password_hash": "<salted>"');

  test("the committed copies equal a fresh render of compose/generate.sh", () => {
    const r = spawnSync("bash", [join(COMPOSE, "generate.sh"), fresh], { encoding: "utf8", timeout: 120_000 });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const committed = join(COMPOSE, "generated");
    expect(files(committed)).toEqual(files(fresh));
    for (const f of files(fresh)) {
      expect({ f, text: normal(readFileSync(join(committed, f), "utf8")) }).toEqual({ f, text: normal(readFileSync(join(fresh, f), "utf8")) });
    }
  });

  test("the generated nginx configs pass nginx -t as the stacks run them", () => {
    for (const stack of ["ws", "wss", "cluster"]) {
      const dir = join(fresh, stack, "nginx");
      // Outside compose the upstream names do not resolve; map them to loopback for the check.
      const conf = readFileSync(join(dir, "nginx.conf"), "utf8").replace(/server (bun|deno|node):8080/g, "server 127.0.0.1:8080");
      writeFileSync(join(dir, "nginx.test.conf"), conf);
      const r = spawnSync("nginx", ["-p", dir, "-c", join(dir, "nginx.test.conf"), "-e", join(dir, "logs/error.log"), "-t"], { encoding: "utf8" });
      expect({ stack, status: r.status, err: r.status === 0 ? "" : r.stderr }).toEqual({ stack, status: 0, err: "" });
    }
  });
});
