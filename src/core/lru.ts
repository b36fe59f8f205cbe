/**
 * A map that forgets its least recently set entries past `max`. It wraps a Map rather
 * than extending one: on Bun a subclass of Map pays for every call going through the
 * subclass, and `set` runs once per delivered message.
 */
export class BoundedMap<K, V> {
  readonly #max: number;
  readonly #map = new Map<K, V>();
  /** The key set last, which is already at the newest end: setting it again moves nothing. */
  #newest: K | undefined;
  constructor(max: number) {
    this.#max = max;
  }
  get(key: K): V | undefined {
    return this.#map.get(key);
  }
  delete(key: K): boolean {
    return this.#map.delete(key);
  }
  set(key: K, value: V): this {
    const map = this.#map;
    // Deleting first moves the key to the newest end of the insertion order. A key set
    // twice in a row (one busy conversation) skips that: it is there already, or was
    // deleted since and is appended at that end anyway.
    if (key !== this.#newest) {
      map.delete(key);
      this.#newest = key;
    }
    map.set(key, value);
    if (map.size > this.#max) map.delete(map.keys().next().value as K);
    return this;
  }
}
