/** A Map that forgets its least recently used entry beyond `capacity`. */
export class Lru<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(
    readonly capacity: number,
    private readonly onEvict: (key: K, value: V) => void = () => {},
  ) {
    if (!(capacity >= 1)) throw new RangeError(`LRU capacity must be at least 1, got ${capacity}`);
  }

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  peek(key: K): V | undefined {
    return this.entries.get(key);
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    for (const [oldest, old] of this.entries) {
      if (this.entries.size <= this.capacity) break;
      this.entries.delete(oldest);
      this.onEvict(oldest, old);
    }
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  /** Empties the map, handing back what it held; nothing counts as evicted. */
  takeAll(): V[] {
    const values = [...this.entries.values()];
    this.entries.clear();
    return values;
  }

  get size(): number {
    return this.entries.size;
  }
}
