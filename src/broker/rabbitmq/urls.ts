/**
 * AMQP_URL may name every broker of a RabbitMQ cluster, comma-separated. amqplib takes one
 * address and its recovery reconnects to it forever; given a URL *object*, though, it reads
 * the object's fields again on every attempt. So the object here answers with the broker at
 * `#at`, and `next()` moves on when a connection fails or drops: a node follows the cluster
 * to a surviving broker by itself.
 */
import type { Options } from "amqplib";
import { maskUrl } from "../../core/config.ts";
import { duplexError } from "../../core/errors.ts";

export class AmqpUrls {
  readonly #urls: URL[];
  readonly #heartbeat: number;
  #at = 0;

  constructor(list: string, heartbeatSeconds: number) {
    this.#urls = list.split(",").map((raw) => raw.trim()).filter(Boolean).map((raw) => {
      let u: URL;
      try {
        u = new URL(raw);
      } catch {
        throw duplexError("bad_request", `AMQP_URL holds "${maskUrl(raw)}", which is not a URL`);
      }
      if (u.protocol !== "amqp:" && u.protocol !== "amqps:") {
        throw duplexError("bad_request", `AMQP_URL must list amqp:// or amqps:// URLs, got "${maskUrl(raw)}"`);
      }
      return u;
    });
    if (this.#urls.length === 0) throw duplexError("bad_request", "AMQP_URL names no broker");
    this.#heartbeat = heartbeatSeconds;
  }

  get count(): number {
    return this.#urls.length;
  }

  /** The broker in use, password masked, for log lines. */
  get current(): string {
    return maskUrl(this.#urls[this.#at].toString());
  }

  /** Every broker, passwords masked. */
  toString(): string {
    return this.#urls.map((u) => maskUrl(u.toString())).join(",");
  }

  next(): void {
    this.#at = (this.#at + 1) % this.#urls.length;
  }

  /** What amqplib connects to: each field read names the broker in use at that moment. */
  target(): Options.Connect {
    const u = () => this.#urls[this.#at];
    const heartbeat = this.#heartbeat;
    return {
      get protocol() { return u().protocol.slice(0, -1); },
      get hostname() { return u().hostname.replace(/^\[|\]$/g, ""); },
      get port() { return u().port ? Number(u().port) : undefined; },
      get username() { return decodeURIComponent(u().username) || "guest"; },
      get password() { return decodeURIComponent(u().password) || "guest"; },
      get vhost() { return decodeURIComponent(u().pathname.slice(1)) || "/"; },
      // One given in the URL wins; else the node's short one, to notice a frozen broker.
      get heartbeat() { return Number(u().searchParams.get("heartbeat") ?? heartbeat); },
    } as Options.Connect;
  }
}
