import type { DescMethod, Message } from "@bufbuild/protobuf";
import type { CallOptions } from "nice-grpc";
import { failureOf, type CallFailure } from "./grpc-errors.js";

type AnyMethod = (request: unknown, options: CallOptions) => unknown;

/** How much of a server stream callByDescriptor reads. */
export interface StreamReading {
  /** Stop after this many messages and cancel the call (for endless streams such as watches); all when unset. */
  maxMessages?: number;
}

/**
 * Calls a method of a nice-grpc client built from a protobuf-es service, by
 * its descriptor: unary calls resolve to their one response; server streams
 * are read to the end (or to `reading.maxMessages`, then cancelled) and
 * resolve to every message read.
 */
export async function callByDescriptor(
  client: object,
  method: DescMethod,
  request: Message,
  options: CallOptions = {},
  reading: StreamReading = {},
): Promise<unknown[]> {
  const invoke = (client as Record<string, AnyMethod | undefined>)[method.localName];
  if (typeof invoke !== "function") throw new Error(`the client has no method ${method.localName}`);
  switch (method.methodKind) {
    case "unary":
      return [await (invoke.call(client, request, options) as Promise<unknown>)];
    case "server_streaming": {
      const responses: unknown[] = [];
      const limit = reading.maxMessages ?? Infinity;
      if (limit <= 0) return responses;
      // Leaving the loop early returns the iterator, which cancels the call.
      for await (const response of invoke.call(client, request, options) as AsyncIterable<unknown>) {
        responses.push(response);
        if (responses.length >= limit) break;
      }
      return responses;
    }
    default:
      throw new Error(`${method.name}: ${method.methodKind} methods cannot be called generically`);
  }
}

/** How a call ended: "ok", or what its failure carried (code, reason, fields). */
export async function outcomeOf(call: Promise<unknown>): Promise<"ok" | CallFailure> {
  try {
    await call;
    return "ok";
  } catch (error) {
    return failureOf(Promise.reject(error));
  }
}
