import { constants, type Http2ServerRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import type { Readable } from "node:stream";
import type { EdgeRequest, EdgeResponse } from "./http-server.js";
import { forwardedHeaders } from "./upstream/forward.js";
import { grpcTimeout } from "./upstream/grpc-wire.js";
import type { createSessionPool } from "./upstream/http2-sessions.js";

/** gRPC request headers passed upstream besides the allow-listed ones of every protocol. */
const grpcRequestHeaders = ["grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "user-agent"];
/** Trailers passed back; upstream protocol details beyond these (and each responder's headers) stay behind. */
const grpcTrailers = ["grpc-status", "grpc-message", "grpc-status-details-bin"];

/** Copies the headers named in `names` that `from` has into `to`, and returns `to`. */
function pick(from: IncomingHttpHeaders, names: readonly string[], to: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  for (const name of names) if (from[name] !== undefined) to[name] = from[name];
  return to;
}

function status(code: number, message: string): OutgoingHttpHeaders {
  return { "grpc-status": String(code), "grpc-message": encodeURIComponent(message) };
}

const unavailable = status(14, "the service is unavailable; retry");

/** Whether a request is gRPC (not gRPC-Web) over HTTP/2. */
export function isGrpcRequest(req: EdgeRequest): req is Http2ServerRequest {
  const type = req.headers["content-type"] ?? "";
  return req.httpVersionMajor === 2 && type.startsWith("application/grpc") && !type.startsWith("application/grpc-web");
}

/** Whether a request is binary gRPC-Web (the text variant is base64 and goes to connect-node). */
export function isGrpcWebBinaryRequest(req: EdgeRequest): boolean {
  return /^application\/grpc-web(\+proto)?(;|$)/.test(req.headers["content-type"] ?? "");
}

/** How a relayed call's answer is written for one protocol. */
interface Responder {
  contentType: string;
  /** Upstream response headers passed back. */
  headers: readonly string[];
  /** Ends the response with these trailers, in the protocol's way. */
  finish(res: EdgeResponse, trailers: OutgoingHttpHeaders): void;
}

/** gRPC: trailers as HTTP/2 trailers. */
const grpcResponder: Responder = {
  contentType: "application/grpc+proto",
  headers: ["grpc-encoding", "grpc-accept-encoding", "x-request-id"],
  finish(res, trailers) {
    (res as import("node:http2").Http2ServerResponse).addTrailers(trailers);
    res.end();
  },
};

/** gRPC-Web: trailers as a last length-prefixed frame flagged 0x80, so HTTP/1.1 carries them too. */
const grpcWebResponder: Responder = {
  contentType: "application/grpc-web+proto",
  // What the upstream would accept compressed is no promise the edge makes to browsers.
  headers: ["grpc-encoding", "x-request-id"],
  finish(res, trailers) {
    const text = Buffer.from(Object.entries(trailers).map(([name, value]) => `${name}: ${String(value)}\r\n`).join(""));
    const frame = Buffer.alloc(5 + text.length);
    frame[0] = 0x80;
    frame.writeUInt32BE(text.length, 1);
    text.copy(frame, 5);
    res.end(frame);
  },
};

/** Ends a relayed call with trailers of the edge's own, unless it has ended. */
function fail(res: EdgeResponse, responder: Responder, trailers: OutgoingHttpHeaders): void {
  if (res.writableEnded || res.destroyed) return;
  if (!res.headersSent) res.writeHead(200, { "content-type": responder.contentType });
  responder.finish(res, trailers);
}

/** What relayData writes to: a stream, or either kind of response. */
interface DataSink {
  write(chunk: Buffer): boolean;
  on(event: "drain", listener: () => void): unknown;
}

/**
 * Writes everything `from` reads into `to`, pausing while `to` is full: what
 * `pipe` does, minus its bookkeeping (nine listeners added and removed again
 * per call, which cost more than relaying a unary call's one message). Never
 * ends `to`; the caller does, or writes trailers first.
 */
function relayData(from: Readable, to: DataSink): void {
  from.on("data", (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on("drain", () => from.resume());
}

function ignore(): void {}

/**
 * The binary fast paths: a gRPC or binary gRPC-Web call is relayed to the
 * upstream that owns its service as a gRPC call over a pooled HTTP/2
 * session, message frames untouched — no decoding, no re-encoding (the two
 * protocols frame messages alike; only trailers differ). Flow control
 * carries through both ways, a client's cancellation resets the upstream
 * stream, and only allow-listed headers cross in either direction.
 */
export function createGrpcRelay(options: {
  /** The upstream address for a gRPC path, or undefined when no service owns it. */
  addressOf(path: string): string | undefined;
  /** The deadline (ms) of a call to `path` that names none: the edge's default for unary methods, undefined for streams. */
  defaultTimeoutOf(path: string): number | undefined;
  sessions: ReturnType<typeof createSessionPool>;
}) {
  function relay(req: EdgeRequest, res: EdgeResponse, responder: Responder): void {
    const path = req.url ?? "";
    const address = options.addressOf(path);
    if (!address) return fail(res, responder, status(12, `unknown service in ${path}`));

    const headers: OutgoingHttpHeaders = { ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" };
    pick(req.headers, grpcRequestHeaders, headers);
    pick(req.headers, forwardedHeaders, headers);
    const clientAddress = req.socket.remoteAddress;
    if (clientAddress) headers["x-forwarded-for"] = clientAddress;
    const defaultTimeoutMs = headers["grpc-timeout"] === undefined ? options.defaultTimeoutOf(path) : undefined;
    if (defaultTimeoutMs !== undefined) headers["grpc-timeout"] = grpcTimeout(defaultTimeoutMs);

    let upstream;
    try {
      upstream = options.sessions.session(address).request(headers);
    } catch {
      return fail(res, responder, unavailable);
    }
    relayData(req, upstream);
    req.on("end", () => upstream.end());
    res.on("close", () => {
      if (!upstream.closed) upstream.close(constants.NGHTTP2_CANCEL);
    });

    let trailers: OutgoingHttpHeaders | undefined;
    upstream.on("response", (response) => {
      res.writeHead(200, pick(response, responder.headers, { "content-type": responder.contentType }));
      // Trailers-only answers carry the status in these headers.
      if (response["grpc-status"] !== undefined) trailers = pick(response, grpcTrailers);
      // Not ended with the data: the trailers follow the last message, written on close.
      else relayData(upstream, res);
    });
    upstream.on("trailers", (received) => {
      trailers = pick(received, grpcTrailers);
    });
    upstream.on("error", ignore);
    // Last of all events; without trailers, the upstream went away mid-call: tell the client so.
    upstream.on("close", () => fail(res, responder, trailers ?? unavailable));
  }

  return {
    grpc: (req: Http2ServerRequest, res: EdgeResponse) => relay(req, res, grpcResponder),
    grpcWeb: (req: EdgeRequest, res: EdgeResponse) => relay(req, res, grpcWebResponder),
  };
}
