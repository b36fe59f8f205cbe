/**
 * One RabbitMQ connection that comes back by itself.
 *
 * amqplib 2.x has opt-in recovery (`connect(url, { recovery })`): capped, jittered
 * exponential backoff, one reconnect loop however many `close` events fire, and a `setup`
 * that runs on every new connection before it counts as up. This layer adds what a node
 * needs on top of it: a heartbeat short enough to notice a frozen broker, log lines that
 * name the URL with its password masked, a way to tell "retrying cannot fix this" (a
 * disagreeing cluster) from "try again", and one recovery path for everything: a channel
 * lost on its own rebuilds the whole connection, so setup is the only code that (re)builds.
 */
import { connect } from "amqplib";
import type { Writable } from "node:stream";
import type { Channel, ChannelModel, ConfirmChannel, RecoveringChannelModel } from "amqplib";
import { DuplexError } from "../../core/errors.ts";
import { AmqpUrls } from "./urls.ts";
import { errorFields, type Logger } from "../../core/log.ts";

/** A host that drops packets instead of refusing must not stall a connect for minutes. */
const CONNECT_TIMEOUT_MS = 10_000;
const RECOVERY = { initialDelay: 200, maxDelay: 10_000, factor: 2, jitter: 0.2 };

export interface LinkOptions {
  url: string;
  heartbeatSeconds: number;
  /** Shown in RabbitMQ's connection list. */
  name: string;
  log: Logger;
  /** Builds everything on a fresh connection; the connection is up only once it resolves. */
  setup(model: ChannelModel): Promise<void>;
  /** Setup finished on a new connection. */
  up(): void;
  /** A connection that was up is gone, and every channel with it. */
  down(): void;
  /** Setup failed with a DuplexError other than `unavailable`: retrying cannot fix it. */
  fatal(err: DuplexError): void;
}

export class AmqpLink {
  #brokers: AmqpUrls;
  #o: LinkOptions;
  #conn: RecoveringChannelModel | null = null;
  /** The connection while it is up. */
  #model: ChannelModel | null = null;
  /** Channels closed on purpose, or expected to close: their closing rebuilds nothing. */
  #released = new WeakSet<Channel>();
  /** Channels that have closed, by whatever cause. */
  #closed = new WeakSet<Channel>();
  #models = new WeakSet<ChannelModel>();
  #gone = new WeakSet<ChannelModel>();
  /** Set after a failure has been logged, so a long outage is one line, not one per attempt. */
  #troubled = false;
  #closing = false;

  constructor(options: LinkOptions) {
    this.#o = options;
    this.#brokers = new AmqpUrls(options.url, options.heartbeatSeconds);
  }

  /** Every broker this link may use, passwords masked. */
  get url(): string {
    return this.#brokers.toString();
  }

  /** Starts connecting in the background; `up` or `fatal` tells how it went. */
  async open(): Promise<void> {
    const { log } = this.#o;
    const brokers = this.#brokers;
    const conn = await connect(brokers.target(), {
      timeout: CONNECT_TIMEOUT_MS,
      // amqplib turns Nagle's algorithm on (setNoDelay(false)) unless told otherwise: each
      // small publish or ack then waits for the previous segment's ACK, milliseconds a hop.
      noDelay: true,
      clientProperties: { connection_name: this.#o.name },
      recovery: { ...RECOVERY, waitForConnect: false, setup: (model: ChannelModel) => this.#setup(model) },
    });
    this.#conn = conn;
    conn.on("connect", (model: ChannelModel) => {
      this.#model = model;
      log.info(this.#troubled ? "connected to RabbitMQ again" : "connected to RabbitMQ", { url: brokers.current });
      this.#troubled = false;
      this.#o.up();
    });
    conn.on("disconnect", (err) => {
      this.#model = null;
      log.warn("lost the connection to RabbitMQ; reconnecting with backoff", { url: brokers.current, ...errorFields(err) });
      brokers.next();
      this.#troubled = true;
      this.#o.down();
    });
    conn.on("connect-failed", (err) => {
      if (err instanceof DuplexError && err.code !== "unavailable") return this.#o.fatal(err);
      const failed = brokers.current;
      brokers.next();
      if (this.#troubled) return log.debug("RabbitMQ still unreachable", { url: failed, ...errorFields(err) });
      this.#troubled = true;
      log.warn("cannot reach RabbitMQ; retrying with backoff until it answers", { url: failed, ...errorFields(err) });
    });
    conn.on("reconnect-scheduled", ({ attempt, delay }) => log.debug("RabbitMQ reconnect scheduled", { attempt, delay }));
    conn.on("error", (err) => log.debug("RabbitMQ connection error", errorFields(err)));
  }

  /**
   * amqplib listens for "error" on a recovered connection only once setup resolves: a
   * broker that closes it during setup (541 when a declare cannot be served while a cluster
   * member is down) would raise an unhandled "error" and end the process. With a listener
   * of our own first, the failed setup is one more attempt to retry.
   */
  #setup(model: ChannelModel): Promise<void> {
    coalesceWrites((model.connection as unknown as { stream: Writable }).stream);
    model.on("error", (err) => this.#o.log.debug("RabbitMQ connection error during setup", errorFields(err)));
    return this.#o.setup(model);
  }

  /** A channel on `model`; losing it without `release` rebuilds the connection. */
  async channel(model: ChannelModel): Promise<Channel> {
    return this.#watch(model, await model.createChannel());
  }

  async confirmChannel(model: ChannelModel): Promise<ConfirmChannel> {
    return this.#watch(model, await model.createConfirmChannel());
  }

  /** A channel whose closing is expected (a passive declare that may fail): it rebuilds nothing. */
  async scratchChannel(model: ChannelModel): Promise<Channel> {
    const channel = await this.channel(model);
    this.#released.add(channel);
    return channel;
  }

  /**
   * Closes a channel on purpose: what it holds unacked is requeued, nothing is rebuilt.
   * Waits for the channel's `close` event rather than close()'s promise, which amqplib
   * never settles when the connection dies before the broker answers.
   */
  async release(channel: Channel): Promise<void> {
    this.#released.add(channel);
    if (this.#closed.has(channel)) return;
    const closed = new Promise<void>((resolve) => channel.once("close", () => resolve()));
    channel.close().catch(() => {});
    await closed;
  }

  /** Drops `model` so recovery builds a new connection; harmless if it is already gone. */
  rebuild(model: ChannelModel, why: string): void {
    if (this.#closing || this.#gone.has(model)) return;
    this.#gone.add(model);
    this.#o.log.warn("rebuilding the RabbitMQ connection", { why });
    Promise.resolve().then(() => model.close()).catch(() => {});
  }

  /** Stops recovering and closes the connection (bounded, like `release`, by its `close` event). */
  async close(): Promise<void> {
    this.#closing = true;
    const model = this.#model;
    const gone = model && !this.#gone.has(model) ? new Promise((resolve) => model.once("close", resolve)) : null;
    const closing = this.#conn?.close().catch(() => {});
    await (gone ? Promise.race([closing, gone]) : closing);
  }

  #watch<C extends Channel>(model: ChannelModel, channel: C): C {
    if (!this.#models.has(model)) {
      this.#models.add(model);
      model.on("close", () => this.#gone.add(model));
    }
    channel.on("error", (err) => this.#o.log.debug("RabbitMQ channel error", errorFields(err)));
    // amqplib closes a dying connection's channels just before the connection itself, in
    // the same tick: look once it is over, so only a channel lost on its own rebuilds.
    channel.on("close", () => {
      this.#closed.add(channel);
      queueMicrotask(() => {
        if (!this.#released.has(channel) && !this.#gone.has(model)) this.rebuild(model, "a channel closed");
      });
    });
    return channel;
  }
}

/**
 * amqplib's multiplexer writes every frame (a publish, an ack) to the socket on its own:
 * on Bun and Node each becomes a write(2) and a wakeup of the broker, and those system
 * calls were the largest item in a node's CPU profile under load. Corking the socket at the
 * first write of a turn and uncorking it once the turn's synchronous work is done sends
 * what the turn produced in one writev. Nothing waits longer: the uncork runs before the
 * event loop moves on.
 */
export function coalesceWrites(socket: Writable): void {
  const write = socket.write;
  let corked = false;
  socket.write = function (this: Writable, ...args: Parameters<Writable["write"]>) {
    if (!corked) {
      corked = true;
      socket.cork();
      queueMicrotask(() => {
        corked = false;
        socket.uncork();
      });
    }
    return write.apply(this, args);
  } as Writable["write"];
}

/** Waits for `work`, but not longer than `ms`: a broker that stopped answering must not hold us. */
export async function atMost(ms: number, work: Promise<unknown>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([work.catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
