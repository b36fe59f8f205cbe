/**
 * Test doubles for the client: a clock whose time moves only when told, a WebSocket whose
 * "server" side the test drives, and a fetch that answers from a table.
 */
import type { Clock, WebSocketLike } from "../../src/client/index.ts";

interface Timer {
  at: number;
  id: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  t = 1_000_000;
  #timers: Timer[] = [];
  #next = 1;

  now = (): number => this.t;

  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = this.#next++;
    this.#timers.push({ at: this.t + Math.max(0, ms), id, fn });
    return id;
  };

  clearTimeout = (handle: unknown): void => {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  };

  /** Moves time forward by ms, firing due timers in time order (and those they schedule). */
  advance(ms: number): void {
    const end = this.t + ms;
    // A timer that keeps rescheduling itself at the same instant would spin for ever.
    for (let fired = 0; ; fired++) {
      if (fired > 10_000) throw new Error("over 10000 timers fired in one advance: a timer loop");
      const due = this.#timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
  }
}

export type Frame = Record<string, unknown> & { type: string };

export class FakeSocket implements WebSocketLike {
  readyState = 0;
  readonly url: string;
  readonly sent: Frame[] = [];
  closedWith: { code?: number; reason?: string } | null = null;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(url: string) {
    this.url = url;
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(JSON.parse(data));
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }

  // -- the server's side

  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  welcome(heartbeat = 1000, user = "u1", device = "phone"): void {
    this.open();
    this.push({ type: "welcome", session: "s1", user, device, node: "n1", heartbeat });
  }

  push(frame: Frame): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  msg(conv: string, seq: number, extra: Partial<Frame> = {}): void {
    this.push({ type: "msg", conv, seq, id: `m-${conv}-${seq}`, from: { user: "u2", device: "web" }, body: { n: seq }, ts: 1, ...extra });
  }

  drop(code = 1006, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  of(type: string): Frame[] {
    return this.sent.filter((f) => f.type === type);
  }
}

/** A WebSocket constructor that records every socket it makes. */
export function fakeNet() {
  const sockets: FakeSocket[] = [];
  class Socket extends FakeSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  return {
    WebSocket: Socket,
    sockets,
    last(): FakeSocket {
      const s = sockets.at(-1);
      if (!s) throw new Error("no socket was opened");
      return s;
    },
  };
}

export interface FetchCall {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

/** A fetch answering (status, JSON) from `answer`; `null` means the network failed. */
export function fakeFetch(answer: (call: FetchCall) => { status: number; body: unknown } | null) {
  const calls: FetchCall[] = [];
  const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
    const call: FetchCall = {
      url: input,
      method: init?.method ?? "GET",
      headers: (init?.headers ?? {}) as Record<string, string>,
      body: typeof init?.body === "string" ? JSON.parse(init.body) : undefined,
    };
    calls.push(call);
    const a = answer(call);
    if (!a) throw new TypeError("fetch failed");
    return new Response(JSON.stringify(a.body), { status: a.status, headers: { "content-type": "application/json" } });
  };
  return { fetch, calls };
}

/** Lets promise callbacks and async steps run (no time passes on the fake clock). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
