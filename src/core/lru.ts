/**
 * A map that keeps at least its `max` most recently used keys (set, read with `get`, or
 * deleted: a delete takes its place among the recent) and fewer than twice as many
 * entries. A value is never undefined: that reads as absent.
 *
 * It runs on every delivered message, so it keeps two generations instead of an exact
 * order: a true LRU over a Map deletes and re-inserts a key on every use, which left the
 * tables tombstones to compact and was a tenth of one node's per-send profile. Here a use
 * of a recent key is one lookup, and forgetting drops a whole generation at once.
 *
 * It wraps Maps rather than extending one: on Bun a subclass of Map pays for every call
 * going through the subclass.
 */
export class BoundedMap<K, V extends {} | null> {
  readonly #max: number;
  /** Keys used since the last turnover: fewer than `max`. */
  #young = new Map<K, V>();
  /** At most `max` keys used in the generation before; a key in both reads from #young. */
  #old: Map<K, V> | null = null;
  constructor(max: number) {
    this.#max = max;
  }
  get(key: K): V | undefined {
    const value = this.#young.get(key);
    if (value !== undefined || this.#old === null) return value;
    const older = this.#old.get(key);
    // Used again: it moves to the young generation, so it outlives the next turnover.
    if (older !== undefined) this.#keep(key, older);
    return older;
  }
  /** Entries held, a key in both generations counted twice. */
  get size(): number {
    return this.#young.size + (this.#old?.size ?? 0);
  }
  delete(key: K): boolean {
    const young = this.#young.delete(key);
    return (this.#old?.delete(key) ?? false) || young;
  }
  set(key: K, value: V): this {
    this.#keep(key, value);
    return this;
  }
  #keep(key: K, value: V): void {
    this.#young.set(key, value);
    // The old generation goes, with any stale copy of a key that has since moved up.
    if (this.#young.size >= this.#max) {
      this.#old = this.#young;
      this.#young = new Map();
    }
  }
}
