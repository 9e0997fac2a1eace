interface Counter {
  value: number | string;
  count: number;
  /** How much of count may belong to values this one replaced. */
  error: number;
  /** Its place in the heap. */
  at: number;
}

/**
 * The most frequent values of a stream in a fixed number of counters, by Space-Saving
 * (Metwally, Agrawal and El Abbadi 2005): a value not counted takes the counter of the least
 * counted one, inheriting its count as error. Every value seen more than n/size times keeps a
 * counter, whatever the order the values come in, and count − error is a lower bound of its
 * true count, within n/size of it. (Keeping the first values seen instead misses every
 * frequent value that comes late, as in data sorted by the column.)
 */
export class HeavyHitters {
  private readonly byValue = new Map<number | string, Counter>();
  /** A min-heap by count. */
  private readonly heap: Counter[] = [];

  /** Starts from exact counts, as many as the counters it keeps. */
  constructor(exact: Map<number | string, number>) {
    for (const [value, count] of exact) {
      const counter = { value, count, error: 0, at: this.heap.length };
      this.heap.push(counter);
      this.byValue.set(value, counter);
    }
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  add(value: number | string): void {
    let counter = this.byValue.get(value);
    if (!counter) {
      counter = this.heap[0]!;
      this.byValue.delete(counter.value);
      this.byValue.set(value, counter);
      counter.value = value;
      counter.error = counter.count;
    }
    counter.count++;
    this.down(counter.at);
  }

  /** Each value counted, with the least its count can be. */
  lowerBounds(): [number | string, number][] {
    return this.heap.map((c) => [c.value, c.count - c.error] as [number | string, number]).filter(([, n]) => n > 0);
  }

  private down(i: number): void {
    const heap = this.heap;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) return;
      const right = left + 1;
      const child = right < heap.length && heap[right]!.count < heap[left]!.count ? right : left;
      if (heap[child]!.count >= heap[i]!.count) return;
      [heap[i], heap[child]] = [heap[child]!, heap[i]!];
      heap[i]!.at = i;
      heap[child]!.at = child;
      i = child;
    }
  }
}
