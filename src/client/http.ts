/**
 * The node's HTTP API (CONTRACT §2) and where its URLs live. A node is addressed by one base
 * URL (http, https, ws or wss, with an optional path prefix behind a proxy).
 */
import { DuplexError, duplexError, ERROR_STATUS, type ErrorCode } from "../core/errors.ts";

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export interface Endpoints {
  /** HTTP base, ending in "/". */
  http: URL;
  /** The WebSocket URL for a token and device. */
  ws(token: string, device: string | undefined): string;
}

export function endpoints(url: string): Endpoints {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw duplexError("bad_request", `url must be an absolute http(s) or ws(s) URL, got "${url}"`);
  }
  const scheme = { "http:": "http:", "https:": "https:", "ws:": "http:", "wss:": "https:" }[base.protocol];
  if (!scheme) throw duplexError("bad_request", `url must use http, https, ws or wss, got "${base.protocol}"`);
  const http = new URL(base.href.replace(/^[a-z]+:/, scheme));
  if (!http.pathname.endsWith("/")) http.pathname += "/";
  http.search = "";
  http.hash = "";
  return {
    http,
    ws(token, device) {
      const u = new URL("ws", http);
      u.protocol = http.protocol === "https:" ? "wss:" : "ws:";
      u.searchParams.set("token", token);
      if (device !== undefined) u.searchParams.set("device", device);
      return u.href;
    },
  };
}

/** One JSON request with a bearer token; a refusal becomes the node's DuplexError. */
export async function request<T>(fetch: Fetch, url: URL, token: string, method: "GET" | "POST", body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url.href, {
      method,
      headers: body === undefined ? { authorization: `Bearer ${token}` } : { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw duplexError("unavailable", `could not reach ${url.origin}${url.pathname}`, err);
  }
  const data: unknown = await res.json().catch(() => null);
  if (!res.ok) throw refusal(res.status, data);
  return data as T;
}

/**
 * Why an upgrade failed, seen from a WebSocket that closed before it opened: the WebSocket
 * API hides the HTTP status, so the same URL is asked again without `Upgrade`. The node
 * authenticates (and checks the Origin) before it looks at the upgrade, so a 401 or 403 here
 * is the answer the upgrade got; anything else (the node down, a 400 for the missing
 * upgrade) says the refusal was not about the token. Returns the refusal, or null.
 */
export async function upgradeRefusal(fetch: Fetch, wsUrl: string): Promise<DuplexError | null> {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === "wss:" ? "https:" : "http:";
  try {
    const res = await fetch(url.href, { method: "GET" });
    if (res.status !== 401 && res.status !== 403) return null;
    return refusal(res.status, await res.json().catch(() => null));
  } catch {
    return null;
  }
}

function refusal(status: number, data: unknown): DuplexError {
  const e = (data as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (e && typeof e.code === "string" && e.code in ERROR_STATUS && typeof e.message === "string") {
    return duplexError(e.code as ErrorCode, e.message);
  }
  const code = (Object.keys(ERROR_STATUS) as ErrorCode[]).find((c) => ERROR_STATUS[c] === status) ?? "unavailable";
  return duplexError(code, `the node answered HTTP ${status}`);
}
