/**
 * A fixed-capacity ring of the most recent entries, oldest first, in
 * ascending revision order. Pushing into a full ring evicts the oldest entry.
 */
export class Ring<T> {
  private readonly slots: (T | undefined)[] = [];
  private start = 0;
  private count = 0;

  constructor(
    readonly capacity: number,
    private readonly revisionOf: (entry: T) => number,
  ) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, not ${capacity}`);
  }

  /** How many entries the ring holds. */
  get size(): number {
    return this.count;
  }

  /** Appends `entry` (its revision must be above every held one) and returns the entry it evicted, if any. */
  push(entry: T): T | undefined {
    if (this.count < this.capacity) {
      this.slots[(this.start + this.count) % this.capacity] = entry;
      this.count += 1;
      return undefined;
    }
    const evicted = this.slots[this.start];
    this.slots[this.start] = entry;
    this.start = (this.start + 1) % this.capacity;
    return evicted;
  }

  /** The entry at `index` (0 is the oldest held). */
  at(index: number): T {
    return this.slots[(this.start + index) % this.capacity] as T;
  }

  /** Index of the first held entry whose revision is above `revision` (size when none is). */
  indexAfter(revision: number): number {
    let low = 0;
    let high = this.count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.revisionOf(this.at(middle)) <= revision) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
