/**
 * Submits waiting for their outcome: their own fanout copy, a refusal, or a failure. Each
 * waits at most `timeoutMs`; the first outcome wins and later ones for the ref are ignored.
 */
import { DuplexError, duplexError } from "../core/errors.ts";
import type { Sequenced } from "../core/ports/broker.ts";

interface Waiting {
  origin: string;
  resolve(item: Sequenced): void;
  reject(err: DuplexError): void;
  timer: ReturnType<typeof setTimeout>;
}

export function unavailable(message: string, cause?: unknown): DuplexError {
  return duplexError("unavailable", `broker unavailable: ${message}`, cause);
}

export class PendingSubmits {
  #waiting = new Map<string, Waiting>();
  #timeoutMs: number;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  has(ref: string): boolean {
    return this.#waiting.has(ref);
  }

  /** The outcome of the submit `ref` from `origin`; "unavailable" once the timeout passes. */
  wait(ref: string, origin: string): Promise<Sequenced> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.settle(ref, unavailable(
        `the message was not confirmed within sendTimeoutMs (${this.#timeoutMs} ms); it may still be stored, so resend it with the same id`,
      )), this.#timeoutMs);
      this.#waiting.set(ref, { origin, resolve, reject, timer });
    });
  }

  /** Settles a waiting submit; an outcome `from` another origin is someone else's. */
  settle(ref: string, outcome: Sequenced | DuplexError, from?: string): void {
    const w = this.#waiting.get(ref);
    if (!w || (from !== undefined && from !== w.origin)) return;
    this.#waiting.delete(ref);
    clearTimeout(w.timer);
    if (outcome instanceof DuplexError) w.reject(outcome);
    else w.resolve(outcome);
  }

  /** Every submit still waiting fails: its message may yet be stored, which a resend settles. */
  failAll(why: string): void {
    for (const ref of [...this.#waiting.keys()]) {
      this.settle(ref, unavailable(`${why}; the message may still be stored, so resend it with the same id`));
    }
  }
}
