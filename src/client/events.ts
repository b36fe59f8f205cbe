/**
 * The client's typed events, and the errors it reports through them. A listener that throws
 * cannot break the client's state machine: its error is rethrown on a microtask of its own,
 * where the host reports it.
 */
import { DuplexError, duplexError } from "../core/errors.ts";

export class Emitter<Events> {
  #listeners = new Map<keyof Events, Set<(value: never) => void>>();

  /** Calls fn for every event of this type; returns a function that stops it. */
  on<K extends keyof Events>(type: K, fn: (value: Events[K]) => void): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(fn);
    return () => void set.delete(fn);
  }

  protected emit<K extends keyof Events>(type: K, value: Events[K]): void {
    for (const fn of this.#listeners.get(type) ?? []) {
      try {
        (fn as (value: Events[K]) => void)(value);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}

/** The `error` event for a failure outside the node's answers (a token source, a storage). */
export function failure(what: string, cause: unknown): DuplexError {
  if (cause instanceof DuplexError) return cause;
  return duplexError("unavailable", `${what}: ${cause instanceof Error ? cause.message : String(cause)}`, cause);
}
