/**
 * A bare protocol client for black-box checks (the tests and `duplex verify`): it keeps
 * every frame it receives and lets a caller wait for the next one that matches. It speaks
 * the wire protocol directly, unlike src/client, which hides it.
 */
import type { ServerFrame } from "../core/protocol.ts";
import type { SocketFactory } from "../runtime/runtime.ts";

/** WebSocket.CLOSED, spelled out: Node 20 has no global WebSocket to read it from. */
const CLOSED = 3;

type Of<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;

export interface Probe {
  ws: WebSocket;
  welcome: Of<"welcome">;
  frames: ServerFrame[];
  send(frame: unknown): void;
  sendRaw(data: string | Uint8Array): void;
  /** The next frame of `type` matching `match` not already taken by an earlier `next`. */
  next<T extends ServerFrame["type"]>(type: T, match?: (f: Of<T>) => boolean, timeoutMs?: number): Promise<Of<T>>;
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

/** Opens a socket and resolves once `welcome` arrived. */
export async function openProbe(url: string, factory: SocketFactory, timeoutMs = 10_000): Promise<Probe> {
  const ws = factory(url);
  const frames: ServerFrame[] = [];
  const taken = new Set<ServerFrame>();
  const waiters = new Set<() => void>();
  const wake = () => { for (const w of [...waiters]) w(); };
  ws.onmessage = (e) => {
    frames.push(JSON.parse(String(e.data)));
    wake();
  };
  const closed = new Promise<{ code: number; reason: string }>((done) => {
    ws.onclose = (e) => { done({ code: e.code, reason: e.reason }); wake(); };
  });
  const next = <T extends ServerFrame["type"]>(type: T, match?: (f: Of<T>) => boolean, wait = timeoutMs) =>
    new Promise<Of<T>>((ok, fail) => {
      const finish = (then: () => void) => { waiters.delete(check); clearTimeout(timer); then(); return true; };
      const check = () => {
        const f = frames.find((x) => !taken.has(x) && x.type === type && (!match || match(x as Of<T>)));
        if (f) return finish(() => { taken.add(f); ok(f as Of<T>); });
        if (ws.readyState === CLOSED) return finish(() => fail(new Error(`socket closed while waiting for ${type}`)));
        return false;
      };
      const timer = setTimeout(() => finish(() => fail(new Error(`no ${type} frame within ${wait} ms; last: ${JSON.stringify(frames.slice(-3))}`))), wait);
      if (!check()) waiters.add(check);
    });
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`no WebSocket handshake with ${url.replace(/token=[^&]+/, "token=…")} within ${timeoutMs} ms`)), timeoutMs);
    ws.onopen = () => { clearTimeout(timer); ok(); };
    ws.onerror = () => { clearTimeout(timer); fail(new Error(`WebSocket to ${url.replace(/token=[^&]+/, "token=…")} failed to open`)); };
  });
  return {
    ws, frames, closed, next,
    welcome: await next("welcome"),
    send: (frame) => ws.send(JSON.stringify(frame)),
    sendRaw: (data) => ws.send(data as string | ArrayBufferView<ArrayBuffer>),
    close: () => ws.close(),
  };
}
