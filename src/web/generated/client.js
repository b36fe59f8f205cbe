// src/core/errors.ts
var ERROR_STATUS = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  too_large: 413,
  unprocessable: 422,
  rate_limited: 429,
  unavailable: 503
};

class DuplexError extends Error {
  code;
  constructor(code, message, options) {
    super(message, options);
    this.name = "DuplexError";
    this.code = code;
  }
  get status() {
    return ERROR_STATUS[this.code];
  }
  toJSON() {
    return { code: this.code, message: this.message };
  }
}
function duplexError(code, message, cause) {
  return new DuplexError(code, message, cause === undefined ? undefined : { cause });
}

// src/core/protocol.ts
var MAX_ID = 128;
var ID_RULE = `a string of 1 to ${MAX_ID} characters, well-formed Unicode (no lone surrogates)`;
function isId(v) {
  if (typeof v !== "string" || v.length === 0 || v.length > 2 * MAX_ID || !v.isWellFormed())
    return false;
  if (v.length <= MAX_ID)
    return true;
  let chars = 0;
  for (const _ of v)
    chars++;
  return chars <= MAX_ID;
}
function handledAll(_frame) {}

// src/client/backoff.ts
var DEFAULT_BACKOFF = { baseMs: 500, capMs: 30000, factor: 2 };
function checkBackoff(policy) {
  const { baseMs, capMs, factor } = policy;
  if (!(Number.isFinite(baseMs) && baseMs > 0))
    throw duplexError("bad_request", "backoff.baseMs must be a positive number of milliseconds");
  if (!(Number.isFinite(capMs) && capMs >= baseMs))
    throw duplexError("bad_request", "backoff.capMs must be a number of milliseconds no smaller than backoff.baseMs");
  if (!(Number.isFinite(factor) && factor >= 1))
    throw duplexError("bad_request", "backoff.factor must be a number of at least 1");
  return policy;
}
function backoffDelay(policy, attempt, random) {
  const window = Math.min(policy.capMs, policy.baseMs * policy.factor ** attempt);
  return Math.floor(random() * window);
}

// src/client/events.ts
class Emitter {
  #listeners = new Map;
  on(type, fn) {
    let set = this.#listeners.get(type);
    if (!set)
      this.#listeners.set(type, set = new Set);
    set.add(fn);
    return () => void set.delete(fn);
  }
  emit(type, value) {
    for (const fn of this.#listeners.get(type) ?? []) {
      try {
        fn(value);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
function failure(what, cause) {
  if (cause instanceof DuplexError)
    return cause;
  return duplexError("unavailable", `${what}: ${cause instanceof Error ? cause.message : String(cause)}`, cause);
}

// src/client/http.ts
function endpoints(url) {
  let base;
  try {
    base = new URL(url);
  } catch {
    throw duplexError("bad_request", `url must be an absolute http(s) or ws(s) URL, got "${url}"`);
  }
  const scheme = { "http:": "http:", "https:": "https:", "ws:": "http:", "wss:": "https:" }[base.protocol];
  if (!scheme)
    throw duplexError("bad_request", `url must use http, https, ws or wss, got "${base.protocol}"`);
  const http = new URL(base.href.replace(/^[a-z]+:/, scheme));
  if (!http.pathname.endsWith("/"))
    http.pathname += "/";
  http.search = "";
  http.hash = "";
  return {
    http,
    ws(token, device) {
      const u = new URL("ws", http);
      u.protocol = http.protocol === "https:" ? "wss:" : "ws:";
      u.searchParams.set("token", token);
      if (device !== undefined)
        u.searchParams.set("device", device);
      return u.href;
    }
  };
}
async function request(fetch, url, token, method, body) {
  let res;
  try {
    res = await fetch(url.href, {
      method,
      headers: body === undefined ? { authorization: `Bearer ${token}` } : { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body)
    });
  } catch (err) {
    throw duplexError("unavailable", `could not reach ${url.origin}${url.pathname}`, err);
  }
  const data = await res.json().catch(() => null);
  if (!res.ok)
    throw refusal(res.status, data);
  return data;
}
async function upgradeRefusal(fetch, wsUrl) {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === "wss:" ? "https:" : "http:";
  try {
    const res = await fetch(url.href, { method: "GET" });
    if (res.status !== 401 && res.status !== 403)
      return null;
    return refusal(res.status, await res.json().catch(() => null));
  } catch {
    return null;
  }
}
function refusal(status, data) {
  const e = data?.error;
  if (e && typeof e.code === "string" && e.code in ERROR_STATUS && typeof e.message === "string") {
    return duplexError(e.code, e.message);
  }
  const code = Object.keys(ERROR_STATUS).find((c) => ERROR_STATUS[c] === status) ?? "unavailable";
  return duplexError(code, `the node answered HTTP ${status}`);
}

// src/core/heartbeat-figures.ts
var TICKS = 4;
var SILENT = 1.25;
var HEARTBEAT = {
  ticks: TICKS,
  silent: SILENT,
  reap: SILENT + 1 / TICKS,
  ttl: 1.5,
  renew: 0.5,
  clientSilent: 2,
  proxy: 3,
  promise: 2
};

// src/client/timers.ts
class Timers {
  #clock;
  #handles = new Map;
  constructor(clock) {
    this.#clock = clock;
  }
  set(name, ms, fn) {
    this.cancel(name);
    const handle = this.#clock.setTimeout(() => {
      if (this.#handles.get(name) === handle)
        this.#handles.delete(name);
      fn();
    }, ms);
    this.#handles.set(name, handle);
  }
  has(name) {
    return this.#handles.has(name);
  }
  cancel(...names) {
    for (const name of names) {
      if (!this.#handles.has(name))
        continue;
      this.#clock.clearTimeout(this.#handles.get(name));
      this.#handles.delete(name);
    }
  }
}

// src/client/link.ts
var REPLACED = 4409;

class Link {
  #o;
  #at;
  #token;
  #on;
  #timers;
  #state = "closed";
  #running = false;
  #gen = 0;
  #ws = null;
  #wsUrl = "";
  #opened = false;
  #welcome = null;
  #device;
  #attempt = 0;
  #lastFrameAt = 0;
  constructor(options, at, token, on) {
    this.#o = options;
    this.#at = at;
    this.#token = token;
    this.#on = on;
    this.#device = options.device;
    this.#timers = new Timers(options.clock);
  }
  get state() {
    return this.#state;
  }
  get running() {
    return this.#running;
  }
  get welcome() {
    return this.#welcome;
  }
  start() {
    if (this.#running)
      return;
    this.#running = true;
    this.#gen++;
    this.#attempt = 0;
    this.#setState({ state: "connecting" });
    this.#dial();
  }
  stop(reason) {
    if (!this.#running)
      return;
    this.#running = false;
    this.#gen++;
    this.#detach()?.close(1000, "client closed");
    this.#timers.cancel("retry");
    this.#setState({ state: "closed", reason });
  }
  write(frame) {
    const ws = this.#ws;
    if (!ws || !this.#welcome || ws.readyState !== 1)
      return false;
    ws.send(JSON.stringify(frame));
    return true;
  }
  async#dial() {
    const gen = this.#gen;
    let token;
    try {
      token = await this.#token();
    } catch (err) {
      if (gen !== this.#gen)
        return;
      this.#on.error(failure("could not get an access token", err));
      return this.#retry("no access token");
    }
    if (gen !== this.#gen)
      return;
    const url = this.#at.ws(token, this.#device);
    let ws;
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
      if (this.#ws === ws)
        this.#opened = true;
    };
    ws.onmessage = (event) => {
      if (this.#ws === ws)
        this.#receive(event.data);
    };
    ws.onclose = (event) => {
      if (this.#ws === ws)
        this.#closed(event.code, event.reason);
    };
    ws.onerror = () => {};
    this.#timers.set("connect", this.#o.connectTimeoutMs, () => this.#abandon("no welcome within connectTimeoutMs"));
  }
  #receive(data) {
    this.#lastFrameAt = this.#o.clock.now();
    let frame;
    try {
      frame = JSON.parse(String(data));
    } catch {
      return this.#on.error(duplexError("bad_request", "the node sent a frame that is not JSON"));
    }
    if (frame.type === "welcome")
      this.#welcomed(frame);
    else if (this.#welcome)
      this.#on.frame(frame);
  }
  #welcomed({ type: _, ...welcome }) {
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
    const giveUp = HEARTBEAT.clientSilent * beat;
    const watch = () => {
      const silent = this.#o.clock.now() - this.#lastFrameAt;
      if (silent >= giveUp)
        this.#abandon(`no frame from the node for ${silent} ms (two heartbeats)`);
      else
        this.#timers.set("watchdog", giveUp - silent, watch);
    };
    this.#timers.set("watchdog", giveUp, watch);
    this.#setState({ state: "open", welcome });
    this.#on.open(welcome);
  }
  async#closed(code, reason) {
    const { opened, gen, url } = { opened: this.#opened, gen: this.#gen, url: this.#wsUrl };
    this.#detach();
    if (code === REPLACED)
      return this.stop(`replaced by a newer connection of this device (${code} ${reason})`);
    if (!opened) {
      const refusal = await upgradeRefusal(this.#o.fetch, url);
      if (gen !== this.#gen)
        return;
      if (refusal) {
        this.#on.error(refusal);
        return this.stop(`the node refused the connection: ${refusal.message}`);
      }
    }
    this.#retry(opened ? `closed ${code}${reason ? ` ${reason}` : ""}` : "could not connect");
  }
  #abandon(reason) {
    this.#detach()?.close(4000, "dead link");
    this.#retry(reason);
  }
  #retry(reason) {
    if (!this.#running)
      return;
    const delayMs = backoffDelay(this.#o.backoff, this.#attempt++, this.#o.random);
    this.#setState({ state: "reconnecting", attempt: this.#attempt, delayMs, reason });
    this.#timers.set("retry", delayMs, () => void this.#dial());
  }
  #detach() {
    const ws = this.#ws;
    if (!ws)
      return null;
    this.#ws = null;
    ws.onopen = ws.onmessage = ws.onclose = null;
    this.#timers.cancel("connect", "ping", "watchdog");
    this.#welcome = null;
    this.#on.lost();
    return ws;
  }
  #setState(change) {
    this.#state = change.state;
    this.#on.state(change);
  }
}

// src/client/outbox.ts
function memoryStorage() {
  return { load: () => [], save: () => {} };
}
function webStorage(area, key = "duplex.outbox") {
  return {
    load() {
      const raw = area.getItem(key);
      if (!raw)
        return [];
      const value = JSON.parse(raw);
      return Array.isArray(value) ? value.filter(isEntry) : [];
    },
    save(entries) {
      area.setItem(key, JSON.stringify(entries));
    }
  };
}
function isEntry(v) {
  const e = v;
  return typeof e === "object" && e !== null && typeof e.id === "string" && typeof e.conv === "string" && "body" in e && typeof e.at === "number";
}

class Outbox {
  #pending = new Map;
  #storage;
  #onSaveError;
  constructor(storage, onSaveError) {
    this.#storage = storage;
    this.#onSaveError = onSaveError;
  }
  async restore() {
    const stored = await this.#storage.load();
    const added = [...this.#pending.values()];
    this.#pending.clear();
    for (const entry of stored)
      this.#pending.set(entry.id, { entry, inFlight: false });
    for (const p of added)
      this.#pending.set(p.entry.id, p);
    if (stored.length > 0 && added.length > 0)
      this.#save();
  }
  get size() {
    return this.#pending.size;
  }
  get inFlight() {
    let n = 0;
    for (const p of this.#pending.values())
      if (p.inFlight)
        n++;
    return n;
  }
  has(id) {
    return this.#pending.has(id);
  }
  add(entry) {
    const done = new Promise((resolve, reject) => {
      this.#pending.set(entry.id, { entry, inFlight: false, settle: { resolve, reject } });
    });
    this.#save();
    return done;
  }
  take(max) {
    const out = [];
    for (const p of this.#pending.values()) {
      if (out.length >= max)
        break;
      if (p.inFlight)
        continue;
      p.inFlight = true;
      out.push(p.entry);
    }
    return out;
  }
  ack(ack) {
    const p = this.#pending.get(ack.id);
    if (!p || p.entry.conv !== ack.conv)
      return false;
    this.#pending.delete(ack.id);
    this.#save();
    p.settle?.resolve(ack);
    return true;
  }
  fail(id, err) {
    const p = this.#pending.get(id);
    if (!p)
      return false;
    this.#pending.delete(id);
    this.#save();
    p.settle?.reject(err);
    return p.settle !== undefined;
  }
  retry(id) {
    const p = this.#pending.get(id);
    if (p)
      p.inFlight = false;
  }
  resetInFlight() {
    for (const p of this.#pending.values())
      p.inFlight = false;
  }
  rejectWaiting(err) {
    for (const p of this.#pending.values()) {
      p.settle?.reject(err);
      delete p.settle;
    }
  }
  #save() {
    const snapshot = [...this.#pending.values()].map((p) => p.entry);
    try {
      Promise.resolve(this.#storage.save(snapshot)).catch(this.#onSaveError);
    } catch (err) {
      this.#onSaveError(err);
    }
  }
}

// src/client/options.ts
var globalClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle)
};
function positive(name, value, fallback) {
  if (value === undefined)
    return fallback;
  if (!Number.isSafeInteger(value) || value <= 0)
    throw duplexError("bad_request", `${name} must be a positive integer, got ${value}`);
  return value;
}
function resolveOptions(o) {
  if (typeof o.token !== "function" && (typeof o.token !== "string" || o.token === "")) {
    throw duplexError("bad_request", "token must be a non-empty string or a function returning a promise of one");
  }
  if (o.device !== undefined && !isId(o.device))
    throw duplexError("bad_request", `device must be ${ID_RULE}`);
  const WebSocket = o.WebSocket ?? globalThis.WebSocket;
  if (!WebSocket)
    throw duplexError("bad_request", "this runtime has no global WebSocket (Node 20): pass options.WebSocket, e.g. WebSocket from the ws package");
  const fetch = o.fetch ?? (globalThis.fetch ? (input, init) => globalThis.fetch(input, init) : undefined);
  if (!fetch)
    throw duplexError("bad_request", "this runtime has no global fetch: pass options.fetch");
  return {
    url: o.url,
    token: o.token,
    device: o.device,
    heartbeatMs: o.heartbeatMs === undefined ? undefined : positive("heartbeatMs", o.heartbeatMs, 0),
    connectTimeoutMs: positive("connectTimeoutMs", o.connectTimeoutMs, 1e4),
    backoff: checkBackoff({ ...DEFAULT_BACKOFF, ...o.backoff }),
    outbox: o.outbox ?? memoryStorage(),
    maxOutbox: positive("maxOutbox", o.maxOutbox, 1000),
    maxInFlight: positive("maxInFlight", o.maxInFlight, 64),
    maxMessageBytes: positive("maxMessageBytes", o.maxMessageBytes, 65536),
    gapGraceMs: positive("gapGraceMs", o.gapGraceMs, 1000),
    WebSocket,
    fetch,
    clock: o.clock ?? globalClock,
    random: o.random ?? Math.random
  };
}

// src/client/sequencer.ts
class Sequencer {
  #tracks = new Map;
  #hooks;
  #graceMs;
  constructor(hooks, graceMs) {
    this.#hooks = hooks;
    this.#graceMs = graceMs;
  }
  track(conv, after = 0) {
    if (this.#tracks.has(conv))
      return false;
    this.#tracks.set(conv, { last: after, ahead: new Map, target: after, syncing: false, syncFrom: after, unsure: false, stalls: 0, cancelRecheck: null });
    return true;
  }
  forget(conv) {
    this.#tracks.get(conv)?.cancelRecheck?.();
    this.#tracks.delete(conv);
  }
  conversations() {
    return [...this.#tracks.keys()];
  }
  position(conv) {
    return this.#tracks.get(conv)?.last;
  }
  receive(m) {
    const t = this.#track(m.conv);
    if (!this.#put(t, m.seq, m))
      return;
    this.#drain(t);
    if (t.ahead.size > 0)
      this.#requestSync(m.conv, t);
  }
  acked(conv, seq) {
    const t = this.#track(conv);
    if (!this.#put(t, seq, null))
      return;
    this.#drain(t);
    if (t.ahead.size > 0)
      this.#recheck(conv, t);
  }
  syncStarted(conv) {
    const t = this.#track(conv);
    t.syncing = true;
    t.unsure = false;
    t.syncFrom = t.last;
    return t.last;
  }
  synced(conv, newest) {
    const t = this.#tracks.get(conv);
    if (!t)
      return;
    t.syncing = false;
    t.target = Math.max(t.target, newest);
    if (!hole(t))
      return;
    if (t.last === t.syncFrom && ++t.stalls >= 2)
      this.#skipHole(conv, t);
    else
      this.#recheck(conv, t);
  }
  syncFailed(conv) {
    const t = this.#tracks.get(conv);
    if (!t)
      return;
    t.syncing = false;
    t.unsure = true;
    this.#recheck(conv, t);
  }
  reset() {
    for (const t of this.#tracks.values()) {
      t.syncing = false;
      t.cancelRecheck?.();
      t.cancelRecheck = null;
    }
  }
  #track(conv) {
    this.track(conv, 0);
    return this.#tracks.get(conv);
  }
  #put(t, seq, m) {
    if (seq <= t.last || t.ahead.has(seq))
      return false;
    t.ahead.set(seq, m);
    return true;
  }
  #drain(t) {
    const before = t.last;
    for (let next = t.ahead.get(t.last + 1);next !== undefined; next = t.ahead.get(t.last + 1)) {
      t.ahead.delete(++t.last);
      if (next)
        this.#hooks.emit(next);
    }
    if (t.last > before)
      t.stalls = 0;
    if (!hole(t)) {
      t.cancelRecheck?.();
      t.cancelRecheck = null;
    }
  }
  #requestSync(conv, t) {
    if (t.syncing)
      return;
    t.syncing = true;
    this.#hooks.sync(conv);
  }
  #recheck(conv, t) {
    if (t.cancelRecheck)
      return;
    t.cancelRecheck = this.#hooks.later(this.#graceMs, () => {
      t.cancelRecheck = null;
      if (this.#tracks.get(conv) === t && hole(t))
        this.#requestSync(conv, t);
    });
  }
  #skipHole(conv, t) {
    const next = t.ahead.size > 0 ? Math.min(...t.ahead.keys()) : t.target + 1;
    this.#hooks.lost(conv, t.last + 1, next - 1);
    t.last = next - 1;
    t.stalls = 0;
    this.#drain(t);
  }
}
function hole(t) {
  return t.ahead.size > 0 || t.last < t.target || t.unsure;
}

// src/client/client.ts
var PASSING = new Set(["unavailable", "rate_limited"]);
var MAX_SYNCS = 8;
var encoder = new TextEncoder;
var badConv = () => duplexError("bad_request", `conv must be ${ID_RULE}`);

class DuplexClient extends Emitter {
  #o;
  #at;
  #link;
  #outbox;
  #restored;
  #seq;
  #timers;
  #token = null;
  #sendRetries = 0;
  #reads = new Map;
  #syncQueue = new Set;
  #syncIds = new Map;
  #syncCount = 0;
  constructor(options) {
    super();
    this.#o = resolveOptions(options);
    this.#at = endpoints(this.#o.url);
    this.#timers = new Timers(this.#o.clock);
    this.#outbox = new Outbox(this.#o.outbox, (err) => this.emit("error", failure("the outbox storage failed to save", err)));
    this.#restored = this.#outbox.restore().catch((err) => this.emit("error", failure("the outbox storage failed to load", err)));
    this.#seq = new Sequencer({
      emit: (m) => this.emit("msg", m),
      sync: (conv) => this.#wantSync(conv),
      lost: (conv, from, to) => this.emit("error", duplexError("not_found", `conversation ${conv}: messages ${from} to ${to} are no longer stored (history trimmed); continuing after them`)),
      later: (ms, fn) => {
        const handle = this.#o.clock.setTimeout(fn, ms);
        return () => this.#o.clock.clearTimeout(handle);
      }
    }, this.#o.gapGraceMs);
    this.#link = new Link(this.#o, this.#at, async () => {
      await this.#restored;
      return this.#freshToken();
    }, {
      open: () => this.#opened(),
      frame: (f) => this.#frame(f),
      lost: () => this.#lost(),
      state: (change) => {
        if (change.state === "closed") {
          this.#outbox.rejectWaiting(duplexError("unavailable", `the client closed before the ack (${change.reason}); the message stays in the outbox storage`));
        }
        this.emit("state", change);
      },
      error: (err) => this.emit("error", err)
    });
  }
  get state() {
    return this.#link.state;
  }
  get welcome() {
    return this.#link.welcome;
  }
  get pending() {
    return this.#outbox.size;
  }
  conversations() {
    return this.#seq.conversations();
  }
  position(conv) {
    return this.#seq.position(conv);
  }
  connect() {
    this.#link.start();
  }
  close() {
    this.#link.stop("closed by the application");
  }
  send(conv, body) {
    let entry;
    try {
      const id = newId();
      entry = { id, conv, body: this.#checkSend(id, conv, body), at: this.#o.clock.now() };
    } catch (err) {
      return Promise.reject(err);
    }
    const acked = this.#outbox.add(entry);
    this.#pump();
    return acked;
  }
  track(conv, after = 0) {
    if (!isId(conv))
      throw badConv();
    if (!Number.isSafeInteger(after) || after < 0)
      throw duplexError("bad_request", "after must be a non-negative integer");
    if (this.#seq.track(conv, after))
      this.#wantSync(conv);
  }
  markRead(conv, seq) {
    if (!isId(conv))
      throw badConv();
    if (!Number.isSafeInteger(seq) || seq < 0)
      throw duplexError("bad_request", "seq must be a non-negative integer");
    if (seq > (this.#reads.get(conv) ?? -1))
      this.#reads.set(conv, seq);
    this.#flushReads();
  }
  async history(conv, after = 0, limit = 100) {
    if (!isId(conv))
      throw badConv();
    const url = new URL(`api/conversations/${encodeURIComponent(conv)}/messages`, this.#at.http);
    url.searchParams.set("after", String(after));
    url.searchParams.set("limit", String(limit));
    return (await this.#api(url, "GET")).messages;
  }
  async listConversations(limit = 100) {
    const url = new URL("api/conversations", this.#at.http);
    url.searchParams.set("limit", String(limit));
    const { conversations } = await this.#api(url, "GET");
    for (const conv of conversations)
      this.track(conv.id, 0);
    return conversations;
  }
  async createConversation(members) {
    const conv = await this.#api(new URL("api/conversations", this.#at.http), "POST", { members });
    this.track(conv.id, 0);
    return conv;
  }
  #opened() {
    for (const conv of this.#seq.conversations())
      this.#wantSync(conv);
    this.#flushReads();
    this.#pump();
  }
  #lost() {
    this.#timers.cancel("pause");
    this.#outbox.resetInFlight();
    this.#seq.reset();
    this.#syncQueue.clear();
    this.#syncIds.clear();
  }
  #frame(f) {
    switch (f.type) {
      case "ack":
        return this.#acked({ id: f.id, conv: f.conv, seq: f.seq });
      case "msg": {
        const m = { conv: f.conv, seq: f.seq, id: f.id, from: f.from, body: f.body, ts: f.ts };
        if (m.from.user === this.#link.welcome?.user && this.#outbox.has(m.id))
          return this.#acked(m);
        return this.#seq.receive(m);
      }
      case "synced":
        this.#syncDone(f.conv);
        return this.#seq.synced(f.conv, f.seq);
      case "read":
        return this.emit("read", { conv: f.conv, seq: f.seq, user: f.user, device: f.device });
      case "error":
        return this.#refused(f.code, f.message, f.id);
      case "pong":
        return;
      default:
        return handledAll(f);
    }
  }
  #acked(ack) {
    this.#sendRetries = 0;
    this.#seq.acked(ack.conv, ack.seq);
    if (this.#outbox.ack(ack))
      this.emit("ack", { id: ack.id, conv: ack.conv, seq: ack.seq });
    this.#pump();
  }
  #refused(code, message, id) {
    const err = duplexError(code, message);
    const syncOf = id === undefined ? undefined : this.#syncIds.get(id);
    if (id !== undefined && this.#outbox.has(id)) {
      if (PASSING.has(code)) {
        this.#outbox.retry(id);
        if (!this.#timers.has("pause")) {
          this.#timers.set("pause", backoffDelay(this.#o.backoff, this.#sendRetries++, this.#o.random), () => this.#pump());
        }
      } else if (!this.#outbox.fail(id, err)) {
        this.emit("error", err);
      }
      this.#pump();
    } else if (syncOf !== undefined) {
      this.#syncDone(syncOf);
      if (PASSING.has(code))
        this.#seq.syncFailed(syncOf);
      else {
        this.#seq.forget(syncOf);
        this.emit("error", err);
      }
    } else {
      this.emit("error", err);
    }
  }
  #pump() {
    if (!this.#link.welcome || this.#timers.has("pause"))
      return;
    const room = this.#o.maxInFlight - this.#outbox.inFlight;
    if (room <= 0)
      return;
    for (const e of this.#outbox.take(room))
      this.#link.write({ type: "send", id: e.id, conv: e.conv, body: e.body });
  }
  #wantSync(conv) {
    this.#syncQueue.add(conv);
    this.#pumpSyncs();
  }
  #pumpSyncs() {
    if (!this.#link.welcome)
      return;
    for (const conv of this.#syncQueue) {
      if (this.#syncIds.size >= MAX_SYNCS)
        return;
      this.#syncQueue.delete(conv);
      const id = `sync-${++this.#syncCount}`;
      this.#syncIds.set(id, conv);
      this.#link.write({ type: "sync", conv, after: this.#seq.syncStarted(conv), id });
    }
  }
  #syncDone(conv) {
    for (const [id, c] of this.#syncIds) {
      if (c === conv) {
        this.#syncIds.delete(id);
        break;
      }
    }
    this.#pumpSyncs();
  }
  #flushReads() {
    for (const [conv, seq] of this.#reads)
      if (this.#link.write({ type: "read", conv, seq }))
        this.#reads.delete(conv);
  }
  #checkSend(id, conv, body) {
    if (!isId(conv))
      throw badConv();
    let frame;
    try {
      frame = JSON.stringify({ type: "send", id, conv, body });
    } catch (err) {
      throw duplexError("bad_request", "body must be serializable as JSON", err);
    }
    const sent = JSON.parse(frame);
    if (!("body" in sent))
      throw duplexError("bad_request", "body must be a JSON value (not undefined or a function)");
    const bytes = encoder.encode(frame).length;
    if (bytes > this.#o.maxMessageBytes)
      throw duplexError("too_large", `the send frame is ${bytes} bytes, over maxMessageBytes (${this.#o.maxMessageBytes})`);
    if (!this.#link.running)
      throw duplexError("unavailable", "the client is closed: call connect() first");
    if (this.#outbox.size >= this.#o.maxOutbox)
      throw duplexError("rate_limited", `the outbox holds maxOutbox (${this.#o.maxOutbox}) unacked messages; wait for acks`);
    return sent.body;
  }
  async#freshToken() {
    const t = typeof this.#o.token === "string" ? this.#o.token : await this.#o.token();
    if (typeof t !== "string" || t === "")
      throw duplexError("bad_request", "the token function must resolve to a non-empty string");
    return this.#token = t;
  }
  async#api(url, method, body) {
    const cached = this.#token;
    try {
      return await request(this.#o.fetch, url, cached ?? await this.#freshToken(), method, body);
    } catch (err) {
      const stale = cached !== null && typeof this.#o.token === "function" && err instanceof DuplexError && err.code === "unauthorized";
      if (!stale)
        throw err;
      return request(this.#o.fetch, url, await this.#freshToken(), method, body);
    }
  }
}
function newId() {
  if (typeof crypto.randomUUID === "function")
    return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
export {
  DEFAULT_BACKOFF,
  DuplexClient,
  DuplexError,
  backoffDelay,
  memoryStorage,
  webStorage
};
