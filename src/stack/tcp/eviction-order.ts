/**
 * The flows a full table may give up (handshakes, TIME-WAIT), oldest first: an intrusive doubly
 * linked list through fields of the flows themselves. A Set of flows did the same, but adding an
 * object to a Set gives it an identity hash first, and every short connection joins twice and
 * leaves twice (Set add/delete and the hash were ~0.8% of tslirp's CPU in a connection-rate run).
 * Knows nothing of TCP; which flows belong here is the engine's rule.
 */

/** The fields an entry carries for the list (touched only by EvictionOrder). */
export interface EvictionLinks<T> {
  evictPrev: T | null;
  evictNext: T | null;
  inEvictionOrder: boolean;
}

export class EvictionOrder<T extends EvictionLinks<T>> {
  private head: T | null = null;
  private tail: T | null = null;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Appends entry as the newest; one already in the list stays where it is (as Set.add). */
  add(entry: T): void {
    if (entry.inEvictionOrder) return;
    entry.inEvictionOrder = true;
    entry.evictPrev = this.tail;
    entry.evictNext = null;
    if (this.tail === null) this.head = entry;
    else this.tail.evictNext = entry;
    this.tail = entry;
    this.count++;
  }

  /** Takes entry out; false when it was not in the list. */
  delete(entry: T): boolean {
    if (!entry.inEvictionOrder) return false;
    const prev = entry.evictPrev;
    const next = entry.evictNext;
    if (prev === null) this.head = next;
    else prev.evictNext = next;
    if (next === null) this.tail = prev;
    else next.evictPrev = prev;
    entry.evictPrev = null;
    entry.evictNext = null;
    entry.inEvictionOrder = false;
    this.count--;
    return true;
  }

  /** The entry added longest ago, or undefined when empty. */
  oldest(): T | undefined {
    return this.head ?? undefined;
  }

  clear(): void {
    while (this.head !== null) this.delete(this.head);
  }
}
