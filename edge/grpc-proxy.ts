import { constants, type Http2ServerRequest, type Http2ServerResponse, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import type { EdgeRequest } from "./http-server.js";
import { forwardedHeaders } from "./upstream/forward.js";
import type { createSessionPool } from "./upstream/http2-sessions.js";

/** gRPC request headers passed upstream besides the allow-listed ones of every protocol. */
const grpcRequestHeaders = ["content-type", "te", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "user-agent"];
/** Response headers and trailers passed back; upstream protocol details beyond these stay behind. */
const grpcResponseHeaders = ["content-type", "grpc-encoding", "grpc-accept-encoding", "x-request-id"];
const grpcTrailers = ["grpc-status", "grpc-message", "grpc-status-details-bin"];

function pick(from: IncomingHttpHeaders, names: readonly string[]): OutgoingHttpHeaders {
  const picked: OutgoingHttpHeaders = {};
  for (const name of names) if (from[name] !== undefined) picked[name] = from[name];
  return picked;
}

function status(code: number, message: string): OutgoingHttpHeaders {
  return { "grpc-status": String(code), "grpc-message": encodeURIComponent(message) };
}

/** A grpc-timeout header value: at most 8 digits, in milliseconds while they fit. */
function grpcTimeout(ms: number): string {
  return ms <= 99_999_999 ? `${Math.ceil(ms)}m` : `${Math.ceil(ms / 1000)}S`;
}

/** Whether a request is gRPC (not gRPC-Web) over HTTP/2. */
export function isGrpcRequest(req: EdgeRequest): req is Http2ServerRequest {
  const type = req.headers["content-type"] ?? "";
  return req.httpVersionMajor === 2 && type.startsWith("application/grpc") && !type.startsWith("application/grpc-web");
}

/**
 * The gRPC fast path: a gRPC call is relayed stream to stream to the
 * upstream that owns its service, frames untouched — no decoding, no
 * re-encoding. Flow control carries through both ways, a client's
 * cancellation resets the upstream stream, and only allow-listed headers
 * cross in either direction.
 */
export function createGrpcProxy(options: {
  /** The upstream address for a gRPC path, or undefined when no service owns it. */
  addressOf(path: string): string | undefined;
  /** The deadline (ms) of a call to `path` that names none: the edge's default for unary methods, undefined for streams. */
  defaultTimeoutOf(path: string): number | undefined;
  sessions: ReturnType<typeof createSessionPool>;
}) {
  /** Ends the call with a status of the edge's own (headers, then trailers). */
  function finish(res: Http2ServerResponse, trailers: OutgoingHttpHeaders): void {
    if (res.writableEnded || res.stream.destroyed) return;
    if (!res.headersSent) res.writeHead(200, { "content-type": "application/grpc" });
    res.addTrailers(trailers);
    res.end();
  }

  return (req: Http2ServerRequest, res: Http2ServerResponse): void => {
    const path = req.url;
    const address = options.addressOf(path);
    if (!address) return finish(res, status(12, `unknown service in ${path}`));

    const headers: OutgoingHttpHeaders = {
      ":method": "POST",
      ":path": path,
      ...pick(req.headers, grpcRequestHeaders),
      ...pick(req.headers, forwardedHeaders),
    };
    if (req.socket.remoteAddress) headers["x-forwarded-for"] = req.socket.remoteAddress;
    const defaultTimeoutMs = headers["grpc-timeout"] === undefined ? options.defaultTimeoutOf(path) : undefined;
    if (defaultTimeoutMs !== undefined) headers["grpc-timeout"] = grpcTimeout(defaultTimeoutMs);

    const unavailable = status(14, "the service is unavailable; retry");
    let upstream;
    try {
      upstream = options.sessions.session(address).request(headers);
    } catch {
      return finish(res, unavailable);
    }
    req.pipe(upstream);
    res.on("close", () => {
      if (!upstream.closed) upstream.close(constants.NGHTTP2_CANCEL);
    });

    let ended = false;
    upstream.on("response", (response) => {
      res.writeHead(Number(response[":status"] ?? 200), pick(response, grpcResponseHeaders));
      // Trailers-only answers carry the status in these headers.
      if (response["grpc-status"] !== undefined) {
        ended = true;
        res.addTrailers(pick(response, grpcTrailers));
        res.end();
        return;
      }
      // Not ended by the pipe: a stream the upstream's connection dropped also "ends", without trailers.
      upstream.pipe(res, { end: false });
    });
    upstream.on("trailers", (received) => {
      ended = true;
      res.addTrailers(pick(received, grpcTrailers));
    });
    upstream.on("error", () => undefined);
    upstream.on("close", () => {
      if (ended) {
        if (!res.writableEnded) res.end();
      } else {
        // The upstream went away without finishing the call: tell the client so.
        finish(res, unavailable);
      }
    });
  };
}
