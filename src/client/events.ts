/**
 * A small typed event emitter. A listener that throws cannot break the client's state
 * machine: its error is rethrown on its own microtask, where the host reports it.
 */
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
