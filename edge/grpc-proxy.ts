import { once } from "node:events";
import { constants, type ClientHttp2Stream, type Http2ServerRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import type { Readable } from "node:stream";
import { Code } from "@connectrpc/connect";
import type { EdgeRequest, EdgeResponse } from "./http-server.js";
import { inflateWithin } from "./protections/inflate.js";
import { endAfterAnswer } from "./protections/limits.js";
import { bodyTooLarge, grpcStatusHeaders, Rejection } from "./protections/rejections.js";
import { forwardedHeaders } from "./upstream/forward.js";
import { createFrameSplitter, grpcTimeout, isCompressedFrame, trailerFrame } from "./upstream/grpc-wire.js";
import type { VouchForClient } from "./upstream/client-identity.js";
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

/** The codings of compressed messages the services read (grpc-js), which the relay checks before passing them on. */
const relayedEncodings = ["gzip", "deflate"];

const unavailable = grpcStatusHeaders(
  new Rejection({ code: Code.Unavailable, reason: "SERVICE_UNAVAILABLE", message: "the service is unavailable; retry" }),
);

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
    res.end(trailerFrame(trailers));
  },
};

/**
 * Ends a relayed call with these trailers, unless it has ended: after the
 * messages when headers have gone out, else as a trailers-only answer (one
 * header block ending the stream, as gRPC and gRPC-Web clients expect).
 */
function finish(res: EdgeResponse, responder: Responder, trailers: OutgoingHttpHeaders, headers?: OutgoingHttpHeaders): void {
  if (res.writableEnded || res.destroyed) return;
  if (res.headersSent) return responder.finish(res, trailers);
  res.statusCode = 200;
  for (const [name, value] of Object.entries({ ...headers, "content-type": responder.contentType, ...trailers })) res.setHeader(name, value!);
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
function relayData(from: Readable, to: DataSink): void {
  from.on("data", (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on("drain", () => from.resume());
}

/**
 * Writes `from`'s message frames into `to` as they are (still compressed),
 * each once it has inflated within `maxBytes` and the request's inflated
 * bytes so far are within `maxBytes` too, pausing while `to` is full. A
 * frame that does not inflate, or passes the limit, is never written: the
 * returned promise rejects with the Rejection instead. Ends `to` after the
 * last frame.
 */
async function relayInflatedWithin(from: Readable, to: ClientHttp2Stream, encoding: string, maxBytes: number): Promise<void> {
  const frames = createFrameSplitter();
  let inflated = 0;
  for await (const chunk of from) {
    for (const whole of frames.split(chunk as Buffer)) {
      const message = whole.subarray(5);
      inflated += isCompressedFrame(whole) ? (await inflateWithin(encoding, message, maxBytes, relayedEncodings)).length : message.length;
      if (inflated > maxBytes) throw bodyTooLarge(maxBytes);
      if (!to.write(whole)) await Promise.race([once(to, "drain"), once(to, "close")]);
    }
  }
  // An unfinished frame goes on as it is; the service refuses it.
  const rest = frames.rest();
  to.end(rest);
}

function ignore(): void {}

/**
 * The binary fast paths: a gRPC or binary gRPC-Web call is relayed to the
 * upstream that owns its service as a gRPC call over a pooled HTTP/2
 * session, message frames untouched — no decoding, no re-encoding (the two
 * protocols frame messages alike; only trailers differ). Flow control
 * carries through both ways, a client's cancellation resets the upstream
 * stream, and only allow-listed headers cross in either direction.
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
  /** The upstream address for a gRPC path, or undefined when no service owns it. */
  addressOf(path: string): string | undefined;
  /** The deadline (ms) of a call to `path` that names none: the edge's default for unary methods, undefined for streams. */
  defaultTimeoutOf(path: string): number | undefined;
  sessions: ReturnType<typeof createSessionPool>;
  vouchForClient: VouchForClient;
  /** The most decompressed bytes a compressed request may carry. */
  maxBodyBytes: number;
}) {
  function relay(req: EdgeRequest, res: EdgeResponse, responder: Responder): void {
    const path = req.url ?? "";
    const address = options.addressOf(path);
    if (!address) {
      const unknown = new Rejection({ code: Code.Unimplemented, reason: "UNKNOWN_METHOD", message: `unknown service in ${path}` });
      return finish(res, responder, grpcStatusHeaders(unknown));
    }
    const encoding = (req.headers["grpc-encoding"] as string | undefined) ?? "identity";
    const compressed = encoding !== "identity";
    if (compressed && !relayedEncodings.includes(encoding)) {
      const unsupported = new Rejection({ code: Code.Unimplemented, reason: "UNSUPPORTED_ENCODING", message: `unsupported grpc-encoding "${encoding}"` });
      return finish(res, responder, grpcStatusHeaders(unsupported), { "grpc-accept-encoding": ["identity", ...relayedEncodings].join(",") });
    }

    const headers: OutgoingHttpHeaders = { ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" };
    pick(req.headers, grpcRequestHeaders, headers);
    pick(req.headers, forwardedHeaders, headers);
    options.vouchForClient(headers, req.socket.remoteAddress);
    const defaultTimeoutMs = headers["grpc-timeout"] === undefined ? options.defaultTimeoutOf(path) : undefined;
    if (defaultTimeoutMs !== undefined) headers["grpc-timeout"] = grpcTimeout(defaultTimeoutMs);

    let upstream;
    try {
      upstream = options.sessions.session(address).request(headers);
    } catch {
      return finish(res, responder, unavailable);
    }
    res.on("close", () => {
      if (!upstream.closed) upstream.close(constants.NGHTTP2_CANCEL);
    });

    let trailers: OutgoingHttpHeaders | undefined;
    /** Ends the call with the service's status, or UNAVAILABLE when it went away without one. */
    const end = (headers?: OutgoingHttpHeaders) => {
      finish(res, responder, trailers ?? unavailable, headers);
      // The client is still sending (the service answered early): stop it.
      if (!req.readableEnded) endAfterAnswer(req, res);
    };
    if (compressed) {
      relayInflatedWithin(req, upstream, encoding, options.maxBodyBytes).catch((error: unknown) => {
        // Refused here, or the request broke off (the client left, or the service ended the call): it is over.
        if (error instanceof Rejection) trailers = grpcStatusHeaders(error);
        upstream.close(constants.NGHTTP2_CANCEL);
        end();
      });
    } else {
      relayData(req, upstream);
      req.on("end", () => upstream.end());
    }

    upstream.on("response", (response) => {
      if (res.writableEnded) return;
      const headers = pick(response, responder.headers);
      // A trailers-only answer carries the status in these headers, and is passed on as one.
      if (response["grpc-status"] !== undefined) {
        trailers = pick(response, grpcTrailers);
        return end(headers);
      }
      res.writeHead(200, { ...headers, "content-type": responder.contentType });
      relayData(upstream, res);
    });
    upstream.on("trailers", (received) => {
      trailers = pick(received, grpcTrailers);
    });
    upstream.on("error", ignore);
    // Every message relayed, the trailers (if any) in: done, even if the request is still open.
    upstream.on("end", () => end());
    // Last of all events; without trailers, the upstream went away mid-call: tell the client so.
    upstream.on("close", () => end());
  }

  return {
    grpc: (req: Http2ServerRequest, res: EdgeResponse) => relay(req, res, grpcResponder),
    grpcWeb: (req: EdgeRequest, res: EdgeResponse) => relay(req, res, grpcWebResponder),
  };
}
