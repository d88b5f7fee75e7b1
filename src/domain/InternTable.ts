/**
 * Shares one immutable value among the cached keys that would otherwise each hold an equal copy (a
 * scope set, a parsed allowlist, an organization id): the cache holds up to millions of keys, most of
 * them alike in these. Bounded: past `max` distinct values it starts afresh (keys keep what they got).
 */
export class InternTable<V> {
  private readonly values = new Map<string, V>();

  constructor(private readonly max: number) {}

  /** The value kept for `key`, else `make()`'s, kept from now on. */
  get(key: string, make: (key: string) => V): V {
    let value = this.values.get(key);
    if (value === undefined) {
      if (this.values.size >= this.max) this.values.clear();
      value = make(key);
      this.values.set(key, value);
    }
    return value;
  }

  get size(): number {
    return this.values.size;
  }
}
