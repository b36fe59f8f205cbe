/**
 * `duplex nginx`: a reverse proxy for a domain in front of duplex nodes, ws or wss (TLS
 * terminated by nginx), as a site file for an existing nginx and as a complete nginx.conf.
 */
import { isIP } from "node:net";
import { parseRange } from "../../core/client-ip.ts";
import { SETTINGS } from "../../core/config.ts";
import { heartbeatFigures } from "../../core/heartbeat-figures.ts";
import { choiceFlag, type CommandDoc, flag, flags, intFlag, settingFlag, type Values } from "../flags.ts";
import { bad, hostname, type HostPort, hostPort, pemFile, render, type Rendered, safePath } from "./render.ts";

/** Oldest nginx with every directive used here (TLS 1.3, upstream zone, worker_shutdown_timeout). */
const MIN_VERSION = [1, 18, 0];
const LB = ["least_conn", "hash", "ip_hash"] as const;

export const NGINX_FLAGS = flags(
  flag({ name: "domain", arg: "NAME", required: true, values: "a DNS host name, not an IP address", doc: "the site's server_name" }),
  flag({
    name: "upstream", arg: "HOST:PORT", multiple: true, required: true, values: "host:port or [ipv6]:port, each once",
    doc: "a duplex node to proxy to", guards: "a single point of failure: a node that fails or answers 503 is skipped for 5 s",
  }),
  intFlag("http-port", "N", 1, 65535, 80, { doc: "plain HTTP port" }),
  intFlag("https-port", "N", 1, 65535, 443, { doc: "HTTPS port with --tls; must differ from --http-port" }),
  flag({
    name: "tls", doc: "terminate TLS (wss) with --cert and --key; plain http redirects to https with 308",
    guards: "eavesdropping: tokens travel in the upgrade's query string",
  }),
  flag({ name: "cert", arg: "FILE", values: "a readable PEM certificate chain", doc: "the site's certificate, with --tls" }),
  flag({ name: "key", arg: "FILE", values: "a readable PEM private key", doc: "its private key, with --tls" }),
  flag({
    name: "acme-root", arg: "DIR", values: "an absolute path without spaces or quotes",
    doc: "serve /.well-known/acme-challenge/ from DIR over plain HTTP, for certbot --webroot (issuing and renewing without stopping nginx)",
    guards: "renewals that need port 80 free, and so a restart that drops every WebSocket",
  }),
  flag({ name: "ocsp", doc: "staple OCSP responses, with --trusted-cert and --resolver (only if your CA still runs OCSP)" }),
  flag({ name: "trusted-cert", arg: "FILE", values: "a readable PEM certificate chain", doc: "the issuer chain that verifies OCSP responses, with --ocsp" }),
  flag({ name: "resolver", arg: "IP", values: "an IPv4 or IPv6 address", doc: "a DNS resolver nginx reaches the OCSP responder through, with --ocsp" }),
  flag({
    name: "path", arg: "PATH", default: "/ws", values: "an absolute URL path other than /: letters, digits, '.', '_', '~', '-', '/'",
    doc: "WebSocket path", guards: "config injection: nothing else reaches the template",
  }),
  choiceFlag("lb", LB, "least_conn", {
    doc: "balancing across upstreams", guards: "uneven load: least_conn gives a new socket to the node holding the fewest",
  }),
  settingFlag("heartbeat-ms", "N", SETTINGS.heartbeatMs, {
    doc: "the nodes' ping interval; proxy read and send timeouts are three of them",
    guards: "proxy idle timeouts: nginx never cuts a live quiet socket, and the node, not nginx, decides a peer is dead",
  }),
  settingFlag("request-timeout-ms", "N", SETTINGS.requestTimeoutMs, {
    doc: "the nodes' request timeout; nginx gives a client as long for a request's headers and between two reads of its body",
    guards: "slowloris: nginx cuts slow clients before they reach any node",
  }),
  flag({
    name: "nginx-version", arg: "X.Y[.Z]", default: "1.22", values: `${MIN_VERSION.slice(0, 2).join(".")} or newer`,
    doc: "target nginx: decides how HTTP/2 is switched on",
  }),
  // nginx refuses a limit_conn above 65535.
  intFlag("limit-conn", "N", 1, 65535, undefined, {
    doc: "at most N WebSockets per client address; no limit without it",
    guards: "one address holding every socket the nodes can serve; past it nginx answers 429",
  }),
  flag({
    name: "proxy-header", arg: "\"Name: value\"", multiple: true,
    values: "a name of letters, digits and '-', not one the config sets; a printable ASCII value without quotes or backslashes, " +
      "where '$' starts an nginx variable (core or ssl module, or $http_*, $cookie_*, $arg_*)",
    doc: "extra request header for the nodes",
  }),
  flag({
    name: "metrics-allow", arg: "CIDR", multiple: true, default: "127.0.0.1 and ::1",
    values: "an IPv4 or IPv6 address or network such as 10.0.0.0/8",
    doc: "addresses that may read /metrics through nginx; the rest get 403",
    guards: "the nodes' metrics (users online, shard ownership, reconnects) being public; scrapers can also read each node's port directly",
  }),
  intFlag("worker-connections", "N", 512, 1_000_000, 4096, {
    doc: "connections per nginx worker (nginx.conf); worker_rlimit_nofile is set to twice this",
    guards: "workers running out of connections or file descriptors: each WebSocket holds two connections in a worker",
  }),
  flag({ name: "access-log", arg: "FILE", default: "/var/log/nginx/DOMAIN.access.log", doc: "access log of the site file" }),
  flag({
    name: "out", arg: "DIR",
    doc: "write DIR/nginx.conf (complete, runs with nginx -p DIR -c DIR/nginx.conf) and DIR/conf.d/DOMAIN.conf; without it, print the site file",
  }),
);

export const NGINX_COMMAND: CommandDoc = {
  usage: "duplex nginx --domain NAME --upstream HOST:PORT [--upstream ...] [options]",
  summary: "nginx site and nginx.conf (ws, or wss with --tls) for a domain",
  flags: NGINX_FLAGS,
};

export type NginxFlags = Values<typeof NGINX_FLAGS>;

/** Headers the generated config sets itself; a --proxy-header may not replace them. */
const OWN_HEADERS = ["host", "upgrade", "connection", "x-real-ip", "x-forwarded-for", "x-forwarded-proto"];
/** `http2 on` replaced `listen ... http2` in this release. */
const HTTP2_DIRECTIVE = [1, 25, 1];

export interface ProxyHeader {
  name: string;
  value: string;
}

/** Everything the nginx templates read; every field is validated. */
export interface NginxSite {
  domain: string;
  /** Prefix of every name this site declares in the http context, so sites never collide. */
  id: string;
  upstreams: HostPort[];
  lb: (typeof LB)[number];
  httpPort: number;
  httpsPort: number;
  path: string;
  heartbeatMs: number;
  proxyTimeoutS: number;
  requestTimeoutS: number;
  /** The bound the generated comment quotes: a dead peer is gone within it, in ms. */
  reapMs: number;
  http2Directive: boolean;
  nginxVersion: string;
  tls: { cert: string; key: string; ocsp: { trustedCert: string; resolver: string } | null } | null;
  limitConn: number | null;
  /** allow rules for /metrics, everything else denied. */
  metricsAllow: string[];
  proxyHeaders: ProxyHeader[];
  accessLog: string;
  /** Where certbot --webroot writes its HTTP-01 challenges; null: not served. */
  acmeRoot: string | null;
  workerConnections: number;
  /** File descriptors per worker: one per connection, with as many again for logs, listeners and temp files. */
  workerRlimitNofile: number;
}

export async function nginxSite(v: NginxFlags, env: Record<string, string | undefined>): Promise<NginxSite> {
  const domain = hostname("--domain", v.domain);
  if (!v.upstream?.length) bad("--upstream", "is required at least once (host:port of a duplex node)");
  const upstreams = v.upstream.map((u) => hostPort("--upstream", u));
  const seen = new Set<string>();
  for (const u of upstreams) {
    const key = `${u.host}:${u.port}`;
    if (seen.has(key)) bad("--upstream", `lists ${key} twice`);
    seen.add(key);
  }
  const httpPort = NGINX_FLAGS["http-port"].parse(v["http-port"]);
  const httpsPort = NGINX_FLAGS["https-port"].parse(v["https-port"]);
  if (v.tls && httpPort === httpsPort) bad("--https-port", `must differ from --http-port (${httpPort})`);
  const heartbeatMs = NGINX_FLAGS["heartbeat-ms"].parse(v["heartbeat-ms"], env);
  const beat = heartbeatFigures(heartbeatMs);
  const nginxVersion = v["nginx-version"] ?? NGINX_FLAGS["nginx-version"].default;
  const version = parseVersion(nginxVersion);
  const path = v.path ?? NGINX_FLAGS.path.default;
  if (!/^\/[A-Za-z0-9._~\/-]*$/.test(path) || path === "/") {
    bad("--path", `must be an absolute URL path such as /ws (letters, digits, '.', '_', '~', '-', '/'), got "${path}"`);
  }
  const workerConnections = NGINX_FLAGS["worker-connections"].parse(v["worker-connections"]);
  return {
    domain,
    id: `duplex_${domain.replace(/[.-]/g, "_")}`,
    upstreams,
    lb: NGINX_FLAGS.lb.parse(v.lb),
    httpPort,
    httpsPort,
    path,
    heartbeatMs,
    // Three intervals: longer than any healthy silence, so the node always decides first.
    proxyTimeoutS: beat.proxyTimeoutS,
    reapMs: beat.reapMs,
    requestTimeoutS: Math.ceil(NGINX_FLAGS["request-timeout-ms"].parse(v["request-timeout-ms"], env) / 1000),
    http2Directive: compare(version, HTTP2_DIRECTIVE) >= 0,
    nginxVersion,
    tls: await tls(v),
    limitConn: NGINX_FLAGS["limit-conn"].parse(v["limit-conn"]) ?? null,
    metricsAllow: (v["metrics-allow"] ?? ["127.0.0.1", "::1"]).map(cidr),
    proxyHeaders: (v["proxy-header"] ?? []).map(proxyHeader),
    accessLog: v["access-log"] === undefined ? `/var/log/nginx/${domain}.access.log` : safePath("--access-log", v["access-log"]),
    acmeRoot: v["acme-root"] === undefined ? null : safePath("--acme-root", v["acme-root"]),
    workerConnections,
    workerRlimitNofile: 2 * workerConnections,
  };
}

async function tls(v: NginxFlags): Promise<NginxSite["tls"]> {
  if (!v.tls) {
    for (const flag of ["cert", "key", "ocsp", "trusted-cert", "resolver"] as const) {
      if (v[flag] !== undefined) bad(`--${flag}`, "only applies with --tls");
    }
    return null;
  }
  if (v.cert === undefined) bad("--tls", "needs --cert FILE (the certificate chain, PEM)");
  if (v.key === undefined) bad("--tls", "needs --key FILE (the private key, PEM)");
  const cert = await pemFile("--cert", v.cert, "CERTIFICATE");
  const key = await pemFile("--key", v.key, "PRIVATE KEY");
  if (!v.ocsp) {
    if (v["trusted-cert"] !== undefined || v.resolver !== undefined) bad(v.resolver ? "--resolver" : "--trusted-cert", "only applies with --ocsp");
    return { cert, key, ocsp: null };
  }
  if (v["trusted-cert"] === undefined) bad("--ocsp", "needs --trusted-cert FILE (the issuer chain, to verify OCSP responses)");
  if (v.resolver === undefined) bad("--ocsp", "needs --resolver IP (a DNS resolver nginx can reach the OCSP responder through)");
  const trustedCert = await pemFile("--trusted-cert", v["trusted-cert"], "CERTIFICATE");
  const family = isIP(v.resolver);
  if (!family) bad("--resolver", `must be an IP address, got "${v.resolver}"`);
  return { cert, key, ocsp: { trustedCert, resolver: family === 6 ? `[${v.resolver}]` : v.resolver } };
}

function proxyHeader(raw: string): ProxyHeader {
  const m = raw.match(/^([^:]*):(.*)$/);
  if (!m) bad("--proxy-header", `must be "Name: value", got "${raw}"`);
  const name = m[1].trim();
  const value = m[2].trim();
  if (name.includes("_")) {
    bad("--proxy-header", `name "${name}" contains an underscore: nginx drops such headers by default and frameworks confuse them with the hyphenated name; use "${name.replace(/_/g, "-")}"`);
  }
  if (!/^[A-Za-z0-9-]+$/.test(name)) bad("--proxy-header", `name "${name}" must be letters, digits and '-'`);
  if (OWN_HEADERS.includes(name.toLowerCase())) bad("--proxy-header", `${name} is already set by the generated config`);
  if (value === "" || !/^[\x20-\x7e]+$/.test(value) || /["\\]/.test(value)) {
    bad("--proxy-header", `value of ${name} must be printable ASCII without quotes or backslashes, got "${value}"`);
  }
  // Inside the quotes nginx expands every "$name" or "${name}", and refuses to start on a name it does not know.
  for (const m of value.matchAll(/\$(?:\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]*))/g)) {
    const variable = m[1] ?? m[2];
    if (!isNginxVariable(variable)) {
      bad("--proxy-header", `value of ${name} may use "$" only for an nginx variable such as $request_id or $http_user_agent, got "${value}"`);
    }
  }
  return { name, value };
}

/**
 * The nginx variables a --proxy-header may use: those of nginx's core HTTP module and of its
 * ssl module (empty without TLS), and the families named after a header, cookie or argument.
 */
export const NGINX_VARIABLES = new Set([
  "args", "binary_remote_addr", "connection", "connection_requests", "content_length", "content_type", "host",
  "hostname", "https", "is_args", "msec", "nginx_version", "pid", "query_string", "remote_addr", "remote_port",
  "remote_user", "request", "request_id", "request_length", "request_method", "request_time", "request_uri",
  "scheme", "server_addr", "server_name", "server_port", "server_protocol", "time_iso8601", "time_local", "uri",
  "ssl_cipher", "ssl_client_fingerprint", "ssl_client_s_dn", "ssl_client_verify", "ssl_protocol", "ssl_server_name",
  "ssl_session_reused",
]);
const NGINX_VARIABLE_FAMILIES = /^(http|cookie|arg)_[a-z0-9_]+$/;

function isNginxVariable(name: string): boolean {
  return NGINX_VARIABLES.has(name) || NGINX_VARIABLE_FAMILIES.test(name);
}

/** An address or network for nginx's `allow`, as the nodes read DUPLEX_TRUSTED_PROXIES. */
function cidr(raw: string): string {
  if (!parseRange(raw)) bad("--metrics-allow", `must be an IP address or network such as 10.0.0.0/8 or fd00::/8, got "${raw}"`);
  return raw.toLowerCase();
}

function parseVersion(raw: string): number[] {
  const m = raw.match(/^(\d+)\.(\d+)(?:\.(\d+))?$/);
  if (!m) bad("--nginx-version", `must look like 1.22 or 1.26.2, got "${raw}"`);
  const version = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  if (compare(version, MIN_VERSION) < 0) bad("--nginx-version", `must be ${MIN_VERSION.slice(0, 2).join(".")} or newer, got "${raw}"`);
  return version;
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** The site file, and a complete nginx.conf that inlines it with its log under the prefix. */
export function renderNginx(site: NginxSite): Rendered {
  const siteFile = render("nginx/site.conf.eta", site);
  const standalone = render("nginx/nginx.conf.eta", { ...site, standalone: true, accessLog: `logs/${site.domain}.access.log` });
  return {
    files: { "nginx.conf": standalone, [`conf.d/${site.domain}.conf`]: siteFile },
    dirs: ["logs", "temp"],
    stdout: siteFile,
  };
}
