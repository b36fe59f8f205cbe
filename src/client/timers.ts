/** Named one-shot timers on an injected clock: setting a name again replaces its timer. */
import type { Clock } from "./options.ts";

export class Timers<Name extends string> {
  #clock: Clock;
  #handles = new Map<Name, unknown>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  set(name: Name, ms: number, fn: () => void): void {
    this.cancel(name);
    const handle = this.#clock.setTimeout(() => {
      if (this.#handles.get(name) === handle) this.#handles.delete(name);
      fn();
    }, ms);
    this.#handles.set(name, handle);
  }

  /** Pending: set and not fired or cancelled yet. */
  has(name: Name): boolean {
    return this.#handles.has(name);
  }

  cancel(...names: Name[]): void {
    for (const name of names) {
      if (!this.#handles.has(name)) continue;
      this.#clock.clearTimeout(this.#handles.get(name));
      this.#handles.delete(name);
    }
  }
}
