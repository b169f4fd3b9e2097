import type { DeploymentStore, EventRecord } from "../store/types.js";
import { resumeRevisionExpired, resumeRevisionUnknown, serverStopping } from "./errors.js";
import { Ring } from "./ring.js";
import { Subscription, type ChangeDelivery, type Feed, type HeartbeatDelivery, type Present, type Subscriber, type WatchItem } from "./subscription.js";

export type { WatchItem } from "./subscription.js";

/** Starts listening for commits made elsewhere (e.g. PostgreSQL LISTEN); resolves to a stop function. */
export type Listen = (onNotify: () => void) => Promise<() => Promise<void>>;

/** How a watch hub reads the event log and treats its subscribers. */
export interface WatchHubOptions {
  /** The event log. */
  source: Pick<DeploymentStore, "eventsAfter" | "latestRevision">;
  /** Recent events kept in memory for resume (default 10,000). */
  retention?: number;
  /**
   * Items buffered per subscriber before it is cut off (default 1,000). A
   * batch is dispatched in one go, so a consumer that drains its queue
   * between reads is never cut off while batchSize ≤ queueLimit.
   */
  queueLimit?: number;
  /** Interval of heartbeats to every subscriber (default 5,000 ms). */
  heartbeatMs?: number;
  /** Interval of the safety-net read of the event log (default 1,000 ms). */
  pollMs?: number;
  /** Events read per eventsAfter call (default 500, or queueLimit if smaller). */
  batchSize?: number;
  /** Commits made by other processes; without it, they arrive with the poll. */
  listen?: Listen;
  /** Failed background reads of the log and failed listener stops (the next poll retries); default: ignored. */
  onError?: (error: unknown) => void;
}

/** In-process fan-out of committed changes to watchers, in revision order, with resume. */
export interface WatchHub {
  /** Reads the latest revision, loads the last `retention` events, starts polling, listening and heartbeats. */
  start(): Promise<void>;
  /** A local commit happened: read the log now. Concurrent pokes are coalesced; one read runs at a time. Ignored before start(). */
  poke(): void;
  /** The highest revision ingested. */
  latestRevision(): number;
  /**
   * The matching changes after `fromRevision`, retained ones first, then live
   * ones, in revision order, without gaps or duplicates; heartbeats in
   * between. Refusals arrive as the iterator's first error:
   * failed-precondition/RESUME_REVISION_EXPIRED when changes after
   * `fromRevision` are no longer retained, invalid-argument/RESUME_REVISION_UNKNOWN
   * when it is beyond the store's latest revision. A subscriber whose queue
   * overflows gets resource-exhausted/WATCHER_TOO_SLOW; close() ends every
   * one with unavailable/SERVER_STOPPING (both with metadata resume_revision).
   * Aborting `signal` or calling return() ends the iteration at once.
   */
  subscribe(fromRevision: number, matches: (event: EventRecord) => boolean, signal: AbortSignal): AsyncIterableIterator<WatchItem>;
  /** The same, each item read as `present` makes it of its delivery. */
  subscribe<T>(fromRevision: number, matches: (event: EventRecord) => boolean, signal: AbortSignal, present: Present<T>): AsyncIterableIterator<T>;
  /** Subscriptions not yet ended. */
  openStreams(): number;
  /** Stops timers and the listener and ends every subscription with SERVER_STOPPING. */
  close(): Promise<void>;
}

/** A watch hub over `options.source`; call start() before subscribing. */
export function createWatchHub(options: WatchHubOptions): WatchHub {
  const hub = new Hub(options);
  return {
    start: () => hub.start(),
    poke: () => hub.poke(),
    latestRevision: () => hub.latest,
    subscribe: <T>(fromRevision: number, matches: (event: EventRecord) => boolean, signal: AbortSignal, present?: Present<T>) =>
      hub.subscribe(fromRevision, matches, signal, present ?? (itemOf as Present<unknown> as Present<T>)),
    openStreams: () => hub.subscribers.size,
    close: () => hub.close(),
  };
}

class Hub implements Feed {
  readonly queueLimit: number;
  readonly ring: Ring<ChangeDelivery>;
  readonly subscribers = new Set<Subscriber>();
  floor = 0;
  latest = 0;
  private readonly source: WatchHubOptions["source"];
  private readonly retention: number;
  private readonly heartbeatMs: number;
  private readonly pollMs: number;
  private readonly batchSize: number;
  private readonly listen: Listen | undefined;
  private readonly onError: (error: unknown) => void;
  private reading: Promise<void> | undefined;
  private again = false;
  private timers: NodeJS.Timeout[] = [];
  private stopListening: (() => Promise<void>) | undefined;
  private started = false;
  /** The floor is known: reads and subscriptions may begin. */
  private ready = false;
  private closed = false;

  constructor(options: WatchHubOptions) {
    this.source = options.source;
    this.retention = positive("retention", options.retention ?? 10_000);
    this.queueLimit = positive("queueLimit", options.queueLimit ?? 1_000);
    this.heartbeatMs = positive("heartbeatMs", options.heartbeatMs ?? 5_000);
    this.pollMs = positive("pollMs", options.pollMs ?? 1_000);
    this.batchSize = positive("batchSize", options.batchSize ?? Math.min(500, this.queueLimit));
    this.listen = options.listen;
    this.onError = options.onError ?? (() => undefined);
    this.ring = new Ring<ChangeDelivery>(this.retention, (delivery) => delivery.value.event.revision);
  }

  async start(): Promise<void> {
    if (this.started) throw new Error("the watch hub is already started");
    this.started = true;
    const newest = await this.source.latestRevision();
    // Events up to the floor are never loaded: resuming from before it is expired.
    this.floor = this.latest = Math.max(0, newest - this.retention);
    this.ready = true;
    try {
      // Listen first, so no commit falls between the catch-up and the first notification.
      if (this.listen !== undefined) this.stopListening = await this.listen(() => this.poke());
      await this.catchUp();
    } catch (error) {
      await this.close();
      throw error;
    }
    if (this.closed) return;
    this.timers.push(
      setInterval(() => this.poke(), this.pollMs).unref(),
      setInterval(() => this.heartbeat(), this.heartbeatMs).unref(),
    );
  }

  poke(): void {
    if (!this.ready) return;
    this.catchUp().catch(this.onError);
  }

  subscribe<T>(fromRevision: number, matches: (event: EventRecord) => boolean, signal: AbortSignal, present: Present<T>): Subscription<T> {
    if (!this.ready) throw new Error("start the watch hub before subscribing");
    const subscription = new Subscription(this, matches, signal, fromRevision, present);
    if (this.closed) {
      subscription.fail(serverStopping(fromRevision));
    } else if (signal.aborted) {
      subscription.close();
    } else if (!Number.isSafeInteger(fromRevision) || fromRevision < 0) {
      subscription.fail(resumeRevisionUnknown(fromRevision, this.latest));
    } else if (fromRevision < this.floor) {
      subscription.fail(resumeRevisionExpired(fromRevision, this.floor + 1));
    } else {
      this.subscribers.add(subscription);
      if (fromRevision <= this.latest) subscription.begin();
      else void this.catchUpTo(subscription, fromRevision);
    }
    return subscription;
  }

  detach(subscription: Subscriber): void {
    this.subscribers.delete(subscription);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    for (const subscription of this.subscribers) subscription.fail(serverStopping(subscription.taken));
    const stop = this.stopListening;
    this.stopListening = undefined;
    try {
      await stop?.();
    } catch (error) {
      this.onError(error);
    }
    await this.reading?.catch(() => undefined);
  }

  // Resolves once every commit made before the call is ingested. A call
  // during a read makes that read go round once more, so any number of
  // concurrent calls costs at most one extra round.
  private catchUp(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.reading !== undefined) {
      this.again = true;
      return this.reading;
    }
    this.reading = this.read();
    return this.reading;
  }

  private async read(): Promise<void> {
    try {
      for (;;) {
        this.again = false;
        const events = await this.source.eventsAfter(this.latest, this.batchSize);
        if (this.closed) return;
        this.ingest(events);
        if (events.length < this.batchSize && !this.again) return;
      }
    } finally {
      // In the same turn as the last check of `again`, so no call can join a finished read.
      this.reading = undefined;
    }
  }

  private ingest(events: readonly EventRecord[]): void {
    const subscribers = this.subscribers;
    for (const event of events) {
      if (event.revision <= this.latest) continue;
      const delivery: ChangeDelivery = { done: false, value: { kind: "change", event } };
      const evicted = this.ring.push(delivery);
      if (evicted !== undefined) this.floor = evicted.value.event.revision;
      this.latest = event.revision;
      for (const subscriber of subscribers) subscriber.offer(delivery, event);
    }
  }

  private heartbeat(): void {
    if (this.subscribers.size === 0) return;
    const delivery: HeartbeatDelivery = { done: false, value: { kind: "heartbeat", revision: this.latest } };
    for (const subscriber of this.subscribers) subscriber.offerHeartbeat(delivery);
  }

  // A resume revision this hub has not ingested yet: another replica may have
  // committed it. Catch up; if still short, ask the store whether it exists.
  private async catchUpTo(subscription: Subscriber, fromRevision: number): Promise<void> {
    try {
      await this.catchUp();
      if (fromRevision > this.latest && !subscription.ended) {
        const newest = await this.source.latestRevision();
        if (fromRevision > newest) {
          subscription.fail(resumeRevisionUnknown(fromRevision, newest));
          return;
        }
        await this.catchUp();
      }
      if (subscription.ended) return;
      if (fromRevision > this.latest) subscription.fail(resumeRevisionUnknown(fromRevision, this.latest));
      else if (fromRevision < this.floor) subscription.fail(resumeRevisionExpired(fromRevision, this.floor + 1));
      else subscription.begin();
    } catch (error) {
      subscription.fail(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

/** Reads each delivery as the item it carries. */
const itemOf: Present<WatchItem> = (delivery) => delivery;

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, not ${value}`);
  return value;
}
