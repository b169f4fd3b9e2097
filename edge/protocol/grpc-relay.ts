import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import type { Readable } from "node:stream";
import type { EdgeRequest, EdgeResponse } from "../http-server.js";
import { endAfterAnswer } from "../protections/limits.js";
import { bodyTooLarge, Rejection, unknownMethod, unsupportedEncoding } from "../protections/rejections.js";
import { endWithStatus, responseContentType, sendError } from "./send-error.js";
import { readBodyChunks } from "./request-body.js";
import { base64Chunk, createBase64Decoder } from "./web-text.js";
import { createFrameSplitter, grpcStatusHeaders, grpcTimeout, messageOf, type GrpcStatus } from "./wire.js";
import type { Route } from "../routing/classify.js";
import { unavailable } from "../upstream/errors.js";
import { addForwardedHeaders } from "../upstream/forward.js";
import type { VouchForClient } from "../upstream/client-identity.js";
import type { createSessionPool } from "../upstream/http2-sessions.js";

/** gRPC request headers passed upstream besides the allow-listed ones of every protocol. */
const grpcRequestHeaders = ["grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "user-agent"];
/** Trailers passed back; upstream protocol details beyond these (and each protocol's response headers) stay behind. */
const grpcTrailers = ["grpc-status", "grpc-message", "grpc-status-details-bin"];

/** Copies the headers named in `names` that `from` has into `to`, and returns `to`. */
function pick(from: IncomingHttpHeaders, names: readonly string[], to: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  for (const name of names) if (from[name] !== undefined) to[name] = from[name];
  return to;
}

/** The status headers among an upstream's headers or trailers. */
function statusOf(from: IncomingHttpHeaders): GrpcStatus {
  const status: GrpcStatus = {};
  for (const name of grpcTrailers) if (typeof from[name] === "string") status[name] = from[name];
  return status;
}

/** The codings of compressed messages the services read (grpc-js), which the relay checks before passing them on. */
const relayedEncodings = ["gzip", "deflate"];

/** The relayed protocols. */
type RelayedProtocol = "grpc" | "grpc-web" | "grpc-web-text";

/** Upstream response headers passed back; what the upstream would accept compressed is no promise the edge makes to browsers. */
const responseHeaders: Record<RelayedProtocol, readonly string[]> = {
  grpc: ["grpc-encoding", "grpc-accept-encoding", "x-request-id"],
  "grpc-web": ["grpc-encoding", "x-request-id"],
  "grpc-web-text": ["grpc-encoding", "x-request-id"],
};

/**
 * Ends a relayed call with this status, unless it has ended: after the
 * messages when headers have gone out, else as a trailers-only answer (one
 * header block ending the stream, as gRPC and gRPC-Web clients expect).
 */
function finish(req: EdgeRequest, res: EdgeResponse, protocol: RelayedProtocol, status: GrpcStatus, headers?: OutgoingHttpHeaders): void {
  if (res.writableEnded || res.destroyed) return;
  if (res.headersSent) return endWithStatus(res, protocol, status);
  res.statusCode = 200;
  for (const [name, value] of Object.entries({ ...headers, "content-type": responseContentType(protocol, req), ...status })) res.setHeader(name, value!);
  res.end();
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
function relayData(from: Readable, to: DataSink, encode?: (chunk: Buffer) => Buffer): void {
  from.on("data", (chunk: Buffer) => {
    if (!to.write(encode ? encode(chunk) : chunk)) from.pause();
  });
  to.on("drain", () => from.resume());
}

/**
 * Sends a call's request body upstream as it arrives, held to `maxBytes`
 * (the edge's body reader), decoded from base64 first in text mode, pausing
 * while the upstream is full. Compressed messages are each inflated within
 * `maxBytes` (and the request's inflated bytes together too) before they
 * are passed on as they came, so a frame that does not inflate, or passes
 * the limit, never reaches the service. Ends the upstream's side after the
 * last frame (an unfinished one goes on as it is; the service refuses it);
 * on any refusal calls `fail` instead.
 */
function relayRequest(
  req: EdgeRequest,
  to: ClientHttp2Stream,
  options: { text: boolean; encoding: string; maxBytes: number },
  fail: (error: unknown) => void,
): void {
  const decode = options.text ? createBase64Decoder() : undefined;
  to.on("drain", () => req.resume());
  const send = (bytes: Buffer) => {
    if (!to.write(bytes)) req.pause();
  };
  if (options.encoding === "identity") {
    return readBodyChunks(req, options.maxBytes, { chunk: (chunk) => send(decode ? decode(chunk) : chunk), end: () => to.end(), fail });
  }
  const frames = createFrameSplitter();
  let inflated = 0;
  let refused = false;
  const refuse = (error: unknown) => {
    if (refused) return;
    refused = true;
    fail(error);
  };
  // Frames are checked one after another: the body waits while each inflates.
  let checked = Promise.resolve();
  const check = async (chunk: Buffer) => {
    for (const whole of frames.split(chunk)) {
      inflated += (await messageOf(whole, options.encoding, options.maxBytes)).length;
      if (inflated > options.maxBytes) throw bodyTooLarge(options.maxBytes);
      send(whole);
    }
  };
  readBodyChunks(req, options.maxBytes, {
    chunk(chunk) {
      const binary = decode ? decode(chunk) : chunk;
      req.pause();
      checked = checked.then(() => check(binary)).then(() => {
        if (!to.writableNeedDrain) req.resume();
      });
      checked.catch(refuse);
    },
    // A failed check has been reported by its chunk.
    end: () => void checked.then(() => to.end(frames.rest()), ignore),
    fail: refuse,
  });
}

function ignore(): void {}

/**
 * The gRPC fast path: a gRPC or gRPC-Web call (binary, or text as base64)
 * is relayed to the upstream that owns its method as a gRPC call over a
 * pooled HTTP/2 session, message frames untouched — no decoding, no
 * re-encoding (the protocols frame messages alike; only trailers differ,
 * and text mode's base64). Kept by hand for speed: the edge's share of a
 * relayed GetDeployment is 127–140 µs of CPU, the least of any path
 * (edge-paths before the protocol core: Connect binary 151–156 µs, Connect
 * JSON 168–187 µs; gRPC through the edge 0.71–0.74 of direct gRPC). Flow control carries through both
 * ways, a client's cancellation resets the upstream stream, and only
 * allow-listed headers cross in either direction.
 *
 * Compressed calls (grpc-encoding gzip or deflate) are the exception: each
 * frame is inflated within `maxBodyBytes` before it is passed on (as it
 * came), so a compression bomb is refused with RESOURCE_EXHAUSTED and never
 * reaches a service; an encoding the services do not read is UNIMPLEMENTED.
 * The call ends as soon as the service's status is in and its messages are
 * relayed, even while the client is still sending (then its stream is
 * closed).
 */
export function createGrpcRelay(options: {
  sessions: ReturnType<typeof createSessionPool>;
  vouchForClient: VouchForClient;
  /** The deadline (ms) of a unary call that names none. */
  defaultTimeoutMs: number;
  /** The most decompressed bytes a compressed request may carry. */
  maxBodyBytes: number;
}) {
  return function relay(req: EdgeRequest, res: EdgeResponse, route: Route): void {
    const protocol = route.protocol as RelayedProtocol;
    // Introspection (no upstream) reaches the relay only in text mode, which connect-node does not speak.
    if (!route.rpc?.upstream) return sendError(req, res, protocol, unknownMethod(route.path));
    const { path, method, upstream: owner } = route.rpc;
    const encoding = (req.headers["grpc-encoding"] as string | undefined) ?? "identity";
    const compressed = encoding !== "identity";
    if (compressed && !relayedEncodings.includes(encoding)) {
      const accepted = { "grpc-accept-encoding": ["identity", ...relayedEncodings].join(",") };
      return sendError(req, res, protocol, unsupportedEncoding(encoding, relayedEncodings), accepted);
    }

    const headers: OutgoingHttpHeaders = { ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" };
    pick(req.headers, grpcRequestHeaders, headers);
    addForwardedHeaders(headers, req.headers, route.ids);
    options.vouchForClient(headers, req.socket.remoteAddress);
    if (headers["grpc-timeout"] === undefined && method.methodKind === "unary") headers["grpc-timeout"] = grpcTimeout(options.defaultTimeoutMs);

    let upstream: ClientHttp2Stream;
    try {
      upstream = options.sessions.session(owner.address).request(headers);
    } catch {
      return sendError(req, res, protocol, unavailable());
    }
    res.on("close", () => {
      if (!upstream.closed) upstream.close(constants.NGHTTP2_CANCEL);
    });

    let status: GrpcStatus | undefined;
    /** Ends the call with the service's status, or UNAVAILABLE when it went away without one. */
    const end = (headers?: OutgoingHttpHeaders) => {
      finish(req, res, protocol, status ?? grpcStatusHeaders(unavailable()), headers);
      // The client is still sending (the service answered early): stop it.
      if (!req.readableEnded) endAfterAnswer(req, res);
    };
    /** Ends the call with the edge's own refusal of what the client sent. */
    const refuse = (error: unknown) => {
      // Refused here, or the request broke off (the client left, or the service ended the call): it is over.
      if (error instanceof Rejection) status = grpcStatusHeaders(error);
      upstream.close(constants.NGHTTP2_CANCEL);
      end();
    };
    const text = protocol === "grpc-web-text";
    relayRequest(req, upstream, { text, encoding, maxBytes: options.maxBodyBytes }, refuse);

    upstream.on("response", (response) => {
      if (res.writableEnded) return;
      const headers = pick(response, responseHeaders[protocol]);
      // A trailers-only answer carries the status in these headers, and is passed on as one.
      if (response["grpc-status"] !== undefined) {
        status = statusOf(response);
        return end(headers);
      }
      res.writeHead(200, { ...headers, "content-type": responseContentType(protocol, req) });
      relayData(upstream, res, text ? base64Chunk : undefined);
    });
    upstream.on("trailers", (received) => {
      status = statusOf(received);
    });
    upstream.on("error", ignore);
    // Every message relayed, the trailers (if any) in: done, even if the request is still open.
    upstream.on("end", () => end());
    // Last of all events; without trailers, the upstream went away mid-call: tell the client so.
    upstream.on("close", () => end());
  };
}
