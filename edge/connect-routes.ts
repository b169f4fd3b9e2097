import { fromBinary, toBinary, type DescMessage, type DescMethod, type DescService, type Message } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { methodPath } from "../services/kit/grpc/service-definition.js";
import { bodyTooLarge, malformedRequest } from "./protections/rejections.js";
import type { RequestIds } from "./routing/request-ids.js";
import type { ForwardOptions, Upstream } from "./upstream/forward.js";

/** A service the edge serves and the upstream that owns it. */
export interface Route {
  service: DescService;
  upstream: Upstream;
}

/** What the edge knows of the request behind a call: the client's address and the request's ids. */
export type EdgeCallOf = (context: HandlerContext) => { clientAddress: string | undefined; ids: RequestIds };

/**
 * connect-node's handler options at the edge. Every request message, as
 * received and once decompressed, is held to `maxBodyBytes` (connect-node's
 * own default is 4 GiB): its gzip and br decoders stop at readMaxBytes
 * while they inflate. A stream's messages together are held to it too, so
 * many compressed messages cannot add up to much more inflating: once their
 * decoded sizes pass it, the stream is refused. A stream's request messages
 * it cannot read (not decodable, not decompressable, too large) are refused
 * with Launchpad's ErrorInfo: INVALID_ARGUMENT MALFORMED_REQUEST, or
 * RESOURCE_EXHAUSTED REQUEST_TOO_LARGE, where connect-node would say INTERNAL.
 */
export function connectHandlerOptions(maxBodyBytes: number) {
  const asClientError = (error: unknown): ConnectError => {
    const cause = ConnectError.from(error);
    // Cancelled, past its deadline: what happened, not what was sent.
    if (cause.code === Code.Canceled || cause.code === Code.DeadlineExceeded) return cause;
    return cause.code === Code.ResourceExhausted ? bodyTooLarge(maxBodyBytes) : malformedRequest(`cannot read the request: ${cause.rawMessage}`, { cause: error });
  };
  async function* readRequests<T extends Message>(schema: DescMessage, messages: AsyncIterable<T>): AsyncIterable<T> {
    let bytes = 0;
    try {
      for await (const message of messages) {
        // The decoded size stands for what was inflated: the wire size says nothing of a compressed message.
        bytes += toBinary(schema, message).byteLength;
        if (bytes > maxBodyBytes) throw bodyTooLarge(maxBodyBytes);
        yield message;
      }
    } catch (error) {
      throw asClientError(error);
    }
  }
  // connect-node reads a unary call's message before interceptors run; Connect unary calls take the fast path (connect-unary.ts).
  const refuseUnreadableRequests: Interceptor = (next) => (req) =>
    req.stream ? next({ ...req, message: readRequests(req.method.input, req.message) }) : next(req);
  return { readMaxBytes: maxBodyBytes, acceptCompression: [compressionGzip, compressionBrotli], interceptors: [refuseUnreadableRequests] };
}

/**
 * Registers every method of every routed service with connect-node, which
 * then speaks Connect (JSON and binary, GET for NO_SIDE_EFFECTS methods),
 * gRPC-Web and gRPC for it. Each method forwards to its upstream over gRPC;
 * there is no per-method code, only the descriptors.
 */
export function connectRoutes(routes: readonly Route[], options: { defaultTimeoutMs: number; callOf: EdgeCallOf }) {
  return (router: ConnectRouter) => {
    for (const { service, upstream } of routes) {
      for (const method of service.methods) router.rpc(method, forwarding(method, upstream, options) as never);
    }
  };
}

function forwarding(method: DescMethod, upstream: Upstream, options: { defaultTimeoutMs: number; callOf: EdgeCallOf }) {
  const path = methodPath(method);
  const forward = (context: HandlerContext, streaming: boolean): ForwardOptions => ({
    headers: context.requestHeader,
    // Streams live as long as the client wants; unary calls get a default deadline.
    timeoutMs: context.timeoutMs() ?? (streaming ? undefined : options.defaultTimeoutMs),
    signal: context.signal,
    ...options.callOf(context),
  });
  if (method.methodKind === "bidi_streaming") {
    return async function* (requests: AsyncIterable<never>, context: HandlerContext) {
      // A request the edge refused (too large, unreadable) ends the call with that refusal, not with the upstream's cancelled call.
      let refused: unknown;
      const encoded = (async function* () {
        try {
          for await (const request of requests) yield toBinary(method.input, request);
        } catch (error) {
          refused = error;
          throw error;
        }
      })();
      try {
        for await (const response of upstream.bidiStream(path, encoded, forward(context, true))) {
          yield fromBinary(method.output, response);
        }
      } catch (error) {
        throw refused ?? error;
      }
    };
  }
  if (method.methodKind === "server_streaming") {
    return async function* (request: never, context: HandlerContext) {
      const bytes = toBinary(method.input, request);
      for await (const response of upstream.serverStream(path, bytes, forward(context, true))) {
        yield fromBinary(method.output, response);
      }
    };
  }
  return async (request: never, context: HandlerContext) =>
    fromBinary(method.output, await upstream.unary(path, toBinary(method.input, request), forward(context, false)));
}
