/**
 * One device's link to a node: dialing with a fresh token, the welcome, heartbeats that
 * notice a dead link, and reconnects with capped, jittered backoff — until stop(), a
 * `replaced`, or a refused token. What travels over the link is the client's business.
 */
import { type DuplexError, duplexError } from "../core/errors.ts";
import { HEARTBEAT } from "../core/heartbeat-figures.ts";
import type { ClientFrame, ServerFrame } from "../core/protocol.ts";
import { backoffDelay } from "./backoff.ts";
import { failure } from "./events.ts";
import { type Endpoints, upgradeRefusal } from "./http.ts";
import type { Resolved, WebSocketLike } from "./options.ts";
import { Timers } from "./timers.ts";

export type Welcome = Omit<Extract<ServerFrame, { type: "welcome" }>, "type">;
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

export type StateChange =
  | { state: "connecting" }
  | { state: "open"; welcome: Welcome }
  | { state: "reconnecting"; attempt: number; delayMs: number; reason: string }
  | { state: "closed"; reason: string };

export interface LinkEvents {
  /** The node's welcome: frames may be written from now on. */
  open(welcome: Welcome): void;
  /** Every frame after the welcome. */
  frame(frame: Exclude<ServerFrame, { type: "welcome" }>): void;
  /** The socket is gone: whatever was in flight on it will never be answered. */
  lost(): void;
  state(change: StateChange): void;
  error(err: DuplexError): void;
}

const REPLACED = 4409;

export class Link {
  #o: Resolved;
  #at: Endpoints;
  #token: () => Promise<string>;
  #on: LinkEvents;
  #timers: Timers<"connect" | "retry" | "ping" | "watchdog">;
  #state: ConnectionState = "closed";
  #running = false;
  /** Bumped by start() and stop(), so work begun before either can tell it is stale. */
  #gen = 0;
  #ws: WebSocketLike | null = null;
  #wsUrl = "";
  #opened = false;
  #welcome: Welcome | null = null;
  #device: string | undefined;
  #attempt = 0;
  #lastFrameAt = 0;

  constructor(options: Resolved, at: Endpoints, token: () => Promise<string>, on: LinkEvents) {
    this.#o = options;
    this.#at = at;
    this.#token = token;
    this.#on = on;
    this.#device = options.device;
    this.#timers = new Timers(options.clock);
  }

  get state(): ConnectionState {
    return this.#state;
  }

  get running(): boolean {
    return this.#running;
  }

  /** The current session, while open. */
  get welcome(): Welcome | null {
    return this.#welcome;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#gen++;
    this.#attempt = 0;
    this.#setState({ state: "connecting" });
    void this.#dial();
  }

  stop(reason: string): void {
    if (!this.#running) return;
    this.#running = false;
    this.#gen++;
    this.#detach()?.close(1000, "client closed");
    this.#timers.cancel("retry");
    this.#setState({ state: "closed", reason });
  }

  /** Sends a frame on the open link; false when there is none (it is not queued). */
  write(frame: ClientFrame): boolean {
    const ws = this.#ws;
    if (!ws || !this.#welcome || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  async #dial(): Promise<void> {
    const gen = this.#gen;
    let token: string;
    try {
      token = await this.#token();
    } catch (err) {
      if (gen !== this.#gen) return;
      this.#on.error(failure("could not get an access token", err));
      return this.#retry("no access token");
    }
    if (gen !== this.#gen) return;
    const url = this.#at.ws(token, this.#device);
    let ws: WebSocketLike;
    try {
      ws = new this.#o.WebSocket(url);
    } catch (err) {
      this.#on.error(failure("could not open a WebSocket", err));
      return this.#retry("could not open a WebSocket");
    }
    this.#ws = ws;
    this.#wsUrl = url;
    this.#opened = false;
    ws.onopen = () => {
      if (this.#ws === ws) this.#opened = true;
    };
    ws.onmessage = (event: { data: unknown }) => {
      if (this.#ws === ws) this.#receive(event.data);
    };
    ws.onclose = (event: { code: number; reason: string }) => {
      if (this.#ws === ws) void this.#closed(event.code, event.reason);
    };
    // A close event always follows an error; the handler stays so `ws` never throws an unhandled one.
    ws.onerror = () => {};
    this.#timers.set("connect", this.#o.connectTimeoutMs, () => this.#abandon("no welcome within connectTimeoutMs"));
  }

  #receive(data: unknown): void {
    this.#lastFrameAt = this.#o.clock.now();
    let frame: ServerFrame;
    try {
      frame = JSON.parse(String(data));
    } catch {
      return this.#on.error(duplexError("bad_request", "the node sent a frame that is not JSON"));
    }
    if (frame.type === "welcome") this.#welcomed(frame);
    else if (this.#welcome) this.#on.frame(frame);
  }

  #welcomed({ type: _, ...welcome }: Extract<ServerFrame, { type: "welcome" }>): void {
    this.#timers.cancel("connect");
    this.#welcome = welcome;
    this.#device = welcome.device;
    this.#attempt = 0;
    const beat = this.#o.heartbeatMs ?? welcome.heartbeat;
    const ping = () => {
      this.write({ type: "ping", ts: this.#o.clock.now() });
      this.#timers.set("ping", beat, ping);
    };
    this.#timers.set("ping", beat, ping);
    // Every ping is answered, so two intervals without any frame mean the link is dead.
    const giveUp = HEARTBEAT.clientSilent * beat;
    const watch = () => {
      const silent = this.#o.clock.now() - this.#lastFrameAt;
      if (silent >= giveUp) this.#abandon(`no frame from the node for ${silent} ms (two heartbeats)`);
      else this.#timers.set("watchdog", giveUp - silent, watch);
    };
    this.#timers.set("watchdog", giveUp, watch);
    this.#setState({ state: "open", welcome });
    this.#on.open(welcome);
  }

  async #closed(code: number, reason: string): Promise<void> {
    const { opened, gen, url } = { opened: this.#opened, gen: this.#gen, url: this.#wsUrl };
    this.#detach();
    if (code === REPLACED) return this.stop(`replaced by a newer connection of this device (${code} ${reason})`);
    if (!opened) {
      const refusal = await upgradeRefusal(this.#o.fetch, url);
      if (gen !== this.#gen) return;
      if (refusal) {
        this.#on.error(refusal);
        return this.stop(`the node refused the connection: ${refusal.message}`);
      }
    }
    this.#retry(opened ? `closed ${code}${reason ? ` ${reason}` : ""}` : "could not connect");
  }

  /** Gives up on a socket that went silent (or never got going) without waiting for its close. */
  #abandon(reason: string): void {
    this.#detach()?.close(4000, "dead link");
    this.#retry(reason);
  }

  #retry(reason: string): void {
    if (!this.#running) return;
    const delayMs = backoffDelay(this.#o.backoff, this.#attempt++, this.#o.random);
    this.#setState({ state: "reconnecting", attempt: this.#attempt, delayMs, reason });
    this.#timers.set("retry", delayMs, () => void this.#dial());
  }

  /** Forgets the socket and its timers; returns it (handlers off) for closing. */
  #detach(): WebSocketLike | null {
    const ws = this.#ws;
    if (!ws) return null;
    this.#ws = null;
    ws.onopen = ws.onmessage = ws.onclose = null;
    this.#timers.cancel("connect", "ping", "watchdog");
    this.#welcome = null;
    this.#on.lost();
    return ws;
  }

  #setState(change: StateChange): void {
    this.#state = change.state;
    this.#on.state(change);
  }
}

