/**
 * `duplex nginx`: a reverse proxy for a domain in front of duplex nodes, ws or wss (TLS
 * terminated by nginx), as a site file for an existing nginx and as a complete nginx.conf.
 */
import { isIP } from "node:net";
import { SETTINGS } from "../core/config.ts";
import {
  bad, fromSetting, hostname, type HostPort, hostPort, integer, oneOf, pemFile, render, type Rendered, safePath,
} from "./render.ts";

export const NGINX_OPTIONS = {
  domain: { type: "string" },
  upstream: { type: "string", multiple: true },
  "http-port": { type: "string" },
  "https-port": { type: "string" },
  tls: { type: "boolean" },
  cert: { type: "string" },
  key: { type: "string" },
  ocsp: { type: "boolean" },
  "trusted-cert": { type: "string" },
  resolver: { type: "string" },
  path: { type: "string" },
  lb: { type: "string" },
  "heartbeat-ms": { type: "string" },
  "nginx-version": { type: "string" },
  "limit-conn": { type: "string" },
  "proxy-header": { type: "string", multiple: true },
  "access-log": { type: "string" },
  out: { type: "string" },
} as const;

export const NGINX_HELP = `duplex nginx --domain NAME --upstream HOST:PORT [--upstream ...] [options]
  --http-port N          plain HTTP port (80)
  --https-port N         HTTPS port with --tls (443)
  --tls --cert FILE --key FILE
                         terminate TLS (wss); http redirects to https with 308
  --ocsp --trusted-cert FILE --resolver IP
                         staple OCSP responses (only if your CA still runs OCSP)
  --path PATH            WebSocket path (/ws)
  --lb least_conn|hash|ip_hash
                         balancing across upstreams (least_conn)
  --heartbeat-ms N       the nodes' ping interval; proxy timeouts follow it (DUPLEX_HEARTBEAT_MS)
  --nginx-version X.Y[.Z]  target nginx (1.22)
  --limit-conn N         at most N WebSockets per client address
  --proxy-header "Name: value"  extra request header for the nodes (repeatable)
  --access-log FILE      access log of the site file (/var/log/nginx/DOMAIN.access.log)
  --out DIR              write DIR/nginx.conf (complete, runs with nginx -p DIR -c DIR/nginx.conf)
                         and DIR/conf.d/DOMAIN.conf; without it, print the site file`;

type ListFlag = "upstream" | "proxy-header";
type BooleanFlag = "tls" | "ocsp";
/** What parseArgs returns for NGINX_OPTIONS. */
export type NginxFlags = { [K in ListFlag]?: string[] } & { [K in BooleanFlag]?: boolean } & {
  [K in Exclude<keyof typeof NGINX_OPTIONS, ListFlag | BooleanFlag>]?: string;
};

const LB = ["least_conn", "hash", "ip_hash"] as const;
/** Headers the generated config sets itself; a --proxy-header may not replace them. */
const OWN_HEADERS = ["host", "upgrade", "connection", "x-real-ip", "x-forwarded-for", "x-forwarded-proto"];
/** Oldest nginx with every directive used here (TLS 1.3, upstream zone, worker_shutdown_timeout). */
const MIN_VERSION = [1, 18, 0];
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
  http2Directive: boolean;
  nginxVersion: string;
  tls: { cert: string; key: string; ocsp: { trustedCert: string; resolver: string } | null } | null;
  limitConn: number | null;
  proxyHeaders: ProxyHeader[];
  accessLog: string;
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
  const httpPort = integer("--http-port", v["http-port"], 1, 65535, 80);
  const httpsPort = integer("--https-port", v["https-port"], 1, 65535, 443);
  if (v.tls && httpPort === httpsPort) bad("--https-port", `must differ from --http-port (${httpPort})`);
  const heartbeatMs = fromSetting(SETTINGS.heartbeatMs, "--heartbeat-ms", v["heartbeat-ms"], env);
  const nginxVersion = v["nginx-version"] ?? "1.22";
  const version = parseVersion(nginxVersion);
  const path = v.path ?? "/ws";
  if (!/^\/[A-Za-z0-9._~\/-]*$/.test(path) || path === "/") {
    bad("--path", `must be an absolute URL path such as /ws (letters, digits, '.', '_', '~', '-', '/'), got "${path}"`);
  }
  return {
    domain,
    id: `duplex_${domain.replace(/[.-]/g, "_")}`,
    upstreams,
    lb: oneOf("--lb", v.lb, LB, "least_conn"),
    httpPort,
    httpsPort,
    path,
    heartbeatMs,
    // Three ping intervals: the node closes a silent peer after two, so it always decides first.
    proxyTimeoutS: Math.ceil((3 * heartbeatMs) / 1000),
    http2Directive: compare(version, HTTP2_DIRECTIVE) >= 0,
    nginxVersion,
    tls: await tls(v),
    limitConn: v["limit-conn"] === undefined ? null : integer("--limit-conn", v["limit-conn"], 1, 1_000_000, 0),
    proxyHeaders: (v["proxy-header"] ?? []).map(proxyHeader),
    accessLog: v["access-log"] === undefined ? `/var/log/nginx/${domain}.access.log` : safePath("--access-log", v["access-log"]),
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
  return { name, value };
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
