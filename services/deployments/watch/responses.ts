
/** A watch's first message and the revision it reflects: the watch continues after that revision. */
export interface Snapshot<T> {
  message: T;
  revision: number;
}

/** Where a watch starts: after a resume revision, or after a snapshot still to be read. */
export type WatchStart<T> = number | (() => Promise<Snapshot<T>>);

const finished: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * The responses of one watch stream: the snapshot (unless resuming), then
 * the messages of its subscription, which starts after the snapshot. A plain
 * iterator rather than async generators, and once subscribed it hands on the
 * subscription's own promises: an idle stream holds this object and its
 * subscription, not generator frames with their pending promises.
 *
 * The server's call chain keeps the last message it passed in its frames
 * until the next one, so a snapshot would live as long as a quiet stream.
 * It is emptied when the next message is asked for: the server asks only
 * after writing it, and grpc-js serialises a message as it is written (the
 * first write of a stream is never queued).
 */
export class WatchResponses<T> implements AsyncIterableIterator<T> {
  /** Where to start; undefined once subscribed, or after return(). */
  private start: WatchStart<T> | undefined;
  private items: AsyncIterator<T> | undefined;
  /** The snapshot sent, until it is released. */
  private sent: T | undefined;

  constructor(
    start: WatchStart<T>,
    private readonly subscribe: (fromRevision: number) => AsyncIterator<T>,
    /** Empties a snapshot message that has been written. */
    private readonly release: (snapshot: T) => void,
  ) {
    this.start = start;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items === undefined) {
      const start = this.start;
      if (start === undefined) return Promise.resolve(finished);
      if (typeof start === "function") return this.sendSnapshot(start);
      this.start = undefined;
      if (this.sent !== undefined) this.release(this.sent);
      this.sent = undefined;
      this.items = this.subscribe(start);
    }
    return this.items.next();
  }

  return(): Promise<IteratorResult<T>> {
    const items = this.items;
    this.start = this.items = this.sent = undefined;
    void items?.return?.();
    return Promise.resolve(finished);
  }

  throw(error: unknown): Promise<IteratorResult<T>> {
    void this.return();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private async sendSnapshot(read: () => Promise<Snapshot<T>>): Promise<IteratorResult<T>> {
    const { message, revision } = await read();
    if (this.start !== read) return finished;
    this.start = revision;
    this.sent = message;
    return { done: false, value: message };
  }
}
