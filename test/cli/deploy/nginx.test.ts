import { beforeAll, describe, expect, test } from "bun:test";
import { chown, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { NGINX_VARIABLES, nginxSite, renderNginx } from "../../../src/cli/deploy/nginx.ts";
import { cleanUpAfterAll, expectGolden, nginxTest, run, scratchDir, selfSigned, startNginx, writeOut } from "./support.ts";

cleanUpAfterAll();

const DOMAIN = "chat.example.com";
/** Where the goldens show the certificates (the tests make them in a scratch folder). */
const GOLDEN_TLS_DIR = "/etc/duplex/tls";
const base = { domain: DOMAIN, upstream: ["10.0.0.11:8080", "10.0.0.12:8080"] };

let tls: { dir: string; cert: string; key: string };
beforeAll(async () => {
  const dir = await scratchDir();
  tls = { dir, ...await selfSigned(dir, DOMAIN) };
});

/** Every variant the CLI renders, by golden name. */
const VARIANTS: Record<string, () => Record<string, unknown>> = {
  "ws": () => base,
  "ws-hash": () => ({ ...base, lb: "hash" }),
  "ws-ip-hash": () => ({ ...base, lb: "ip_hash" }),
  "ws-options": () => ({
    ...base, path: "/chat", "heartbeat-ms": "10000", "limit-conn": "20", "http-port": "8000",
    "proxy-header": ["X-Request-Id: $request_id"], "worker-connections": "16384", "metrics-allow": ["10.0.0.0/8", "fd00::/8"],
  }),
  "ws-acme": () => ({ ...base, "acme-root": "/var/www/acme" }),
  "wss-1.22": () => ({ ...base, tls: true, cert: tls.cert, key: tls.key }),
  "wss-acme": () => ({ ...base, tls: true, cert: tls.cert, key: tls.key, "acme-root": "/var/www/acme" }),
  "wss-1.26": () => ({ ...base, tls: true, cert: tls.cert, key: tls.key, "nginx-version": "1.26" }),
  "wss-ocsp": () => ({
    ...base, tls: true, cert: tls.cert, key: tls.key, "https-port": "8443", ocsp: true, "trusted-cert": tls.cert, resolver: "127.0.0.53",
  }),
};

const renderVariant = async (name: string) => renderNginx(await nginxSite(VARIANTS[name](), {}));
const portable = (text: string) => text.replaceAll(tls.dir, GOLDEN_TLS_DIR);

describe("nginx golden files", () => {
  for (const name of Object.keys(VARIANTS)) {
    test(`the ${name} site file matches its golden file`, async () => {
      const r = await renderVariant(name);
      await expectGolden(`nginx-${name}.conf`, portable(r.files[`conf.d/${DOMAIN}.conf`]));
    });
  }
  for (const name of ["ws", "wss-1.22"]) {
    test(`the complete nginx.conf for ${name} matches its golden file`, async () => {
      await expectGolden(`nginx-${name}.nginx.conf`, portable((await renderVariant(name)).files["nginx.conf"]));
    });
  }
  test("without --out the site file is what is printed", async () => {
    const r = await renderVariant("ws");
    expect(r.stdout).toBe(r.files[`conf.d/${DOMAIN}.conf`]);
  });
});

test("worker_rlimit_nofile is derived from --worker-connections: twice it, since each WebSocket holds two connections", async () => {
  const conf = (await renderVariant("ws-options")).files["nginx.conf"];
  expect(conf).toContain("\nworker_rlimit_nofile 32768;\n");
  expect(conf).toContain("\n    worker_connections 16384;\n");
  expect(conf).toContain("at most\n# 16384 / 2 = 8192 WebSockets, and nginx that many per core.");
  await expect(nginxSite({ ...base, "worker-connections": "100" }, {})).rejects.toThrow('--worker-connections must be an integer from 512 to 1000000, got "100"');
});

test("with --acme-root, plain HTTP serves certbot's challenge files and redirects everything else to https", async () => {
  const root = await scratchDir();
  await mkdir(join(root, ".well-known/acme-challenge"), { recursive: true });
  await writeFile(join(root, ".well-known/acme-challenge/tok-123"), "tok-123.thumbprint");
  const nginx = await startNginx({ ...base, upstream: ["127.0.0.1:9"], tls: true, cert: tls.cert, key: tls.key, "acme-root": root });
  try {
    const challenge = await fetch(`http://127.0.0.1:${nginx.httpPort}/.well-known/acme-challenge/tok-123`, { headers: { host: DOMAIN } });
    expect(challenge.status).toBe(200);
    expect(await challenge.text()).toBe("tok-123.thumbprint");
    const other = await fetch(`http://127.0.0.1:${nginx.httpPort}/ws?token=x`, { headers: { host: DOMAIN }, redirect: "manual" });
    expect(other.status).toBe(308);
    expect(other.headers.get("location")).toBe(`https://${DOMAIN}:${nginx.httpsPort}/ws?token=x`);
    expect((await fetch(`http://127.0.0.1:${nginx.httpPort}/.well-known/acme-challenge/nope`, { headers: { host: DOMAIN }, redirect: "manual" })).status).toBe(404);
  } finally {
    await nginx.stop();
  }
});

test("stopping a test's nginx stops its workers too, even once its master was killed alone", async () => {
  const nginx = await startNginx({ ...base, upstream: ["127.0.0.1:9"] });
  const groupAlive = () => {
    try {
      return process.kill(-nginx.pid, 0);
    } catch {
      return false;
    }
  };
  // What a stop that timed out used to do: SIGKILL to the master, which leaves the workers listening.
  process.kill(nginx.pid, "SIGKILL");
  await new Promise((r) => setTimeout(r, 200));
  expect(groupAlive()).toBe(true);
  await nginx.stop();
  // Killed processes linger a moment until they are reaped.
  for (let i = 0; i < 50 && groupAlive(); i++) await new Promise((r) => setTimeout(r, 100));
  expect(groupAlive()).toBe(false);
  expect((await fetch(`http://127.0.0.1:${nginx.httpPort}/`).catch((err: Error) => err)) instanceof Error).toBe(true);
});

describe("nginx -t on nginx 1.22", () => {
  test("is the nginx these variants target", async () => {
    expect((await run("nginx", ["-v"])).stderr).toContain("nginx/1.22");
  });

  for (const name of Object.keys(VARIANTS).filter((n) => n !== "wss-1.26")) {
    test(`accepts the complete ${name} config, with its paths under the prefix`, async () => {
      const dir = await writeOut(await renderVariant(name));
      const r = await nginxTest(dir);
      expect(r.stderr).toContain("test is successful");
    });
  }

  test("rejects the 1.26 variant only for its http2 directive, new in 1.25.1", async () => {
    const rendered = await renderVariant("wss-1.26");
    const dir = await writeOut(rendered);
    const refused = await nginxTest(dir);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('unknown directive "http2"');
    const conf = join(dir, "nginx.conf");
    const text = await readFile(conf, "utf8");
    expect(text).toContain(" ssl;\n");
    expect(text).not.toContain("ssl http2");
    await writeFile(conf, text.replace(/^\s*http2 on;\n/m, ""));
    expect((await nginxTest(dir)).stderr).toContain("test is successful");
  });

  test("accepts every nginx variable --proxy-header may use", async () => {
    const value = [...NGINX_VARIABLES, "http_user_agent", "cookie_sid", "arg_device"]
      .map((v, i) => (i % 2 ? `\${${v}}` : `$${v}`)).join(" ");
    const dir = await writeOut(renderNginx(await nginxSite({ ...base, "proxy-header": [`X-Everything: ${value}`] }, {})));
    expect((await nginxTest(dir)).stderr).toContain("test is successful");
  });

  test("accepts the largest --limit-conn, which is nginx's own limit", async () => {
    const dir = await writeOut(renderNginx(await nginxSite({ ...base, "limit-conn": "65535" }, {})));
    expect((await nginxTest(dir)).stderr).toContain("test is successful");
  });

  test("runs the complete config without root", async () => {
    const dir = await writeOut(await renderVariant("ws-options"));
    await chownTree(dir, 65534, 65534);
    const r = await nginxTest(dir, "nginx.conf", "nobody");
    expect(r.stderr).toContain("test is successful");
  });

  test("two generated site files load side by side in one existing nginx", async () => {
    const dir = await scratchDir();
    for (const sub of ["conf.d", "logs", "temp"]) await mkdir(join(dir, sub));
    for (const domain of [DOMAIN, "staging.example.com"]) {
      const site = await nginxSite({ ...VARIANTS["wss-ocsp"](), domain, "access-log": join(dir, "logs", `${domain}.log`) }, {});
      await writeFile(join(dir, "conf.d", `${domain}.conf`), renderNginx(site).stdout);
    }
    await writeFile(join(dir, "nginx.conf"), [
      "pid logs/nginx.pid;", "events {}",
      "http {", "    client_body_temp_path temp/client_body;", "    proxy_temp_path temp/proxy;",
      "    fastcgi_temp_path temp/fastcgi;", "    uwsgi_temp_path temp/uwsgi;", "    scgi_temp_path temp/scgi;",
      "    include conf.d/*.conf;", "}", "",
    ].join("\n"));
    const r = await nginxTest(dir);
    expect(r.stderr).toContain("test is successful");
  });
});

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(path, uid, gid);
    else await chown(path, uid, gid);
  }
}
