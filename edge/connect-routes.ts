import { fromBinary, toBinary, type DescMethod, type DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { methodPath } from "../services/kit/grpc/service-definition.js";
import type { ForwardOptions, Upstream } from "./upstream/forward.js";

/** A service the edge serves and the upstream that owns it. */
export interface Route {
  service: DescService;
  upstream: Upstream;
}

/** The client's address, when the HTTP server recorded it in the context. */
export type ClientAddressOf = (context: HandlerContext) => string | undefined;

/**
 * Registers every method of every routed service with connect-node, which
 * then speaks Connect (JSON and binary, GET for NO_SIDE_EFFECTS methods),
 * gRPC-Web and gRPC for it. Each method forwards to its upstream over gRPC;
 * there is no per-method code, only the descriptors.
 */
export function connectRoutes(routes: readonly Route[], options: { defaultTimeoutMs: number; clientAddress: ClientAddressOf }) {
  return (router: ConnectRouter) => {
    for (const { service, upstream } of routes) {
      for (const method of service.methods) router.rpc(method, forwarding(method, upstream, options) as never);
    }
  };
}

function forwarding(method: DescMethod, upstream: Upstream, options: { defaultTimeoutMs: number; clientAddress: ClientAddressOf }) {
  const path = methodPath(method);
  const forward = (context: HandlerContext, streaming: boolean): ForwardOptions => ({
    headers: context.requestHeader,
    // Streams live as long as the client wants; unary calls get a default deadline.
    timeoutMs: context.timeoutMs() ?? (streaming ? undefined : options.defaultTimeoutMs),
    signal: context.signal,
    clientAddress: options.clientAddress(context),
  });
  if (method.methodKind === "bidi_streaming") {
    return async function* (requests: AsyncIterable<never>, context: HandlerContext) {
      const encoded = (async function* () {
        for await (const request of requests) yield toBinary(method.input, request);
      })();
      for await (const response of upstream.bidiStream(path, encoded, forward(context, true))) {
        yield fromBinary(method.output, response);
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
