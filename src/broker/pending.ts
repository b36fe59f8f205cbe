/**
 * Submits waiting for their outcome: the sequenced message, a refusal, or a failure. Every
 * broker keeps its waiting submits here. Each waits at most `timeoutMs` (when given); the
 * first outcome wins and later ones for the ref are ignored.
 */
import { DuplexError, duplexError } from "../core/errors.ts";
import type { Sequenced } from "../core/ports/broker.ts";

interface Waiting {
  origin: string;
  resolve(item: Sequenced): void;
  reject(err: DuplexError): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export function unavailable(message: string, cause?: unknown): DuplexError {
  return duplexError("unavailable", `broker unavailable: ${message}`, cause);
}

export class PendingSubmits {
  #waiting = new Map<string, Waiting>();
  #timeoutMs: number | undefined;

  constructor(timeoutMs?: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** False once the submit has an outcome (it timed out, say): no need to send it further. */
  has(ref: string): boolean {
    return this.#waiting.has(ref);
  }

  /**
   * Registers the submit `ref` from `origin`, then `send`s it on its way; resolves with its
   * outcome, "unavailable" once the timeout passes. A ref already waiting is refused unsent.
   */
  wait(ref: string, origin: string, send: () => void): Promise<Sequenced> {
    if (this.#waiting.has(ref)) return Promise.reject(duplexError("bad_request", `submit: ref "${ref}" is already waiting for its result`));
    const outcome = new Promise<Sequenced>((resolve, reject) => {
      const timer = this.#timeoutMs === undefined ? undefined : setTimeout(() => this.settle(ref, unavailable(
        `the message was not confirmed within sendTimeoutMs (${this.#timeoutMs} ms); it may still be stored, so resend it with the same id`,
      )), this.#timeoutMs);
      this.#waiting.set(ref, { origin, resolve, reject, timer });
    });
    send();
    return outcome;
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
