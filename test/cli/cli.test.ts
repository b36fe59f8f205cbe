import { beforeAll, describe, expect, test } from "bun:test";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { COMMANDS } from "../../src/cli/commands.ts";
import { verifyToken } from "../../src/http/auth.ts";
import { cleanUpAfterAll, type Result, run, scratchDir, selfSigned } from "./deploy/support.ts";

cleanUpAfterAll();

const BIN = join(import.meta.dir, "../../node_modules/.bin");
const RUNTIMES = {
  bun: [`${BIN}/bun`, "run", "src/cli.ts"],
  deno: [`${BIN}/deno`, "run", "-A", "src/cli.ts"],
  node: [`${BIN}/tsx`, "src/cli.ts"],
} as const;

/** The CLI with a clean environment: no DUPLEX_* or REDIS_* from the machine leaks in. */
function cli(args: string[], env: Record<string, string> = {}, runtime: keyof typeof RUNTIMES = "bun"): Promise<Result> {
  const [cmd, ...pre] = RUNTIMES[runtime];
  return run(cmd, [...pre, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } });
}

/** One line on stderr that names `needle`, nothing on stdout, exit 1, and no stack trace. */
function expectRefusal(r: Result, needle: string): void {
  expect(r.stderr).toContain(needle);
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\bat \S+:\d+|Error:/);
  expect(r.stdout).toBe("");
  expect(r.code).toBe(1);
}

let certs: { dir: string; cert: string; key: string };
beforeAll(async () => {
  const dir = await scratchDir();
  certs = { dir, ...await selfSigned(dir, "chat.example.com") };
});

const site = ["nginx", "--domain", "chat.example.com", "--upstream", "127.0.0.1:8080"];
const tls = () => [...site, "--tls", "--cert", certs.cert, "--key", certs.key];

/** [spec, arguments, environment, what the one line must name] */
const REFUSALS: [string, () => string[], Record<string, string>, string][] = [
  ["an unknown command", () => ["nginxx"], {}, 'unknown command "nginxx"'],
  ["an unknown option", () => [...site, "--domian", "x.com"], {}, "--domian"],
  ["a domain with an underscore", () => ["nginx", "--domain", "chat_room.example.com", "--upstream", "127.0.0.1:8080"], {}, "--domain"],
  ["a domain label starting with a hyphen", () => ["nginx", "--domain", "-chat.example.com", "--upstream", "127.0.0.1:8080"], {}, "--domain"],
  ["an IP address as the domain", () => ["nginx", "--domain", "10.0.0.1", "--upstream", "127.0.0.1:8080"], {}, "--domain"],
  ["a missing domain", () => ["nginx", "--upstream", "127.0.0.1:8080"], {}, "--domain is required"],
  ["a missing upstream", () => ["nginx", "--domain", "chat.example.com"], {}, "--upstream is required"],
  ["an upstream without a port", () => [...site, "--upstream", "127.0.0.2"], {}, "--upstream must be host:port"],
  ["an upstream port out of range", () => [...site, "--upstream", "127.0.0.2:70000"], {}, "--upstream must be host:port"],
  ["an upstream that is a URL", () => [...site, "--upstream", "http://127.0.0.2:8080"], {}, "--upstream must be host:port"],
  ["an upstream listed twice", () => [...site, "--upstream", "127.0.0.1:8080"], {}, "--upstream lists 127.0.0.1:8080 twice"],
  ["--tls without --cert", () => [...site, "--tls", "--key", certs.key], {}, "--tls needs --cert"],
  ["--tls without --key", () => [...site, "--tls", "--cert", certs.cert], {}, "--tls needs --key"],
  ["a certificate file that does not exist", () => [...site, "--tls", "--cert", join(certs.dir, "nope.pem"), "--key", certs.key], {}, "--cert file"],
  ["a key given as the certificate", () => [...site, "--tls", "--cert", certs.key, "--key", certs.key], {}, "--cert file"],
  ["a certificate path with a space", () => [...site, "--tls", "--cert", `${certs.dir}/my cert.pem`, "--key", certs.key], {}, "--cert path must not contain"],
  ["--cert without --tls", () => [...site, "--cert", certs.cert], {}, "--cert only applies with --tls"],
  ["--ocsp without --trusted-cert", () => [...tls(), "--ocsp", "--resolver", "127.0.0.53"], {}, "--ocsp needs --trusted-cert"],
  ["--ocsp without --resolver", () => [...tls(), "--ocsp", "--trusted-cert", certs.cert], {}, "--ocsp needs --resolver"],
  ["a resolver that is not an IP address", () => [...tls(), "--ocsp", "--trusted-cert", certs.cert, "--resolver", "dns.example"], {}, "--resolver must be an IP address"],
  ["a proxy header name with an underscore", () => [...site, "--proxy-header", "X-Real_IP: 1"], {}, 'name "X-Real_IP" contains an underscore'],
  ["a proxy header without a colon", () => [...site, "--proxy-header", "X-Tenant"], {}, "--proxy-header must be"],
  ["a proxy header value with a quote", () => [...site, "--proxy-header", 'X-Tenant: a"; return 200 "'], {}, "value of X-Tenant"],
  ["a proxy header the config already sets", () => [...site, "--proxy-header", "X-Forwarded-For: 1.2.3.4"], {}, "X-Forwarded-For is already set"],
  ["a WebSocket path that would inject config", () => [...site, "--path", "/ws { return 200; }"], {}, "--path must be"],
  ["a relative WebSocket path", () => [...site, "--path", "ws"], {}, "--path must be"],
  ["an unknown load-balancing method", () => [...site, "--lb", "round_robin"], {}, "--lb must be one of least_conn, hash, ip_hash"],
  ["a heartbeat that is not a number", () => [...site, "--heartbeat-ms", "25s"], {}, "--heartbeat-ms must be an integer"],
  ["a malformed nginx version", () => [...site, "--nginx-version", "1.x"], {}, "--nginx-version must look like"],
  ["an nginx older than the directives used", () => [...site, "--nginx-version", "1.16"], {}, "--nginx-version must be 1.18 or newer"],
  ["a limit of zero connections", () => [...site, "--limit-conn", "0"], {}, "--limit-conn must be an integer"],
  ["an HTTP port out of range", () => [...site, "--http-port", "0"], {}, "--http-port must be an integer"],
  ["the same port for http and https", () => [...tls(), "--http-port", "8443", "--https-port", "8443"], {}, "--https-port must differ"],
  ["a proxy header with an unknown nginx variable", () => [...site, "--proxy-header", "X-Tenant: $tenant"], {}, 'may use "$" only for an nginx variable'],
  ["a proxy header with a malformed nginx variable", () => [...site, "--proxy-header", "X-Tenant: ${host"], {}, 'may use "$" only for an nginx variable'],
  ["a proxy header with a bare dollar", () => [...site, "--proxy-header", "X-Price: 5 $"], {}, 'may use "$" only for an nginx variable'],
  ["a connection limit nginx refuses", () => [...site, "--limit-conn", "65536"], {}, "--limit-conn must be an integer from 1 to 65535"],
  ["a port in exponent notation", () => [...site, "--http-port", "1e3"], {}, '--http-port must be an integer from 1 to 65535, got "1e3"'],
  ["a port in hex", () => [...site, "--http-port", "0x50"], {}, '--http-port must be an integer from 1 to 65535, got "0x50"'],
  ["a port with a leading zero", () => [...site, "--http-port", "08080"], {}, '--http-port must be an integer from 1 to 65535, got "08080"'],
  ["a negative port", () => [...site, "--http-port", "-1"], {}, '--http-port must be an integer from 1 to 65535, got "-1"'],
  ["a flag whose value is missing", () => [...site, "--http-port", "--tls"], {}, "--http-port needs a value (N)"],
  ["a flag at the end without its value", () => [...site, "--http-port"], {}, "--http-port needs a value (N)"],
  ["a redis port in exponent notation", () => ["redis-conf", "--port", "6.379e3"], {}, "--port must be an integer from 1 to 65535"],
  ["a metrics allow entry that is a name", () => [...site, "--metrics-allow", "prometheus.internal"], {}, "--metrics-allow must be an IP address or network"],
  ["a metrics allow network with a prefix too long", () => [...site, "--metrics-allow", "10.0.0.0/33"], {}, "--metrics-allow must be an IP address or network"],
  ["a maxmemory Redis would wrap around", () => ["redis-conf", "--maxmemory", "99999999999999999999gb"], {}, "--maxmemory must be a size such as 512mb or 2gb, at most 1048576gb"],
  ["a malformed maxmemory", () => ["redis-conf", "--maxmemory", "lots"], {}, "--maxmemory must be a size"],
  ["a bind address that is not an IP", () => ["redis-conf", "--bind", "localhost"], {}, "--bind must be an IP address"],
  ["a remote bind without a password", () => ["redis-conf", "--bind", "10.0.0.5"], {}, "set REDIS_PASSWORD"],
  ["a short REDIS_PASSWORD", () => ["redis-conf"], { REDIS_PASSWORD: "hunter2" }, "REDIS_PASSWORD must be"],
  ["zero shards", () => ["rabbitmq", "--shards", "0"], {}, "--shards must be an integer from 1 to 1024"],
  ["shards that are not a number", () => ["rabbitmq", "--shards", "many"], {}, "--shards must be an integer"],
  ["an unknown queue type", () => ["rabbitmq", "--queue-type", "stream"], {}, "--queue-type must be one of quorum, classic"],
  ["a cluster node that is not name@host", () => ["rabbitmq", "--cluster-node", "rabbit1"], {}, "--cluster-node must look like rabbit@host"],
  ["frames with neither --file nor --hex", () => ["frames"], {}, "give exactly one of --file FILE or --hex DUMP"],
  ["frames whose bytes end inside a frame", () => ["frames", "--hex", "81 05 48"], {}, "a payload of 5 bytes needs 7 bytes"],
  ["frames from a file that does not exist", () => ["frames", "--file", "/nonexistent/capture"], {}, "--file: cannot read"],
  ["a namespace with a space", () => ["rabbitmq", "--namespace", "my app"], {}, "--namespace must be"],
  ["a bad DUPLEX_NAMESPACE in the environment", () => ["rabbitmq"], { DUPLEX_NAMESPACE: "a/b" }, "DUPLEX_NAMESPACE must be"],
  ["a vhost with a space", () => ["rabbitmq", "--vhost", "my vhost"], {}, "--vhost must be"],
  ["a heartbeat of zero seconds", () => ["rabbitmq", "--heartbeat", "0"], {}, "--heartbeat must be an integer"],
  ["a RabbitMQ user without RABBITMQ_PASSWORD", () => ["rabbitmq", "--user", "duplex-node"], {}, "--user needs RABBITMQ_PASSWORD"],
  ["a short RABBITMQ_PASSWORD", () => ["rabbitmq", "--user", "duplex-node"], { RABBITMQ_PASSWORD: "guest" }, "--user needs RABBITMQ_PASSWORD"],
  ["RABBITMQ_PASSWORD without a user", () => ["rabbitmq"], { RABBITMQ_PASSWORD: "correct-horse-battery-staple" }, "RABBITMQ_PASSWORD is set but --user is not"],
  ["a RabbitMQ user name with a space", () => ["rabbitmq", "--user", "duplex node"], { RABBITMQ_PASSWORD: "correct-horse-battery-staple" }, "--user must be"],
  ["a token without DUPLEX_JWT_SECRET", () => ["token", "--user", "u1"], {}, "DUPLEX_JWT_SECRET is not set"],
  ["a token without --user", () => ["token"], { DUPLEX_JWT_SECRET: "s3cret" }, "--user is required"],
  ["a malformed --ttl", () => ["token", "--user", "u1", "--ttl", "1 hour"], { DUPLEX_JWT_SECRET: "s3cret" }, "--ttl must look like"],
  ["a zero --ttl", () => ["token", "--user", "u1", "--ttl", "0s"], { DUPLEX_JWT_SECRET: "s3cret" }, "ttl must be a positive"],
  ["a user id over 128 characters", () => ["token", "--user", "u".repeat(129)], { DUPLEX_JWT_SECRET: "s3cret" }, "user must be"],
  ["a --ttl past DUPLEX_MAX_TOKEN_TTL", () => ["token", "--user", "u1", "--ttl", "2h"], { DUPLEX_JWT_SECRET: "s3cret", DUPLEX_MAX_TOKEN_TTL: "1h" }, "--ttl 2h is longer than DUPLEX_MAX_TOKEN_TTL (3600 s)"],
  ["a bad DUPLEX_MAX_TOKEN_TTL", () => ["token", "--user", "u1"], { DUPLEX_JWT_SECRET: "s3cret", DUPLEX_MAX_TOKEN_TTL: "forever" }, "DUPLEX_MAX_TOKEN_TTL must be a duration"],
  ["an --out folder that cannot be created", () => ["redis-conf", "--out", "/proc/duplex-test"], {}, "/proc/duplex-test"],
];

describe("the CLI refuses bad input in one line", () => {
  for (const [spec, args, env, needle] of REFUSALS) {
    test(`refuses ${spec}`, async () => {
      expectRefusal(await cli(args(), env), needle);
    });
  }

  test("prints its usage and fails without a command", async () => {
    const r = await cli([]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("usage: duplex <command>");
  });
});

describe("the CLI on every runtime", () => {
  for (const runtime of Object.keys(RUNTIMES) as (keyof typeof RUNTIMES)[]) {
    test(`renders the same nginx site on ${runtime}`, async () => {
      const r = await cli([...site, "--upstream", "127.0.0.1:8081"], {}, runtime);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("server 127.0.0.1:8081 max_fails=1 fail_timeout=5s;");
      expect(r.stdout).toBe((await cli([...site, "--upstream", "127.0.0.1:8081"])).stdout);
    });

    test(`refuses a bad upstream in one line on ${runtime}`, async () => {
      expectRefusal(await cli([...site, "--upstream", "nope"], {}, runtime), "--upstream must be host:port");
    });

    test(`mints a token the nodes accept on ${runtime}`, async () => {
      const r = await cli(["token", "--user", "alice", "--ttl", "15m"], { DUPLEX_JWT_SECRET: "s3cret" }, runtime);
      expect(r.code).toBe(0);
      expect(await verifyToken(r.stdout.trim(), "s3cret", 3600)).toBe("alice");
      const payload = JSON.parse(atob(r.stdout.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      expect(payload.exp - payload.iat).toBe(15 * 60);
    });
  }
});

describe("the CLI's --out", () => {
  test("writes every file and names each one on stdout", async () => {
    const out = join(await scratchDir(), "rabbit");
    const r = await cli(["rabbitmq", "--namespace", "acme", "--shards", "2", "--out", out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`wrote ${out}/rabbitmq.conf\nwrote ${out}/definitions.json\n`);
    expect(JSON.parse(await readFile(join(out, "definitions.json"), "utf8")).queues).toHaveLength(3); // two shards and the dead-letter queue
    expect(await readFile(join(out, "rabbitmq.conf"), "utf8")).toContain(`load_definitions = ${out}/definitions.json\n`);
  });

  test("takes the namespace from DUPLEX_NAMESPACE when --namespace is absent", async () => {
    const r = await cli(["rabbitmq", "--shards", "1"], { DUPLEX_NAMESPACE: "from-env" });
    expect(JSON.parse(r.stdout).queues[0].name).toBe("from-env.shard.0");
  });

  test("prints each command's usage and every one of its flags with --help", async () => {
    for (const [name, command] of Object.entries(COMMANDS)) {
      const r = await cli([name, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toStartWith(`${command.usage}\n`);
      for (const flag of Object.keys(command.flags)) expect(r.stdout).toContain(`  --${flag}`);
    }
  });
});

test("a proxy header with an nginx variable is passed through quoted", async () => {
  const r = await cli([...site, "--proxy-header", "X-Request-Id: $request_id"]);
  expect(r.stdout).toContain('proxy_set_header X-Request-Id "$request_id";');
});

test("frames explains a hex dump byte by byte", async () => {
  const r = await cli(["frames", "--hex", "81 05 48 65 6c 6c 6f 88 02 03 e8"]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("frame at byte 0: text, 5 payload bytes, 7 bytes in all");
  expect(r.stdout).toContain("payload, as sent: Hello");
  expect(r.stdout).toContain("frame at byte 7: close");
  expect(r.stdout).toContain("1000");
});
