import { constants as http2 } from "node:http2";
import type { EdgeRequest, EdgeResponse } from "../http-server.js";
import { sendError } from "../protocol/send-error.js";
import type { Protocol } from "../routing/classify.js";
import type { Middleware } from "./middleware.js";
import { bodyTooLarge } from "./rejections.js";

/**
 * The largest request header block the edge accepts: 16 KiB, Node's default
 * for HTTP/1.1 (`--max-http-header-size`), made explicit. Pass it to both
 * servers:
 * - `http.createServer({ maxHeaderSize: maxHeaderBytes }, …)`: Node itself
 *   answers a larger header block with 431 Request Header Fields Too Large
 *   and closes the connection; no handler runs.
 * - `http2.createServer({ settings: { maxHeaderListSize: maxHeaderBytes } }, …)`
 *   (and createSecureServer): the limit is advertised in SETTINGS, and once
 *   the client has acknowledged it a larger header block gets the stream
 *   reset (ENHANCE_YOUR_CALM); HTTP/2 has no 431 in Node. Without it Node's
 *   HTTP/2 default is 64 KiB. (The top-level `maxHeaderSize` option of
 *   http2.createServer has no effect: measured on Node 20.)
 */
export const maxHeaderBytes = 16 * 1024;

/**
 * Body size: 413 (RESOURCE_EXHAUSTED REQUEST_TOO_LARGE) at once for a
 * declared length over `maxBytes`; bodies without a declared length are
 * counted and cut off with 413 when they pass it (each protocol's reader
 * holds decompressed bytes to the same limit while it inflates). The answer
 * ends the exchange: the stream is reset, or the connection closed.
 */
export function bodyLimit(maxBytes: number): Middleware {
  const tooLarge = bodyTooLarge(maxBytes);
  const refuseUnread = (req: EdgeRequest, res: EdgeResponse, protocol: Protocol) => {
    if (!res.writableEnded) sendError(req, res, protocol, tooLarge, "stream" in req ? {} : { connection: "close" });
    endAfterAnswer(req, res);
  };
  return (next) => (req, res, route) => {
    if (declaresTooLargeBody(req, maxBytes)) return refuseUnread(req, res, route.protocol);
    watchBodySize(req, maxBytes, () => {
      // Headers already out (the gRPC relay): gRPC ends with the status in trailers, the rest are cut off.
      refuseUnread(req, res, route.protocol);
      ignoreFurtherWrites(res);
    });
    next(req, res, route);
  };
}

/** Whether the request declares a body (Content-Length) over `maxBytes`. */
function declaresTooLargeBody(req: EdgeRequest, maxBytes: number): boolean {
  const declared = req.headers["content-length"];
  return declared !== undefined && Number(declared) > maxBytes;
}

/**
 * Counts a request's body bytes as they arrive, whoever reads them, and calls
 * `exceeded` once when they pass `maxBytes` (bodies without a length:
 * chunked HTTP/1.1, HTTP/2 DATA frames). From then on the body is cut off:
 * no further byte reaches the reader and the body never ends normally, so a
 * handler can never take a truncated body for a whole one. The counter sits
 * on `push`, through which both Node servers hand body bytes to the request.
 * A body declared within the limit is not counted: it cannot run past its
 * length (Node's HTTP/1.1 parser reads exactly that many bytes; nghttp2
 * resets an HTTP/2 stream that sends more).
 */
function watchBodySize(req: EdgeRequest, maxBytes: number, exceeded: () => void): void {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) <= maxBytes) return;
  let received = 0;
  let over = false;
  const push = req.push.bind(req);
  req.push = (chunk: unknown, encoding?: BufferEncoding) => {
    if (over) return false;
    if (chunk !== null && chunk !== undefined) {
      received += (chunk as { length: number }).length;
      if (received > maxBytes) {
        over = true;
        exceeded();
        return false;
      }
    }
    return push(chunk, encoding);
  };
}

/**
 * Ends an exchange the edge answered before reading the whole body: once
 * the answer is out, an HTTP/2 stream is reset with NO_ERROR (RFC 9113
 * §8.1: the client stops sending), an HTTP/1.1 connection is closed (the
 * answer says `connection: close`), and the request is destroyed so a
 * handler still reading it sees an error.
 */
export function endAfterAnswer(req: EdgeRequest, res: EdgeResponse): void {
  const finish = () => {
    if ("stream" in req) {
      if (!req.stream.closed) req.stream.close(http2.NGHTTP2_NO_ERROR);
    }
    if (!req.destroyed) req.destroy();
  };
  // Over HTTP/2 the response's "finish" waits for the stream to close, which
  // a client still sending never lets it; the stream's own comes with the answer.
  const answer = "stream" in req ? req.stream : res;
  if (answer.writableFinished) finish();
  else answer.once("finish", finish);
}

/**
 * Makes a response ignore its handler from now on: the edge has answered,
 * and a handler that later writes (e.g. connect-node reporting the broken
 * body) must neither throw nor add to the answer.
 */
function ignoreFurtherWrites(res: EdgeResponse): void {
  const target = res as unknown as Record<string, unknown>;
  const self = function (this: unknown) {
    return this;
  };
  target.writeHead = self;
  target.setHeader = self;
  target.appendHeader = self;
  target.addTrailers = () => undefined;
  target.flushHeaders = () => undefined;
  target.write = (...args: unknown[]) => {
    (args.find((arg) => typeof arg === "function") as (() => void) | undefined)?.();
    return true;
  };
  target.end = function (this: unknown, ...args: unknown[]) {
    (args.find((arg) => typeof arg === "function") as (() => void) | undefined)?.();
    return this;
  };
}
