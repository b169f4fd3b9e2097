import type { Readable } from "node:stream";
import { bodyTooLarge } from "../protections/rejections.js";

/** Where a request body's chunks go as they arrive. */
export interface BodySink {
  /** The next chunk; the bytes so far are within the limit. May throw, which fails the read. */
  chunk(bytes: Buffer): void;
  /** The whole body has arrived. */
  end(): void;
  /** Why the read stopped: REQUEST_TOO_LARGE, a chunk the sink refused, or the request broke off. Nothing follows it. */
  fail(error: unknown): void;
}

/**
 * The edge's one body reader: hands a request body to `sink` chunk by chunk
 * as it arrives, counting the bytes first, so a body is held to `maxBytes`
 * while it arrives, whether it declared its length or not (chunked
 * HTTP/1.1, HTTP/2 DATA frames), and is never buffered whole to be
 * measured. The chunk that passes the limit is not handed on: the body is
 * paused, and the sink fails with REQUEST_TOO_LARGE, so a handler never
 * takes a cut-off body for a whole one. (A declared length over the limit
 * is refused before any handler runs: protections/limits.ts.) Decompressed
 * sizes are each reader's to hold to the same limit (inflateWithin).
 */
export function readBodyChunks(body: Readable, maxBytes: number, sink: BodySink): void {
  const count = byteCounter(maxBytes);
  let stopped = false;
  const stop = (error: unknown) => {
    if (stopped) return;
    stopped = true;
    body.off("data", onData);
    body.pause();
    sink.fail(error);
  };
  const onData = (chunk: Buffer) => {
    try {
      count(chunk);
      sink.chunk(chunk);
    } catch (error) {
      stop(error);
    }
  };
  body.on("data", onData);
  body.once("end", () => {
    if (!stopped) sink.end();
  });
  body.once("error", stop);
}

/**
 * A request body as an async iterable, for connect-node's handlers: held to
 * `maxBytes` while it arrives as readBodyChunks holds it (the iteration
 * throws REQUEST_TOO_LARGE), and never destroying the request, so the
 * refusal can still be answered.
 */
export async function* bodyIterable(body: Readable, maxBytes: number): AsyncGenerator<Uint8Array> {
  const count = byteCounter(maxBytes);
  for await (const chunk of body.iterator({ destroyOnReturn: false })) {
    count(chunk as Buffer);
    yield chunk as Buffer;
  }
}

/** A request's whole body, read with readBodyChunks: REQUEST_TOO_LARGE as soon as it passes `maxBytes`. */
export function readBody(body: Readable, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    readBodyChunks(body, maxBytes, {
      chunk: (bytes) => chunks.push(bytes),
      end: () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)),
      fail: reject,
    });
  });
}

/** Adds up a body's chunks; throws REQUEST_TOO_LARGE once they pass `maxBytes`. */
function byteCounter(maxBytes: number): (chunk: Uint8Array) => void {
  let received = 0;
  return (chunk) => {
    received += chunk.byteLength;
    if (received > maxBytes) throw bodyTooLarge(maxBytes);
  };
}
