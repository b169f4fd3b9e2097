import type { EventRecord } from "../store/types.js";
import { watcherTooSlow } from "./errors.js";
import type { Ring } from "./ring.js";

/** What a watcher receives: a committed change, or a heartbeat carrying the latest revision. */
export type WatchItem = { kind: "change"; event: EventRecord } | { kind: "heartbeat"; revision: number };

/**
 * An iterator result for a change, made once per event and shared by every
 * subscriber (and kept in the ring), so dispatch allocates nothing per
 * subscriber. Consumers must not mutate it.
 */
export type ChangeDelivery = IteratorYieldResult<{ kind: "change"; event: EventRecord }>;

/** An iterator result for a heartbeat, made once per tick and shared. */
export type HeartbeatDelivery = IteratorYieldResult<{ kind: "heartbeat"; revision: number }>;

/** A change or a heartbeat, as the hub dispatches it. */
export type Delivery = ChangeDelivery | HeartbeatDelivery;

/**
 * What a subscriber reads for each delivery it takes. Called once per item
 * handed over; results shared across subscribers keep dispatch free of
 * allocations per subscriber.
 */
export type Present<T> = (delivery: Delivery) => IteratorYieldResult<T>;

type Resolve<T> = (result: IteratorResult<T> | PromiseLike<IteratorResult<T>>) => void;

/** What a subscription reads from its hub. */
export interface Feed {
  /** Items a subscriber may have buffered before it is cut off. */
  readonly queueLimit: number;
  /** Recently ingested changes, by revision. */
  readonly ring: Ring<ChangeDelivery>;
  /** Every change above this revision is in the ring or not yet ingested. */
  readonly floor: number;
  /** The highest revision ingested. */
  readonly latest: number;
  /** Forgets an ended subscription. */
  detach(subscriber: Subscriber): void;
}

/** What the hub does with a subscription, whatever its subscriber reads. */
export interface Subscriber {
  /** The revision of the last item the consumer took. */
  readonly taken: number;
  readonly ended: boolean;
  begin(): void;
  offer(delivery: ChangeDelivery, event: EventRecord): void;
  offerHeartbeat(delivery: HeartbeatDelivery): void;
  fail(error: Error): void;
  close(): void;
}

// Modes. A subscription waits (for the hub to catch up to its resume revision),
// then replays the ring from its cursor, then receives live dispatch, then ends.
const waiting = 0;
const replaying = 1;
const live = 2;
const ended = 3;

const finished: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

// A buffer whose consumed prefix is at least this long, and at least half of it, is compacted.
const compactAfter = 32;

/**
 * One watcher: a bounded queue of deliveries read through an async iterator.
 *
 * Replay reads the shared ring lazily through a cursor (nothing is copied);
 * live changes are pushed by the hub's dispatch, which resolves a waiting
 * next() directly and otherwise appends to the queue, or cuts the
 * subscription off when the queue is full. Nothing here ever awaits the
 * consumer. Idle, a subscription is this object, its place in the hub's set
 * and its abort listener (the object itself, no closure).
 */
export class Subscription<T = WatchItem> implements AsyncIterableIterator<T>, Subscriber {
  /** The revision of the last item the consumer took: where it resumes after being cut off. */
  taken: number;
  private mode: number = waiting;
  /** While replaying: the revision up to which the ring has been read. */
  private cursor: number;
  private buffer: (Delivery | undefined)[] | undefined;
  private head = 0;
  private waiter: Resolve<T> | undefined;
  private failure: Error | undefined;

  constructor(
    private readonly feed: Feed,
    private readonly matches: (event: EventRecord) => boolean,
    private readonly signal: AbortSignal,
    fromRevision: number,
    private readonly present: Present<T>,
  ) {
    this.taken = fromRevision;
    this.cursor = fromRevision;
    signal.addEventListener("abort", this);
  }

  /** True once the subscription is over (failed, aborted, returned). */
  get ended(): boolean {
    return this.mode === ended;
  }

  /** Starts delivery after the resume revision, which the hub has ingested. */
  begin(): void {
    if (this.mode !== waiting) return;
    this.mode = this.cursor < this.feed.latest ? replaying : live;
    const waiter = this.waiter;
    if (waiter === undefined || this.mode !== replaying) return;
    const delivery = this.replay();
    if (delivery !== undefined) {
      this.waiter = undefined;
      waiter(this.present(delivery));
    }
    // Otherwise replay found nothing (now live, still waiting) or failed (waiter rejected).
  }

  /** Dispatch of one ingested change. */
  offer(delivery: ChangeDelivery, event: EventRecord): void {
    if (this.mode !== live) return;
    let wanted: boolean;
    try {
      wanted = this.matches(event);
    } catch (error) {
      this.fail(asError(error));
      return;
    }
    if (wanted) this.deliver(delivery, event.revision);
  }

  /** Dispatch of a heartbeat; one already queued behind every pending change is replaced by the newer one. */
  offerHeartbeat(delivery: HeartbeatDelivery): void {
    if (this.mode !== live) return;
    const buffer = this.buffer;
    if (buffer !== undefined && buffer[buffer.length - 1]!.value.kind === "heartbeat") {
      buffer[buffer.length - 1] = delivery;
      return;
    }
    this.deliver(delivery, delivery.value.revision);
  }

  /** Ends the subscription; the consumer's pending or next next() throws `error`. */
  fail(error: Error): void {
    if (this.mode === ended) return;
    this.end();
    const waiter = this.waiter;
    if (waiter === undefined) {
      this.failure = error;
      return;
    }
    this.waiter = undefined;
    waiter(Promise.reject(error));
  }

  /** Ends the subscription quietly: the consumer's iteration finishes. */
  close(): void {
    if (this.mode === ended) return;
    this.end();
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.(finished);
  }

  /** The abort signal fired. */
  handleEvent(): void {
    this.close();
  }

  next(): Promise<IteratorResult<T>> {
    const buffer = this.buffer;
    if (buffer !== undefined) return Promise.resolve(this.take(buffer));
    if (this.mode === ended) {
      const failure = this.failure;
      if (failure === undefined) return Promise.resolve(finished);
      this.failure = undefined;
      return Promise.reject(failure);
    }
    if (this.waiter !== undefined) return Promise.reject(new Error("next() called before the previous next() settled"));
    if (this.mode === replaying) {
      const delivery = this.replay();
      if (delivery !== undefined) return Promise.resolve(this.present(delivery));
      if (this.ended) return this.next();
    }
    return new Promise((resolve: Resolve<T>) => {
      this.waiter = resolve;
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.close();
    this.failure = undefined;
    return Promise.resolve(finished);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private deliver(delivery: Delivery, revision: number): void {
    const waiter = this.waiter;
    if (waiter !== undefined) {
      this.waiter = undefined;
      this.taken = revision;
      waiter(this.present(delivery));
      return;
    }
    const buffer = this.buffer;
    if (buffer === undefined) {
      this.buffer = [delivery];
    } else if (buffer.length - this.head >= this.feed.queueLimit) {
      this.fail(watcherTooSlow(this.taken, this.feed.queueLimit));
    } else {
      buffer.push(delivery);
    }
  }

  // The buffer is never empty: it is dropped when drained.
  private take(buffer: (Delivery | undefined)[]): IteratorYieldResult<T> {
    const delivery = buffer[this.head]!;
    buffer[this.head] = undefined;
    this.head += 1;
    if (this.head === buffer.length) {
      this.buffer = undefined;
      this.head = 0;
    } else if (this.head >= compactAfter && this.head * 2 >= buffer.length) {
      buffer.splice(0, this.head);
      this.head = 0;
    }
    const item = delivery.value;
    this.taken = item.kind === "change" ? item.event.revision : item.revision;
    return this.present(delivery);
  }

  // The next matching change of the ring after the cursor; none (and live from
  // now on) when the cursor reaches the newest ingested change; none (and
  // failed) when changes after the cursor were evicted before it read them.
  private replay(): ChangeDelivery | undefined {
    const { ring, floor } = this.feed;
    if (this.cursor < floor) {
      this.fail(watcherTooSlow(this.taken, this.feed.queueLimit));
      return undefined;
    }
    for (let index = ring.indexAfter(this.cursor); index < ring.size; index += 1) {
      const delivery = ring.at(index);
      const event = delivery.value.event;
      this.cursor = event.revision;
      let wanted: boolean;
      try {
        wanted = this.matches(event);
      } catch (error) {
        this.fail(asError(error));
        return undefined;
      }
      if (wanted) {
        this.taken = event.revision;
        return delivery;
      }
    }
    this.mode = live;
    return undefined;
  }

  private end(): void {
    this.mode = ended;
    this.buffer = undefined;
    this.head = 0;
    this.signal.removeEventListener("abort", this);
    this.feed.detach(this);
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
