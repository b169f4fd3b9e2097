/**
 * Which of two copies of one resource to keep: the one with the higher
 * revision. Loads and watch changes race, and an older answer must never
 * replace a newer one.
 */
export function newerOf<T extends { revision: bigint }>(current: T | undefined, next: T): T {
  return current && current.revision >= next.revision ? current : next;
}
